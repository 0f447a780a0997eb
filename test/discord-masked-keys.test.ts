import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expiryNotifier } from '../src/discord/expiry-notices.js';
import { sharingAlertText } from '../src/discord/sharing-alerts.js';
import { startHarness, type Harness } from './support/harness.js';
import { CHANNEL, MANAGE_GUILD, postInteraction, slash, type KeyPair, type Member } from './support/discord-interactions.js';
import type { DiscordStub } from './support/discord-stub.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';

/**
 * Log channels are shared (API.md: keys are never posted in a public message), so their alerts
 * show a key masked. A key of a custom mask can be short: `XXXX-XXXX-XXXX` has 62 bits, past the
 * 60 that MASK_TOO_WEAK asks for, in 14 characters. Shown as its first and last four, only
 * `-EFGH-` is hidden — 4 random characters, 36⁴ ≈ 1.7 million candidates, which a reader of the
 * channel can try against the client API. A masked key must leave most of the key hidden.
 */

const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };

let linked: LinkedDiscord;
let h: Harness;
let stub: DiscordStub;
let keys: KeyPair;
let app: { id: number };
let plan: { id: number };

beforeAll(async () => {
  linked = await startLinkedDiscord({ start: (discord) => startHarness({ discord }), admin });
  ({ h, stub, keys, app, plan } = linked);
});
afterAll(() => linked?.close());

/** A key made the way a seller makes one in Discord: /generate with a custom mask. */
async function generatedWithMask(mask: string): Promise<string> {
  const payload = slash(admin, 'generate', [
    { name: 'plan', value: String(plan.id) },
    { name: 'count', value: 1 },
    { name: 'format', value: 'custom' },
    { name: 'custom_format', value: mask },
  ]);
  const res = await postInteraction(h.app, keys, payload);
  const key = /```\n(.+)\n```/.exec(res.json().data?.content ?? '')?.[1];
  expect(key, res.body).toMatch(/^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/);
  return key!;
}

/** The characters of the key a masked form (in a code span of `text`) shows. */
function shownOf(text: string): string {
  const masked = /`([^`]*…[^`]*)`/.exec(text)?.[1];
  expect(masked, text).toBeDefined();
  return masked!.replace('…', '');
}

describe('a short custom-mask key in the log channel', () => {
  let key: string;
  beforeAll(async () => {
    key = await generatedWithMask('XXXX-XXXX-XXXX');
  });

  it('is posted in an expiry notice with at most a quarter of it shown, still recognisable by its end', async () => {
    stub.clear();
    const [row] = await h.deps.db.query<{ id: number; license_key: string }>('select id, license_key from licenses where license_key = $1', [key]);
    await expiryNotifier(
      h.deps,
      h.bot!.context.api,
    )({
      type: 'license.expired',
      applicationId: app.id,
      payload: { license: { id: row!.id, license_key: key, expires_at: new Date().toISOString(), discord_user_id: null } },
    } as never);
    const [post] = stub.find('POST', new RegExp(`^/channels/${CHANNEL}/messages$`));
    const content = String(post?.json?.content);
    expect(content).toMatch(/has expired/);
    const shown = shownOf(content);
    expect(shown.length, `"${shown}" of ${key}`).toBeLessThanOrEqual(Math.floor(key.length / 4));
    expect(key.endsWith(shown)).toBe(true);
  });

  it('is shown the same way in a sharing alert', () => {
    const text = sharingAlertText('My App', {
      flagId: 1,
      licenseKey: key,
      window: { kind: 'ips_24h', start: new Date().toISOString(), end: new Date().toISOString() },
      ips: 9,
      hwidMismatches: 0,
      action: 'alert',
    });
    const shown = shownOf(text);
    expect(shown.length, `"${shown}" of ${key}`).toBeLessThanOrEqual(Math.floor(key.length / 4));
  });
});
