/** Which page of a list a caller wants (API.md: `page` from 1, `per_page`). */
export interface PageRequest {
  page: number;
  perPage: number;
}

/** One page of a list and the list's total, for `X-Total-Count` and `Link`. */
export interface ListPage<T> {
  total: number;
  items: T[];
}

/** `LIMIT` and `OFFSET` of a page. */
export const pageWindow = (p: PageRequest) => ({ limit: p.perPage, offset: (p.page - 1) * p.perPage });

/**
 * A page of a short list (plans, webhooks, collaborators, …) and its total: the count and the
 * page's rows are two statements sent together (on two pool connections; queued on the embedded
 * database's one), so the page costs one round trip of waiting, not two.
 */
export async function readPage<R, T>(count: PromiseLike<{ n: number }[]>, rows: PromiseLike<R[]>, view: (row: R) => T): Promise<ListPage<T>> {
  const [[total], page] = await Promise.all([count, rows]);
  return { total: total?.n ?? 0, items: page.map(view) };
}
