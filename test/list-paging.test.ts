import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, startHarness, type Harness, type Seller } from './support/harness.js';

/**
 * Every list pages the same way (API.md): `page`, `per_page`, `X-Total-Count` and `Link` — here
 * the short lists that once answered everything at once. Each gets three entries and is read two
 * at a time.
 */
let h: Harness;
let owner: Seller;
let app: { id: number; app_id: string };
let licenseId: number;

beforeAll(async () => {
  h = await startHarness();
  owner = await h.seller('owner');
  let plan: { id: number };
  ({ app, plan } = await owner.setup());
  // Three of each list's entries (the setup made one application and one plan).
  for (const name of ['Second', 'Third']) {
    expect((await owner.call('POST', '/api/applications', { name })).statusCode).toBe(201);
    expect((await owner.call('POST', '/api/plans/', { application_id: app.id, name, duration_days: 7 })).statusCode).toBe(201);
  }
  for (const name of ['ci', 'laptop', 'server']) expect((await owner.call('POST', '/api/auth/api-keys', { name })).statusCode).toBe(201);
  // The owner is a member; two collaborators make three.
  for (const role of ['admin', 'viewer']) {
    const member = await h.seller(role);
    expect((await owner.call('POST', `/api/applications/${app.id}/collaborators`, { login: member.username, role })).statusCode).toBe(201);
  }
  for (const n of [1, 2, 3]) {
    expect((await owner.call('POST', `/api/applications/${app.id}/webhooks`, { url: `http://127.0.0.1:9/hook-${n}`, events: ['license.banned'] })).statusCode).toBe(201);
  }
  const [lic] = await owner.generate(plan.id);
  licenseId = lic!.id;
  // A license has one user account at most: its list is read one per page.
  const res = await client(h, '/api/user-auth/create', { app_id: app.app_id, license_key: lic!.license_key, username: 'user_1', password: 'password number 1', hwid: 'PC-1' });
  expect(res.statusCode, res.body).toBeLessThan(300);
});
afterAll(() => h?.close());

const lists = () => [
  { name: 'applications', url: '/api/applications', total: 3 },
  { name: 'plans', url: `/api/applications/${app.id}/plans`, total: 3 },
  { name: 'collaborators', url: `/api/applications/${app.id}/collaborators`, total: 3 },
  { name: 'API keys', url: '/api/auth/api-keys', total: 3 },
  { name: 'license users', url: `/api/licenses/${licenseId}/users`, total: 1 },
  { name: 'webhooks', url: `/api/applications/${app.id}/webhooks`, total: 3 },
];

const idOf = (item: Record<string, unknown>) => JSON.stringify(item.id ?? item.developer_id ?? item);

describe('short lists page like every list', () => {
  it.each([0, 1, 2, 3, 4, 5])('list %i: pages with its total and links, nothing repeated or skipped', async (i) => {
    const { name, url, total } = lists()[i]!;
    // Two per page for the lists of three (pages of 2 and 1), one per page for the list of one.
    const perPage = total === 1 ? 1 : 2;
    const first = await owner.call('GET', `${url}?per_page=${perPage}`);
    expect(first.statusCode, `${name}: ${first.body}`).toBe(200);
    expect(first.headers['x-total-count'], name).toBe(String(total));
    expect(first.json(), name).toHaveLength(perPage);
    const link = String(first.headers.link);
    expect(link, name).toContain(`per_page=${perPage}`);
    expect(link, name).toContain('rel="first"');
    const pages = [first.json()];
    if (total > perPage) {
      expect(link, name).toContain('rel="next"');
      const second = await owner.call('GET', `${url}?per_page=${perPage}&page=2`);
      expect(second.headers['x-total-count'], name).toBe(String(total));
      expect(second.json(), name).toHaveLength(total - perPage);
      expect(String(second.headers.link), name).not.toContain('rel="next"');
      pages.push(second.json());
    } else expect(link, name).not.toContain('rel="next"');

    const all = await owner.call('GET', url);
    const paged = pages.flat().map(idOf);
    expect(paged, name).toEqual(all.json().map(idOf));
    expect(new Set(paged).size, name).toBe(total);

    expect((await owner.call('GET', `${url}?page=3&per_page=${perPage}`)).json(), name).toEqual([]);
  });

  it.each([0, 1, 2, 3, 4, 5])('list %i: answers 400 to a page or per_page that is not one', async (i) => {
    const { name, url } = lists()[i]!;
    for (const q of ['per_page=0', 'per_page=501', 'page=0', 'page=x', 'per_page=1e2']) {
      const res = await owner.call('GET', `${url}?${q}`);
      expect(res.statusCode, `${name} ?${q}`).toBe(400);
      expect(res.json().code, `${name} ?${q}`).toBe('VALIDATION_ERROR');
    }
  });
});
