import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logAlerter, shortWebhookUrl } from '../src/discord/log-alerts.js';
import { startHarness, type Harness } from './support/harness.js';
import { CHANNEL, MANAGE_GUILD, type Member } from './support/discord-interactions.js';
import type { DiscordStub } from './support/discord-stub.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';

/**
 * A webhook that gives up is announced in the log channel (a shared channel) with its URL,
 * without the query string, which may hold a token. Receivers that take any JSON — Make, n8n,
 * Slack and Discord incoming webhooks, IFTTT — carry their secret in the path instead: whoever
 * reads the URL can post to the seller's automation as if Keycord had. The alert must not show it.
 */

const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };

let linked: LinkedDiscord;
let h: Harness;
let stub: DiscordStub;
let app: { id: number };

beforeAll(async () => {
  linked = await startLinkedDiscord({ start: (discord) => startHarness({ discord }), admin });
  ({ h, stub, app } = linked);
});
afterAll(() => linked?.close());

/** Receiver URLs whose path holds their credential, and that credential. */
const RECEIVERS = [
  { url: 'https://hook.eu1.make.com/k3v9q2x7m1p8w4z6t0r5y2u8i1o3e7a9', secret: 'k3v9q2x7m1p8w4z6t0r5y2u8i1o3e7a9' },
  { url: 'https://n8n.example.com/webhook/3f2b8c1e-9d47-4a61-b0e5-7c2d9f8a1b34', secret: '3f2b8c1e-9d47-4a61-b0e5-7c2d9f8a1b34' },
  { url: 'https://hooks.slack.com/services/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', secret: 'q8R2s9T3u0V4w1X5y6Z7a8B9' },
  { url: 'https://maker.ifttt.com/trigger/license/with/key/dQ8x2Lm4Rt7Yz1Kp3Vn6Wb', secret: 'dQ8x2Lm4Rt7Yz1Kp3Vn6Wb' },
  { url: 'https://discord.com/api/webhooks/1234567890123456789/Ab3dEf6hIj9kLm2nOp5qRs8t', secret: 'Ab3dEf6hIj9kLm2nOp5qRs' },
];

describe('a failing webhook whose URL carries its credential in the path', () => {
  it('is announced in the log channel without the credential, still naming the receiver', async () => {
    const post = logAlerter(h.deps, h.bot!.context.api);
    for (const [i, r] of RECEIVERS.entries()) {
      stub.clear();
      await post({
        type: 'webhook.failing',
        applicationId: app.id,
        payload: { webhook: { id: i + 1, url: r.url }, delivery: { id: 1, event_type: 'license.banned' }, attempts: 19, last_status_code: 400 },
      } as never);
      const [alert] = stub.find('POST', new RegExp(`^/channels/${CHANNEL}/messages$`));
      const content = String(alert?.json?.content);
      expect(content).toMatch(new RegExp(`^⚠️ Webhook #${i + 1} \\(<${new URL(r.url).origin.replaceAll('.', '\\.')}/`));
      expect(content, content).not.toContain(r.secret);
    }
  });

  it('keeps a path of plain words as it is', () => {
    expect(shortWebhookUrl('https://api.example.com/keycord/events?token=x')).toBe('https://api.example.com/keycord/events');
  });
});
