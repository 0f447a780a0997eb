/**
 * The bare baseline of the `local` job provider's webhook delivery (bench/webhooks.ts): an
 * in-process loop doing the same work from the database with the same libraries and nothing else.
 * Every poll interval (as OUTBOX_POLL_MS) it takes up to 200 committed rows of its own outbox table
 * in one statement (FOR UPDATE SKIP LOCKED, marked taken where read, as the local provider claims
 * Keycord's outbox), POSTs each one's body signed as Keycord signs it over an undici keep-alive
 * pool, at the same concurrency, and records each delivery in one statement. A full batch means
 * more wait: the next pass runs at once, as the local provider does.
 */
import { createHmac } from 'node:crypto';
import postgres from 'postgres';
import { Pool } from 'undici';

const CLAIM_BATCH = 200;

export interface BareLocalDelivery {
  /** Adds `bodies` to its outbox in one statement (committed when it returns). */
  enqueue(bodies: string[]): Promise<void>;
  close(): Promise<void>;
}

export async function startBareLocalDelivery(opts: { databaseUrl: string; receiverUrl: string; secret: string; concurrency: number; pollMs: number; poolSize: number }): Promise<BareLocalDelivery> {
  const sql = postgres(opts.databaseUrl, { max: opts.poolSize, prepare: true, onnotice: () => {} });
  await sql`create table if not exists bare_outbox (id bigserial primary key, body text not null, taken_at timestamptz)`;
  await sql`create table if not exists bare_deliveries (event_id bigint primary key, status_code int not null, delivered_at timestamptz not null)`;
  const receiver = new URL(opts.receiverUrl);
  const pool = new Pool(receiver.origin, { connections: 64, keepAliveTimeout: 4_000, headersTimeout: 10_000, bodyTimeout: 10_000 });

  const deliver = async (row: { id: string; body: string }) => {
    const t = Math.floor(Date.now() / 1000);
    const v1 = createHmac('sha256', opts.secret).update(`${t}.${row.body}`).digest('hex');
    const res = await pool.request({
      method: 'POST',
      path: receiver.pathname,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'bare-webhooks/1',
        'X-Keycord-Event': 'license.banned',
        'X-Keycord-Delivery': `bare-local-${row.id}`,
        'X-Keycord-Signature': `t=${t},v1=${v1}`,
      },
      body: row.body,
    });
    await res.body.text();
    await sql`insert into bare_deliveries (event_id, status_code, delivered_at) values (${row.id}, ${res.statusCode}, now()) on conflict do nothing`;
  };

  const pass = async (): Promise<boolean> => {
    const rows = await sql<{ id: string; body: string }[]>`update bare_outbox set taken_at = now()
      where id in (select id from bare_outbox where taken_at is null order by id limit ${CLAIM_BATCH} for update skip locked)
      returning id, body`;
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(opts.concurrency, rows.length) }, async () => {
        while (next < rows.length) await deliver(rows[next++]!);
      }),
    );
    return rows.length === CLAIM_BATCH;
  };

  let running = true;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (running) {
      const more = await pass().catch((err: Error) => {
        console.error(`bare local delivery: ${err.message}`);
        return false;
      });
      if (!more && running) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, opts.pollMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  })();

  return {
    enqueue: async (bodies) => {
      await sql`insert into bare_outbox (body) select unnest(${sql.array(bodies)}::text[])`;
    },
    close: async () => {
      running = false;
      wake?.();
      await loop;
      await pool.close();
      await sql.end({ timeout: 5 });
    },
  };
}
