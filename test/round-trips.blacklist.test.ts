import { afterAll, beforeAll, expect, it } from 'vitest';
import { client, startHarness, type Harness } from './support/harness.js';

/** The blacklist check is held in process: a full list adds no round trip to validation. */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ countRoundTrips: true, env: { USAGE_FLUSH_MS: '60000' } });
});
afterAll(() => h?.close());

it('a validation with 10,000 blacklist entries (HWIDs, v4 and v6 ranges) still costs at most 2 round trips', async () => {
  const s = await h.seller();
  const { app, plan } = await s.setup({ settings: { rate_limit_per_minute: 0 } });
  const [key] = await s.generate(plan.id);
  await h.deps.db.query(
    `insert into blacklist_entries (application_id, type, value, network)
     select $1::int, 'hwid', 'BAD-' || i, null from generate_series(1, 4000) i
     union all select $1::int, 'ip', '10.' || (i / 256) || '.' || (i % 256) || '.0/24', ('10.' || (i / 256) || '.' || (i % 256) || '.0/24')::cidr from generate_series(0, 2999) i
     union all select $1::int, 'ip', '2001:db8:' || to_hex(i) || '::/48', ('2001:db8:' || to_hex(i) || '::/48')::cidr from generate_series(0, 2998) i`,
    [app.id],
  );
  const added = await s.call('POST', `/api/applications/${app.id}/blacklist`, { type: 'hwid', value: 'THE-10000TH' });
  expect(added.statusCode).toBe(201);

  const body = { app_id: app.app_id, license_key: key!.license_key, hwid: 'PC-0' };
  const validate = (remoteAddress: string) => h.app.inject({ method: 'POST', url: '/api/licenses/validate', payload: body, remoteAddress });
  expect((await validate('10.11.183.1')).json().code).toBe('BLACKLISTED'); // the last v4 range, 10.11.183.0/24
  expect((await validate('203.0.113.9')).json().code).toBe('VALID'); // activates; the list is loaded once
  expect((await validate('203.0.113.9')).json().code).toBe('VALID'); // warm: the statement's Describe is paid
  await h.deps.usage.flush();

  const cost = await h.roundTrips!.measure(async () => expect((await validate('203.0.113.9')).json().code).toBe('VALID'));
  expect(cost.roundTrips).toBeLessThanOrEqual(2);
  const refused = await h.roundTrips!.measure(async () => expect((await validate('2001:db8:bb6::1')).json().code).toBe('BLACKLISTED'));
  expect(refused.roundTrips).toBe(0);
  expect((await client(h, '/api/licenses/validate', { ...body, hwid: 'BAD-4000' })).json().code).toBe('BLACKLISTED');
});
