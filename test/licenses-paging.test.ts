import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type Seller } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

/** `<url>; rel="next", …` → { next: url } */
function links(res: LightMyRequestResponse): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of String(res.headers.link ?? '').split(',')) {
    const m = /<([^>]+)>;\s*rel="(\w+)"/.exec(part.trim());
    if (m) out[m[2]!] = m[1]!;
  }
  return out;
}

const idsOf = (res: LightMyRequestResponse) => res.json().map((l: { id: number }) => l.id) as number[];

async function storedCount(applicationId: number) {
  const [row] = await h.deps.db.query<{ n: number }>('select count(*)::int as n from licenses where application_id = $1', [applicationId]);
  return row!.n;
}

async function appWithKeys(count: number) {
  const s = await h.seller();
  const { app, plan } = await s.setup();
  const ids = (await s.generate(plan.id, count)).map((l) => l.id).sort((a, b) => b - a);
  return { s, app, plan, ids, url: `/api/applications/${app.id}/licenses` };
}

async function get(s: Seller, url: string) {
  const res = await s.call('GET', url);
  expect(res.statusCode, res.body).toBe(200);
  return res;
}

describe('walking license lists by keyset', () => {
  it('sees every license once and in order while keys are added and deleted between pages', async () => {
    const { s, plan, app, ids, url } = await appWithKeys(12);
    const first = await get(s, `${url}?per_page=5`);
    expect(idsOf(first)).toEqual(ids.slice(0, 5));
    const seen = idsOf(first);
    let cursor = first.headers['x-next-cursor'] as string;
    expect(cursor).toBeTruthy();

    // Between pages: a seen key goes (a page number would now skip a row), one not yet seen goes,
    // and new keys arrive at the top, where the walk has already been.
    await s.call('DELETE', `/api/licenses/${ids[1]}`);
    await s.call('DELETE', `/api/licenses/${ids[7]}`);
    await s.generate(plan.id, 3);

    let pages = 1;
    while (cursor) {
      const res = await get(s, `${url}?per_page=5&cursor=${cursor}`);
      expect(res.json().length).toBeLessThanOrEqual(5);
      expect(res.headers['x-total-count']).toBe(String(await storedCount(app.id)));
      seen.push(...idsOf(res));
      cursor = res.headers['x-next-cursor'] as string;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(ids.filter((id) => id !== ids[7]));
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('follows Link rel="next" through a cursor walk to the end, honouring per_page', async () => {
    const { s, ids, url } = await appWithKeys(7);
    const first = await get(s, `${url}?per_page=3`);
    // Page-number requests keep the page-number links of API.md.
    const firstNext = new URL(links(first).next!, 'http://x');
    expect(Object.fromEntries(firstNext.searchParams)).toEqual({ page: '2', per_page: '3' });
    const seen = idsOf(first);
    let next: string | undefined = `${url}?per_page=3&cursor=${first.headers['x-next-cursor']}`;
    const sizes = [seen.length];
    let page = 1;
    while (next) {
      const res = await get(s, next);
      page++;
      sizes.push(res.json().length);
      seen.push(...idsOf(res));
      const l = links(res);
      expect(new URL(l.first!, 'http://x').searchParams.get('cursor')).toBeNull();
      expect(new URL(l.last!, 'http://x').searchParams.get('page')).toBe('3');
      if (l.next) expect(new URL(l.next, 'http://x').searchParams.get('page')).toBe(String(page + 1));
      next = l.next;
    }
    expect(sizes).toEqual([3, 3, 1]);
    expect(seen).toEqual(ids);
  });

  it('gives the same rows for every page number as the keyset walk, near pages and far ones alike', async () => {
    // Pages past the middle are read from the oldest end: they must still be the same pages.
    const { s, url } = await appWithKeys(11);
    const walked: { ids: number[]; cursor: unknown }[] = [];
    let res = await get(s, `${url}?per_page=2`);
    walked.push({ ids: idsOf(res), cursor: res.headers['x-next-cursor'] });
    while (res.headers['x-next-cursor']) {
      res = await get(s, `${url}?per_page=2&cursor=${res.headers['x-next-cursor']}`);
      walked.push({ ids: idsOf(res), cursor: res.headers['x-next-cursor'] });
    }
    expect(walked.map((w) => w.ids.length)).toEqual([2, 2, 2, 2, 2, 1]);
    for (const [i, w] of walked.entries()) {
      const byNumber = await get(s, `${url}?per_page=2&page=${i + 1}`);
      expect(idsOf(byNumber), `page ${i + 1}`).toEqual(w.ids);
      expect(byNumber.headers['x-next-cursor'], `page ${i + 1}`).toBe(w.cursor);
      expect(byNumber.headers['x-total-count']).toBe('11');
    }
    expect((await get(s, `${url}?per_page=2&page=7`)).json()).toEqual([]);
  });

  it('keeps X-Total-Count exact per application through generation, deletes and filters', async () => {
    const a = await appWithKeys(4);
    const other = await a.s.call('POST', '/api/applications', { name: 'Other' });
    const otherPlan = await a.s.call('POST', '/api/plans/', { application_id: other.json().id, name: 'Weekly', duration_days: 7 });
    await a.s.generate(otherPlan.json().id, 2);
    const total = async (query = '') => (await get(a.s, `${a.url}?per_page=1${query}`)).headers['x-total-count'];

    expect(await total()).toBe('4');
    await a.s.call('DELETE', `/api/licenses/${a.ids[0]}`);
    expect(await total()).toBe('3');
    await a.s.call('POST', `/api/licenses/${a.ids[1]}/ban`, { reason: 'test' });
    expect(await total()).toBe('3');
    expect(await total('&status=banned')).toBe('1');
    expect((await get(a.s, '/api/licenses/mine?per_page=1')).headers['x-total-count']).toBe('5');

    // A plan deleted with its keys takes them out of the count too.
    const spare = await a.s.call('POST', '/api/plans/', { application_id: a.app.id, name: 'Spare', duration_days: 1 });
    await a.s.generate(spare.json().id, 5);
    expect(await total()).toBe('8');
    expect((await a.s.call('DELETE', `/api/plans/${spare.json().id}?force=true`)).statusCode).toBe(200);
    expect(await total()).toBe(String(await storedCount(a.app.id)));
    expect(await total()).toBe('3');
  });

  it('answers 400 to a cursor it did not give, and never shows another application through one', async () => {
    const { s, url } = await appWithKeys(3);
    for (const bad of ['nope', Buffer.from('1.x').toString('base64url'), Buffer.from('0.5').toString('base64url'), 'A'.repeat(65)]) {
      const res = await s.call('GET', `${url}?cursor=${bad}`);
      expect(res.statusCode, bad).toBe(400);
      expect(res.json().code).toBe('VALIDATION_ERROR');
    }
    const rival = await appWithKeys(2);
    // A cursor past every id of the rival's keys still lists only this application's.
    const far = Buffer.from(`2.${2 ** 31}`).toString('base64url');
    const res = await get(s, `${url}?cursor=${far}`);
    expect(idsOf(res).some((id) => rival.ids.includes(id))).toBe(false);
    expect(res.json()).toHaveLength(3);
  });
});

describe('walking the logs by keyset', () => {
  it('pages the audit log newest first and keeps the first count for the walk', async () => {
    const { s, app, ids } = await appWithKeys(3);
    for (const id of ids) await s.call('PUT', `/api/licenses/${id}/notes`, { notes: `note ${id}` });
    const url = `/api/applications/${app.id}/logs?type=audit&per_page=2`;
    const all = await get(s, `/api/applications/${app.id}/logs?type=audit&per_page=500`);
    const expected = idsOf(all);
    expect(expected.length).toBeGreaterThanOrEqual(5);

    const first = await get(s, url);
    const seen = idsOf(first);
    let cursor = first.headers['x-next-cursor'] as string;
    await s.call('PUT', `/api/licenses/${ids[0]}/notes`, { notes: 'later' }); // lands at the top, behind the walk
    while (cursor) {
      const res = await get(s, `${url}&cursor=${cursor}`);
      expect(res.headers['x-total-count']).toBe(String(expected.length));
      seen.push(...idsOf(res));
      cursor = res.headers['x-next-cursor'] as string;
    }
    expect(seen).toEqual(expected);
    expect((await get(s, url)).headers['x-total-count']).toBe(String(expected.length + 1));
  });
});
