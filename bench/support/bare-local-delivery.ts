/**
 * The bare baseline of the `local` job provider's webhook delivery (bench/webhooks.ts): an
 * in-process loop doing the same work from the database with the same libraries and nothing else.
 * Every poll interval (as OUTBOX_POLL_MS) it takes up to 200 committed rows of its own outbox table
 * in one statement (FOR UPDATE SKIP LOCKED, marked taken where read, as the local provider claims
 * Keycord's outbox), POSTs each one's body signed as Keycord signs it over an undici keep-alive
 * pool, at the same concurrency, and records each delivery in one statement. A full batch means
 * more wait: the next pass runs at once, as the local provider does.
 */
import postgres from 'postgres';
import { bareSignedPoster } from './bare-signed-post.js';

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
  const poster = bareSignedPoster(opts.receiverUrl, opts.secret);

  const deliver = async (row: { id: string; body: string }) => {
    const statusCode = await poster.post(row.body, `bare-local-${row.id}`);
    await sql`insert into bare_deliveries (event_id, status_code, delivered_at) values (${row.id}, ${statusCode}, now()) on conflict do nothing`;
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
      await poster.close();
      await sql.end({ timeout: 5 });
    },
  };
}
