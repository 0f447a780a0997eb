import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { INT4_MAX, positiveIntegerText } from './schemas.js';

const MAX_PER_PAGE = 500;

/** Decimal digits only, like ids: `?page=0x2` or `?per_page=1e2` are 400s, not pages 2 and 100. */
export const pageQuery = {
  page: positiveIntegerText(INT4_MAX, 1),
  per_page: positiveIntegerText(MAX_PER_PAGE, 50),
};

/** The query of a list that pages by number only. */
export const pageOnlyQuery = z.object(pageQuery);

/** API.md's `page`/`per_page` as the core's page request. */
export const pageRequestOf = (q: { page: number; per_page: number }) => ({ page: q.page, perPage: q.per_page });

/**
 * Where a keyset page starts: the page number it stands for (for the Link header), the last id
 * of the page before, and for append-only lists the total counted on the walk's first page.
 * Clients treat it as opaque: they get it from `X-Next-Cursor`.
 */
export interface Cursor {
  page: number;
  afterId: number;
  total?: number | undefined;
}

const encodeCursor = (c: Cursor) => Buffer.from([c.page, c.afterId, ...(c.total === undefined ? [] : [c.total])].join('.')).toString('base64url');

function decodeCursor(text: string): Cursor | null {
  const m = /^([1-9][0-9]{0,9})\.([1-9][0-9]{0,15})(?:\.(0|[1-9][0-9]{0,15}))?$/.exec(Buffer.from(text, 'base64url').toString('latin1'));
  if (!m) return null;
  const cursor = { page: Number(m[1]), afterId: Number(m[2]), total: m[3] === undefined ? undefined : Number(m[3]) };
  const safe = Number.isSafeInteger(cursor.afterId) && (cursor.total === undefined || Number.isSafeInteger(cursor.total));
  return cursor.page <= INT4_MAX && safe ? cursor : null;
}

/** `?cursor=` of the lists that can be walked by keyset (licenses, logs); the rest page by number only. */
export const cursorQuery = {
  cursor: z
    .string()
    .max(64)
    .transform((text, ctx) => decodeCursor(text) ?? (ctx.addIssue({ code: 'custom', message: 'not a cursor this API gave (X-Next-Cursor)' }), z.NEVER))
    .optional(),
};

/** Lists answer a bare array; the total and the neighbouring pages travel in headers (API.md). */
export function sendPage<T>(request: FastifyRequest, reply: FastifyReply, page: { page: number; per_page: number }, result: { total: number; items: T[] }, keyset?: { next: string | null }) {
  const last = Math.max(1, Math.ceil(result.total / page.per_page));
  const url = new URL(request.url, 'http://keycord.local');
  // A token passed as ?Authorization= must not be echoed into headers that get logged and cached.
  url.searchParams.delete('Authorization');
  const link = (p: number, rel: string, cursor?: string) => {
    url.searchParams.set('page', String(p));
    url.searchParams.set('per_page', String(page.per_page));
    if (cursor) url.searchParams.set('cursor', cursor);
    else url.searchParams.delete('cursor');
    return `<${url.pathname}${url.search}>; rel="${rel}"`;
  };
  const links = [link(1, 'first'), link(last, 'last')];
  if (page.page > 1) links.push(link(Math.min(page.page - 1, last), 'prev'));
  // Walking by keyset, next is where the keyset goes on, if anywhere; by number, the next number.
  if (keyset ? keyset.next !== null : page.page < last) links.push(link(page.page + 1, 'next', keyset?.next ?? undefined));
  reply.header('X-Total-Count', String(result.total)).header('Link', links.join(', '));
  return result.items;
}

/**
 * `sendPage` for a list that can also be walked by keyset. `X-Next-Cursor` says where the next
 * page starts (absent on the last one); `?cursor=<it>` continues from there, so rows inserted or
 * deleted meanwhile do not shift the pages (no row repeats, and none committed before the walk
 * began is skipped), and a far page costs what the first does. A row is placed by its id, taken
 * when it was inserted, not when its transaction committed: one committed during the walk in a
 * place the walk has passed (a long transaction's early rows) is not in it. A request that came
 * with a cursor gets its Link next with the following cursor too; page-number requests get exactly
 * the page-number links API.md describes. `carryTotal`: the next cursor carries this page's total,
 * for lists whose count is the costly part and that mostly grow at the top, where a keyset walk
 * never goes (logs: the total is the count when the walk began). A cursor is not signed: one
 * altered by hand moves the caller's own walk and headers, and reaches nothing a page number does not.
 */
export function sendKeysetPage<T extends { id: number }>(
  request: FastifyRequest,
  reply: FastifyReply,
  page: { page: number; per_page: number; cursor?: Cursor | undefined },
  result: { total: number; items: T[]; more: boolean },
  opts: { carryTotal?: boolean } = {},
) {
  const lastItem = result.items.at(-1);
  const next = result.more && lastItem ? encodeCursor({ page: page.page + 1, afterId: lastItem.id, total: opts.carryTotal ? result.total : undefined }) : null;
  if (next) reply.header('X-Next-Cursor', next);
  return sendPage(request, reply, page, result, page.cursor ? { next } : undefined);
}

/** The page a request stands for: its cursor's, when it came with one. */
export const pageOfRequest = (q: { page: number; per_page: number; cursor?: Cursor | undefined }) => ({
  page: q.cursor?.page ?? q.page,
  per_page: q.per_page,
  cursor: q.cursor,
});
