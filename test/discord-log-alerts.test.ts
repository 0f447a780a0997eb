import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/core/clock.js';
import { EVENT_TYPES, INTERNAL_EVENT_TYPES } from '../src/core/events/emit-event.js';
import type { SellerActor } from '../src/core/actor.js';
import { confirmBulkAction, requestBulkAction } from '../src/core/jobs/bulk-license-job.js';
import { failGenerationJob } from '../src/core/jobs/run-generation-job.js';
import { attemptDelivery } from '../src/core/webhooks/deliver-webhooks.js';
import { jobFinishedText, shortWebhookUrl, webhookFailingText } from '../src/discord/log-alerts.js';
import { deliverWebhookTry } from '../src/jobs/definitions/deliver-webhook.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import type { DiscordStub } from './support/discord-stub.js';
import { startLinkedDiscord, type LinkedDiscord } from './support/linked-discord.js';
import { CHANNEL, MANAGE_GUILD, type Member } from './support/discord-interactions.js';
import { startReceiver } from './support/receiver.js';
import { waitFor } from './support/wait.js';

const HOUR = 3_600_000;
// Interaction signatures are checked against real time; the alerts' hour is this clock's.
const clock = fixedClock(new Date(Math.floor(Date.now() / 1000) * 1000));
const admin: Member = { id: '100000000000000001', name: 'Admin', permissions: MANAGE_GUILD };

let linked: LinkedDiscord;
let h: Harness;
let stub: DiscordStub;
let seller: Seller;
let app: { id: number };
let plan: { id: number; name: string };
let failing: Awaited<ReturnType<typeof startReceiver>>;
let healthy: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  failing = await startReceiver(() => 500);
  healthy = await startReceiver(() => 200);
  linked = await startLinkedDiscord({
    // Retries ten minutes apart: no scheduled retry runs during the file; the test gives up on deliveries itself.
    start: (discord) => startHarness({ clock, jobs: 'local', discord, env: { WEBHOOK_RETRY_BASE_MS: '600000' } }),
    admin,
    setup: { plan: { name: 'Monthly *Pro*', duration_days: 30 } },
  });
  ({ h, stub, seller, app, plan } = linked);
});
afterAll(async () => {
  await linked?.close();
  await failing?.close();
  await healthy?.close();
});

const logPosts = () => stub.find('POST', new RegExp(`^/channels/${CHANNEL}/messages$`));
const postStarting = (prefix: string) => waitFor(() => logPosts().find((c) => String(c.json?.content).startsWith(prefix)), 15_000, `a log post starting ${prefix}`);
const eventTypesReceived = (rx: Awaited<ReturnType<typeof startReceiver>>) => rx.received.map((r) => String(r.headers['x-keycord-event']));
const internalRows = async (type: string) =>
  h.deps.db.query<{ id: string; payload: Record<string, unknown>; dispatched: boolean }>('select id, payload, dispatched_at is not null as dispatched from outbox where type = $1 order by id', [type]);

async function finishedJob(jobId: number) {
  return waitFor(
    async () => {
      const job = (await seller.call('GET', `/api/jobs/${jobId}`)).json();
      return job.status === 'completed' || job.status === 'failed' ? job : undefined;
    },
    30_000,
    `job ${jobId}`,
  );
}

describe('log-channel alerts for jobs', () => {
  it('a generation job that completes posts its count and plan to the log channel, with no mentions and no keys', async () => {
    const res = await seller.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1500 });
    expect(res.statusCode).toBe(202);
    const { job } = res.json();
    expect(await finishedJob(job.id)).toMatchObject({ status: 'completed', generated: 1500 });
    const post = await postStarting(`✅ Job #${job.id}:`);
    expect(post.json.content).toBe(`✅ Job #${job.id}: 1,500 keys generated for plan Monthly \\*Pro\\*`);
    expect(post.json.allowed_mentions).toEqual({ parse: [] });
    const [row] = (await internalRows('job.finished')).filter((r) => (r.payload.job as { id: number }).id === job.id);
    expect(row!.payload).toEqual({
      job: { id: job.id, type: 'generate_licenses', status: 'completed', count: 1500, generated: 1500, error: null, action: null, plan: { id: plan.id, name: plan.name } },
    });
    await waitFor(async () => (await internalRows('job.finished')).every((r) => r.dispatched), 15_000, 'job.finished dispatched');
  });

  it('a job the worker gives up on posts its failure', async () => {
    const [row] = await h.deps.db.query<{ id: number }>(
      `insert into jobs (application_id, type, status, count, generated, params, actor) values ($1, 'generate_licenses', 'running', 3000, 1000, $2::jsonb, '{}'::jsonb) returning id`,
      [app.id, JSON.stringify({ plan_id: plan.id, spec: {}, notes: null, discord_user_id: null })],
    );
    await failGenerationJob(h.deps, row!.id, 'connection reset by the `database`\nwhile inserting');
    const post = await postStarting(`⛔ Job #${row!.id} failed`);
    expect(post.json.content).toBe(`⛔ Job #${row!.id} failed: connection reset by the \\\`database\\\` while inserting`);
    // Failed once: failing it again (another worker's last try) changes nothing and alerts nobody.
    await failGenerationJob(h.deps, row!.id, 'again');
    expect((await internalRows('job.finished')).filter((r) => (r.payload.job as { id: number }).id === row!.id)).toHaveLength(1);
  });

  it('a confirmed bulk ban posts how many licenses it banned', async () => {
    await seller.generate(plan.id, 2, { notes: 'bulk-alert' });
    const actor: SellerActor = { kind: 'developer', developerId: seller.developerId, name: seller.username, via: 'session', tokenId: 0 };
    const asked = await requestBulkAction(h.deps, actor, app.id, { action: 'ban', filters: { search: 'bulk-alert' }, reason: null });
    expect(await confirmBulkAction(h.deps, actor, asked!.jobId, asked!.nonce)).toMatchObject({ outcome: 'done', changed: 2 });
    const post = await postStarting(`✅ Job #${asked!.jobId}:`);
    expect(post.json.content).toBe(`✅ Job #${asked!.jobId}: 2 licenses banned`);
  });

  it('words bulk jobs and failures as the log channel shows them', () => {
    const base = { type: 'bulk_licenses' as const, status: 'completed' as const, count: 1200, generated: 1200, error: null, plan: null };
    expect(jobFinishedText({ ...base, id: 13, action: 'ban' })).toBe('✅ Job #13: 1,200 licenses banned');
    expect(jobFinishedText({ ...base, id: 14, action: 'delete', generated: 1 })).toBe('✅ Job #14: 1 license deleted');
    expect(jobFinishedText({ ...base, id: 15, action: 'ban', status: 'failed', error: 'The seller who asked may no longer change these licenses; stopped after 250' })).toBe(
      '⛔ Job #15 failed: The seller who asked may no longer change these licenses; stopped after 250',
    );
  });
});

describe('log-channel alerts for webhooks failing for good', () => {
  let hook: { id: number; secret: string };
  let url: string;

  beforeAll(async () => {
    url = `${failing.url}/in/path?token=sekret-token`;
    const made = await seller.call('POST', `/api/applications/${app.id}/webhooks`, { url, events: [...EVENT_TYPES] });
    expect(made.statusCode).toBe(201);
    hook = made.json();
    expect((await seller.call('POST', `/api/applications/${app.id}/webhooks`, { url: healthy.url, events: [...EVENT_TYPES] })).statusCode).toBe(201);
  });

  /** Bans a fresh key and waits for its delivery to the failing receiver (first attempt failed): the delivery's id. */
  async function failedOnce(): Promise<number> {
    const [lic] = await seller.generate(plan.id);
    expect((await seller.call('POST', `/api/licenses/${lic!.id}/ban`, { reason: 'chargeback' })).statusCode).toBe(200);
    // The dispatch's first attempt, recorded.
    const d = await waitFor(
      async () =>
        (
          await h.deps.db.query<{ id: string; status: string }>(
            `select d.id, d.status from webhook_deliveries d join outbox o on o.id = d.event_id
             where d.webhook_id = $1 and o.type = 'license.banned' and (o.payload->'license'->>'id')::int = $2 and d.attempts = 1`,
            [hook.id, lic!.id],
          )
        )[0],
      15_000,
      'the first attempt',
    );
    expect(d).toMatchObject({ status: 'pending' });
    return Number(d!.id);
  }

  /** The delivery's last retry, as the worker runs it: still 500, so it is marked failed. */
  const lastTry = async (deliveryId: number) => {
    expect(await deliverWebhookTry(h.deps, deliveryId, { lastTry: true })).toBe('retry');
    const [d] = await h.deps.db.query<{ status: string; attempts: number }>('select status, attempts from webhook_deliveries where id = $1', [deliveryId]);
    expect(d).toMatchObject({ status: 'failed', attempts: 2 });
  };
  const webhookAlerts = () => logPosts().filter((c) => String(c.json?.content).startsWith(`⚠️ Webhook #${hook.id} `));

  it('posts one alert naming the webhook by origin and path (never its query or secret), the event and the last status', async () => {
    const first = await failedOnce();
    await lastTry(first);
    const [post] = await waitFor(() => webhookAlerts().length > 0 && webhookAlerts(), 15_000, 'the webhook alert');
    const shown = `${new URL(failing.url).origin}/hook/in/path`;
    expect(post!.json.content).toBe(`⚠️ Webhook #${hook.id} (<${shown}>) is failing: delivery of license.banned gave up after 2 attempts (last HTTP 500). Check /webhook deliveries.`);
    expect(post!.json.allowed_mentions).toEqual({ parse: [] });
    expect(post!.json.content).not.toContain('sekret');
    const rows = (await internalRows('webhook.failing')).filter((r) => (r.payload.webhook as { id: number }).id === hook.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.payload).toEqual({ webhook: { id: hook.id, url }, delivery: { id: first, event_type: 'license.banned' }, attempts: 2, last_status_code: 500 });
    expect(JSON.stringify(rows[0]!.payload)).not.toContain(hook.secret);
  });

  it('does not alert again within the hour however many more deliveries fail; an hour later it does', async () => {
    for (let i = 0; i < 2; i++) await lastTry(await failedOnce());
    expect((await internalRows('webhook.failing')).filter((r) => (r.payload.webhook as { id: number }).id === hook.id)).toHaveLength(1);
    // An hour later, two deliveries giving up at once (two workers) raise one alert between them.
    const both = [await failedOnce(), await failedOnce()];
    clock.advance(HOUR);
    await Promise.all(both.map(lastTry));
    await waitFor(() => webhookAlerts().length === 2, 15_000, 'the second alert, an hour later');
    expect((await internalRows('webhook.failing')).filter((r) => (r.payload.webhook as { id: number }).id === hook.id)).toHaveLength(2);
  });

  it('raises no alert for a delivery dropped because its webhook was paused', async () => {
    clock.advance(HOUR);
    const pending = await failedOnce();
    expect((await seller.call('PUT', `/api/webhooks/${hook.id}`, { active: false })).statusCode).toBe(200);
    try {
      expect(await attemptDelivery(h.deps, pending)).toBe('dropped');
      const [d] = await h.deps.db.query<{ status: string }>('select status from webhook_deliveries where id = $1', [pending]);
      expect(d!.status).toBe('failed');
      expect((await internalRows('webhook.failing')).filter((r) => (r.payload.webhook as { id: number }).id === hook.id)).toHaveLength(2);
    } finally {
      expect((await seller.call('PUT', `/api/webhooks/${hook.id}`, { active: true })).statusCode).toBe(200);
    }
  });

  it('internal events reach no webhook, even one subscribed to every event type, and are marked dispatched', async () => {
    await waitFor(
      async () => {
        const rows = [...(await internalRows('job.finished')), ...(await internalRows('webhook.failing'))];
        return rows.length > 0 && rows.every((r) => r.dispatched);
      },
      15_000,
      'internal events dispatched',
    );
    for (const rx of [failing, healthy]) {
      const types = eventTypesReceived(rx);
      expect(types).toContain('license.banned');
      for (const internal of INTERNAL_EVENT_TYPES) expect(types).not.toContain(internal);
    }
    const [deliveries] = await h.deps.db.query<{ n: number }>(`select count(*)::int as n from webhook_deliveries where event_type = any($1::text[])`, [[...INTERNAL_EVENT_TYPES]]);
    expect(deliveries!.n).toBe(0);
    // Nor can a webhook subscribe to one.
    const refused = await seller.call('POST', `/api/applications/${app.id}/webhooks`, { url: healthy.url, events: ['job.finished'] });
    expect(refused.statusCode).toBe(400);
  });
});

describe('the webhook alert text', () => {
  it('shows origin and path only, bounded, and says when no HTTP answer came', () => {
    expect(shortWebhookUrl('https://hooks.example.com/a/b?token=x#frag')).toBe('https://hooks.example.com/a/b');
    expect(shortWebhookUrl(`https://h.example/${'p'.repeat(200)}`)).toHaveLength('https://h.example'.length + 60);
    expect(shortWebhookUrl('not a url')).toBe('an invalid URL');
    expect(webhookFailingText({ webhookId: 3, url: 'https://user:pw@h.example/x?k=1', eventType: 'license.banned', attempts: 19, lastStatusCode: null })).toBe(
      '⚠️ Webhook #3 (<https://h.example/x>) is failing: delivery of license.banned gave up after 19 attempts (no HTTP answer). Check /webhook deliveries.',
    );
  });
});
