import type { FastifyReply, FastifyRequest } from 'fastify';
import { INT4_MAX, positiveIntegerText } from './schemas.js';

export const MAX_PER_PAGE = 500;

/** Decimal digits only, like ids: `?page=0x2` or `?per_page=1e2` are 400s, not pages 2 and 100. */
export const pageQuery = {
  page: positiveIntegerText(INT4_MAX, 1),
  per_page: positiveIntegerText(MAX_PER_PAGE, 50),
};

/** Lists answer a bare array; the total and the neighbouring pages travel in headers (API.md). */
export function sendPage<T>(request: FastifyRequest, reply: FastifyReply, page: { page: number; per_page: number }, result: { total: number; items: T[] }) {
  const last = Math.max(1, Math.ceil(result.total / page.per_page));
  const url = new URL(request.url, 'http://keycord.local');
  // A token passed as ?Authorization= must not be echoed into headers that get logged and cached.
  url.searchParams.delete('Authorization');
  const link = (p: number, rel: string) => {
    url.searchParams.set('page', String(p));
    url.searchParams.set('per_page', String(page.per_page));
    return `<${url.pathname}${url.search}>; rel="${rel}"`;
  };
  const links = [link(1, 'first'), link(last, 'last')];
  if (page.page > 1) links.push(link(Math.min(page.page - 1, last), 'prev'));
  if (page.page < last) links.push(link(page.page + 1, 'next'));
  reply.header('X-Total-Count', String(result.total)).header('Link', links.join(', '));
  return result.items;
}
