import { DrizzleQueryError } from 'drizzle-orm/errors';
import { sqlStateOf } from '../../db/sql-state.js';
import { causeChain } from '../../cause-chain.js';
import { redactText } from '../../log.js';

/** Longest `error` a job keeps: GET /api/jobs/:id shows it whole, the Discord notice up to 300 characters. */
export const JOB_ERROR_MAX = 300;

/**
 * SQLSTATE classes whose messages Postgres writes from names alone (a constraint, a relation, a
 * column, a file) and never from the values of a row: connection (08), integrity constraint (23,
 * whose values are in `detail`, which is never shown), transaction state (25), rollback (40),
 * resources (53), program limits (54), object state (55), operator intervention (57), system (58).
 * Any other class may quote a value — 22P02 quotes the text it could not read, and a trigger's
 * RAISE (P0001) says whatever it was written to — so only its code is shown.
 */
const MESSAGE_CLASSES = new Set(['08', '23', '25', '40', '53', '54', '55', '57', '58']);

/** Postgres's names for the classes whose messages are not shown, so the code alone still says something. */
const CLASS_NAMES: Record<string, string> = {
  '22': 'data exception',
  '42': 'syntax error or access rule violation',
  P0: 'raised by a database function or trigger',
  XX: 'internal error',
};

const oneLine = (text: string) => {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > JOB_ERROR_MAX ? `${line.slice(0, JOB_ERROR_MAX - 1)}…` : line;
};

/**
 * What a failed job's `error` says, for the seller (GET /api/jobs/:id, the Discord "Job failed"
 * notice): the root cause, never the failed query. Drizzle's own message quotes the statement and
 * every bound value (`Failed query: insert …\nparams: …`), and a batch's values are its license
 * keys; the driver's `detail` quotes the row. So a database error is its SQLSTATE with Postgres's
 * message where that cannot carry a value, and any other error is its innermost cause's message,
 * with credentials in quoted URLs and the address of a failed connection left out. One line, at most JOB_ERROR_MAX characters.
 */
export function jobErrorText(err: unknown): string {
  const chain = causeChain(err);
  const sqlState = sqlStateOf(err);
  if (sqlState) {
    const dbError = chain.find((e) => (e as { code?: unknown }).code === sqlState);
    const cls = sqlState.slice(0, 2);
    if (dbError && MESSAGE_CLASSES.has(cls)) return oneLine(`Database error ${sqlState}: ${dbError.message}`);
    return oneLine(`Database error ${sqlState}${CLASS_NAMES[cls] ? ` (${CLASS_NAMES[cls]})` : ''}`);
  }
  const root = chain.at(-1);
  if (!root) return 'Unknown error';
  if (root instanceof DrizzleQueryError) return 'Database error: the query failed';
  return oneLine(redactText(withoutAddress(root))) || root.name;
}

/**
 * A connection error's message without the address it names. Node's socket errors and
 * postgres.js's connection errors carry the peer in `address` (and `port`) and quote it in the
 * message ("connect ECONNREFUSED 10.0.3.7:6379", "write CONNECTION_CLOSED db.internal:5432"):
 * where the operator's database and Redis live is not the seller's to read. The code stays.
 */
function withoutAddress(err: Error): string {
  const { address, port } = err as { address?: unknown; port?: unknown };
  if (typeof address !== 'string' || address === '') return err.message;
  const peers = [port === undefined ? '' : `${address}:${String(port)}`, `[${address}]`, address].filter(Boolean);
  let message = err.message;
  for (const peer of peers) message = message.replaceAll(peer, '');
  return message.replace(/\s+/g, ' ').trim();
}
