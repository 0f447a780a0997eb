import { sql, type AnyColumn, type SQL, type Table } from 'drizzle-orm';

/** Which rows of a newest-first list a page holds: `size` of them after skipping `offset`. */
export interface PageWindow {
  offset: number;
  size: number;
}

/**
 * The ids of one page of a list, newest first, plus one more to tell whether a page follows:
 * `select id … order by id desc limit n offset m` over the list's (application_id, id) index.
 * With the list's exact `total` known, a page past the middle is read from the oldest end
 * instead, so no page skips more than half the list (the last page costs what the first does);
 * the page is then exact, with no extra row, and `more` comes from the total.
 *
 * The limit is written into the text, not sent as a parameter: every statement is prepared, and
 * the generic plan of a parameterised LIMIT assumes a large share of the table — it then joined
 * the page's rows by scanning the whole table. Written in, the planner knows the page is small
 * and fetches its rows by primary key. It has at most 501 values per direction (per_page), so the
 * prepared statements stay few; the offset stays a parameter.
 */
export function pageIdsQuery(id: AnyColumn, where: SQL | undefined, page: PageWindow, total?: number): { ids: SQL; more?: boolean } {
  const table = id.table as Table;
  const select = (order: SQL, limit: number, offset: number) =>
    // Parenthesised: it goes straight into `id in (…)`.
    sql`(select ${id} from ${table} where ${where ?? sql`true`} order by ${id} ${order} limit ${sql.raw(String(Math.max(0, Math.trunc(limit))))} offset ${offset})`;
  if (total === undefined || page.offset <= total / 2) return { ids: select(sql`desc`, page.size + 1, page.offset) };
  const fromOldest = total - page.offset - page.size;
  return { ids: select(sql`asc`, page.size + Math.min(0, fromOldest), Math.max(0, fromOldest)), more: page.offset + page.size < total };
}
