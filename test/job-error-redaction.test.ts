import { DrizzleQueryError } from 'drizzle-orm/errors';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SellerActor } from '../src/core/actor.js';
import { confirmBulkAction, requestBulkAction } from '../src/core/jobs/bulk-license-job.js';
import { JOB_ERROR_MAX, jobErrorText } from '../src/core/jobs/job-error.js';
import { generateLicensesTry } from '../src/jobs/definitions/generate-licenses.js';
import { causeChain } from '../src/cause-chain.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';

/*
 * A batch that fails is rolled back, but drizzle's message for it quotes the statement and every
 * bound value, and a generation batch's values are its keys. What the seller reads of a failed job
 * (GET /api/jobs/:id, the Discord "Job failed" notice, which renders the job.finished event) must
 * say why it failed without them.
 */
let h: Harness;
beforeAll(async () => {
  // No job side: each test runs its job's last try itself, as either provider would.
  h = await startHarness({ env: { GENERATE_BATCH_SIZE: '500' } });
});
afterAll(() => h?.close());

const cleanup: string[] = [];
afterEach(async () => {
  for (const statement of cleanup.splice(0)) await h.deps.db.query(statement);
});

/** A trigger on `table` running `body` (PL/pgSQL) for rows `when` matches, dropped after the test. */
async function refuse(name: string, table: string, timing: 'insert' | 'update', when: string, body: string) {
  await h.deps.db.query(`create function ${name}() returns trigger language plpgsql as $$ begin ${body}; end $$`);
  await h.deps.db.query(`create trigger ${name} before ${timing} on ${table} for each row when (${when}) execute function ${name}()`);
  cleanup.push(`drop trigger ${name} on ${table}`, `drop function ${name}()`);
}

/** The job's last try, which fails: the error it throws (what a queue keeps) and the bound values of the failed query. */
async function lastTryFails(jobId: number) {
  const thrown = (await generateLicensesTry(h.deps, h.config.jobs, jobId, { lastTry: true, shouldPause: () => false }).catch((err: unknown) => err)) as Error;
  expect(thrown).toBeInstanceOf(Error);
  const query = causeChain(thrown).find((e): e is DrizzleQueryError => e instanceof DrizzleQueryError);
  // The raw error does carry the values: this is what must not reach the seller.
  expect(query?.message).toContain('Failed query');
  const bound = (query?.params ?? []).flatMap((p) => (typeof p === 'string' ? p.split(',') : []));
  return { thrown, bound, rawMessage: query!.message };
}

/** The job as the seller sees it, and the error of its job.finished event (the Discord notice's). */
async function seen(s: Seller, jobId: number) {
  const job = (await s.call('GET', `/api/jobs/${jobId}`)).json();
  const [event] = await h.deps.db.query<{ error: string | null }>(`select payload->'job'->>'error' as error from outbox where type = 'job.finished' and (payload->'job'->>'id')::int = $1`, [jobId]);
  return { job, noticeError: event?.error };
}

function expectNoQueryText(error: string, secrets: string[]) {
  expect(error).not.toMatch(/failed query|params|insert into|update "?licenses|\$\d/i);
  expect(error.length).toBeLessThanOrEqual(JOB_ERROR_MAX);
  for (const secret of secrets) expect(error).not.toContain(secret);
}

async function generationJob(s: Seller, notes: string) {
  const { plan } = await s.setup();
  const res = await s.call('POST', '/api/licenses/generate', { plan_id: plan.id, count: 1500, notes, format: 'custom', prefix: 'JOBERR-', custom_format: 'XXXX-XXXX-XXXX' });
  expect(res.statusCode).toBe(202);
  return res.json().job.id as number;
}

describe('the error a failed job shows the seller', () => {
  it('names the database error and its cause, and quotes none of the failed batch’s keys', async () => {
    const s = await h.seller();
    const jobId = await generationJob(s, 'disk-full');
    // The second batch is refused as a disk that filled up refuses it.
    await refuse(
      'disk_full_on_second_batch',
      'licenses',
      'insert',
      `new.notes = 'disk-full'`,
      `if (select generated from jobs where id = new.job_id) >= 500 then raise exception using errcode = 'disk_full', message = 'could not extend file "base/16384/16397": No space left on device'; end if; return new`,
    );
    const { thrown, bound, rawMessage } = await lastTryFails(jobId);
    const keys = bound.filter((v) => v.startsWith('JOBERR-'));
    expect(keys).toHaveLength(500);
    expect(rawMessage).toContain(keys[0]);

    const { job, noticeError } = await seen(s, jobId);
    expect(job).toMatchObject({ status: 'failed', count: 1500, generated: 500 });
    expect(job.error).toBe('Database error 53100: could not extend file "base/16384/16397": No space left on device');
    expectNoQueryText(job.error, keys);
    // The committed keys are not in it either, and the notice says the same.
    const committed = (await s.call('GET', `/api/jobs/${jobId}/licenses?format=txt`)).body.trim().split('\n');
    expect(committed).toHaveLength(500);
    expectNoQueryText(job.error, committed);
    expect(noticeError).toBe(job.error);
    // What a queue keeps of the failed try (BullMQ's failedReason) is the same text.
    expect(thrown.message).toBe(job.error);
  });

  it('leaves out what a database message or detail may quote: a row’s values, a trigger’s text', async () => {
    const s = await h.seller();
    // A unique violation: its message names the constraint, its detail quotes the key.
    const unique = await generationJob(s, 'unique');
    await refuse(
      'unique_with_detail',
      'licenses',
      'insert',
      `new.notes = 'unique'`,
      `raise exception using errcode = 'unique_violation', message = 'duplicate key value violates unique constraint "licenses_license_key_key"', detail = format('Key (license_key)=(%s) already exists.', new.license_key)`,
    );
    const first = await lastTryFails(unique);
    const uniqueKeys = first.bound.filter((v) => v.startsWith('JOBERR-'));
    const violation = causeChain(first.thrown).find((e) => (e as { code?: unknown }).code === '23505') as Error & { detail?: string };
    expect(violation.detail).toMatch(/^Key \(license_key\)=\(JOBERR-/);
    const uniqueJob = (await seen(s, unique)).job;
    expect(uniqueJob.error).toBe('Database error 23505: duplicate key value violates unique constraint "licenses_license_key_key"');
    expectNoQueryText(uniqueJob.error, uniqueKeys);

    // A trigger whose own message quotes the key: only its SQLSTATE is shown.
    const raised = await generationJob(s, 'raised');
    await refuse('raise_with_key', 'licenses', 'insert', `new.notes = 'raised'`, `raise exception 'refused key %', new.license_key`);
    const second = await lastTryFails(raised);
    const raisedKeys = second.bound.filter((v) => v.startsWith('JOBERR-'));
    const raisedJob = (await seen(s, raised)).job;
    expect(raisedJob.error).toBe('Database error P0001 (raised by a database function or trigger)');
    expectNoQueryText(raisedJob.error, raisedKeys);
  });

  it('of a bulk ban whose batch the database refuses, quotes none of the licenses’ keys', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const made = [...(await s.generate(plan.id, 600, { notes: 'bulk-refused' })), ...(await s.generate(plan.id, 500, { notes: 'bulk-refused' }))];
    const actor: SellerActor = { kind: 'developer', developerId: s.developerId, name: s.username, via: 'session', tokenId: 0 };
    const asked = await requestBulkAction(h.deps, actor, app.id, { action: 'ban', filters: { search: 'bulk-refused' }, reason: null });
    expect(await confirmBulkAction(h.deps, actor, asked!.jobId, asked!.nonce)).toMatchObject({ outcome: 'queued', count: 1100 });
    // The batch's license.banned events (each with its license's key) cannot be written.
    await refuse(
      'no_room_for_events',
      'outbox',
      'insert',
      `new.type = 'license.banned'`,
      `raise exception using errcode = 'program_limit_exceeded', message = 'index row size 2720 exceeds btree version 4 maximum 2704 for index "outbox_pkey"'`,
    );
    const { rawMessage } = await lastTryFails(asked!.jobId);
    const keys = made.map((l) => l.license_key);
    expect(keys.some((k) => rawMessage.includes(k))).toBe(true);

    const { job, noticeError } = await seen(s, asked!.jobId);
    expect(job).toMatchObject({ type: 'bulk_licenses', status: 'failed', generated: 0 });
    expect(job.error).toBe('Database error 54000: index row size 2720 exceeds btree version 4 maximum 2704 for index "outbox_pkey"');
    expectNoQueryText(job.error, keys);
    expect(noticeError).toBe(job.error);
  });
});

describe('jobErrorText', () => {
  const failedQuery = (cause: unknown) => new DrizzleQueryError('insert into licenses (license_key) values ($1)', ['KEY-SECRET-1'], cause as Error);

  it('is the innermost cause when it is not a database error, with credentials in quoted URLs redacted', () => {
    expect(jobErrorText(new Error('outer', { cause: new Error('the receiver said no') }))).toBe('the receiver said no');
    expect(jobErrorText(new Error('fetch failed', { cause: new Error('GET /x?license_key=KEY-SECRET-2 refused') }))).toBe('GET /x?license_key=[redacted] refused');
  });

  it('leaves out where the database or Redis lives when a connection fails', async () => {
    // As postgres.js and Node make them: the peer in `address` and `port`, and in the message.
    const lost = Object.assign(new Error('write CONNECTION_CLOSED db.internal:5432'), { code: 'CONNECTION_CLOSED', errno: 'CONNECTION_CLOSED', address: 'db.internal', port: 5432 });
    expect(jobErrorText(failedQuery(lost))).toBe('write CONNECTION_CLOSED');
    const socket = Object.assign(new Error('write CONNECTION_CLOSED /run/postgresql/.s.PGSQL.5432'), { code: 'CONNECTION_CLOSED', address: '/run/postgresql/.s.PGSQL.5432' });
    expect(jobErrorText(socket)).toBe('write CONNECTION_CLOSED');
    // A real refusal from Node: a port nothing listens on.
    const { createConnection } = await import('node:net');
    const refused = await new Promise<Error>((resolve) => createConnection({ host: '127.0.0.1', port: 1 }).on('error', resolve));
    expect(refused.message).toContain('127.0.0.1:1');
    expect(jobErrorText(new Error('Connection is closed.', { cause: refused }))).toBe('connect ECONNREFUSED');
  });

  it('never falls back to the failed query’s own message', () => {
    expect(jobErrorText(failedQuery(undefined))).toBe('Database error: the query failed');
    expect(jobErrorText('a thrown string')).toBe('Unknown error');
  });

  it('shows only the SQLSTATE of a data exception, whose message quotes the value', () => {
    const bad = Object.assign(new Error('invalid input syntax for type integer: "KEY-SECRET-3"'), { code: '22P02' });
    expect(jobErrorText(failedQuery(bad))).toBe('Database error 22P02 (data exception)');
  });

  it('is one line, bounded', () => {
    const long = jobErrorText(new Error(`first line\n${'x'.repeat(1000)}`));
    expect(long).not.toContain('\n');
    expect(long).toHaveLength(JOB_ERROR_MAX);
    expect(long.endsWith('…')).toBe(true);
  });
});
