import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { startKeycord } from '../../src/start-keycord.js';
import { chatCommand, MANAGE_GUILD, modalSubmit, signRequest, type BenchMember, type DiscordKeys } from './signed-interactions.js';

export const BENCH_SELLER: BenchMember = { id: '100000000000000001', name: 'Seller', permissions: MANAGE_GUILD };
export const BENCH_CUSTOMER: BenchMember = { id: '100000000000000009', name: 'Customer', permissions: '0' };

export interface LinkedServer {
  appName: string;
  licenseKeys: string[];
  /** Keys the customer redeemed in Discord ("My licenses" lists them). */
  ownedKeys: string[];
}

/**
 * Seeds through the real doors (not SQL), so the data has exactly the shape production writes:
 * a developer, an application with a 30-day plan and `licenses` keys made by the HTTP API, the
 * test server linked to it by /setup with an API key, and `owned` keys redeemed by a customer.
 * Runs its own Keycord (no jobs) on the bench database and closes it.
 */
export async function seedLinkedServer(env: Record<string, string>, keys: DiscordKeys, opts: { licenses: number; owned: number }): Promise<LinkedServer> {
  const keycord = await startKeycord(loadConfig({ ...process.env, ...env }), { role: 'api', jobs: 'none' });
  try {
    const app = keycord.app!;
    let token = '';
    const call = async (method: 'POST', url: string, body: object) => {
      const res = await app.inject({ method, url, payload: body, headers: token ? { authorization: `Bearer ${token}` } : {} });
      if (res.statusCode >= 300) throw new Error(`${method} ${url} → ${res.statusCode}: ${res.body}`);
      return res.json();
    };
    token = (await call('POST', '/api/auth/register', { email: 'bench@example.test', username: 'bench', password: 'correct horse battery' })).token;
    const application = await call('POST', '/api/applications', { name: 'Bench App' });
    const plan = await call('POST', '/api/plans/', { application_id: application.id, name: 'Monthly', duration_days: 30 });
    const licenseKeys: string[] = [];
    for (let made = 0; made < opts.licenses; made += 1000) {
      const { licenses } = await call('POST', '/api/licenses/generate', { plan_id: plan.id, count: Math.min(1000, opts.licenses - made), format: 'random' });
      licenseKeys.push(...licenses.map((l: { license_key: string }) => l.license_key));
    }
    const apiKey = (await call('POST', '/api/auth/api-keys', { name: 'discord' })).key as string;
    // /setup opens the form (its id is tagged for this seller in this server), which is then submitted.
    const setupForm = String((await answer(app, keys, chatCommand(BENCH_SELLER, 'setup'))).data?.custom_id);
    const linked = await interact(app, keys, modalSubmit(BENCH_SELLER, setupForm, { app_id: application.app_id, api_key: apiKey }));
    if (!linked.includes('now linked')) throw new Error(`linking the server failed: ${linked}`);
    const ownedKeys = licenseKeys.slice(-opts.owned);
    for (const key of ownedKeys) {
      const redeemed = await interact(app, keys, modalSubmit(BENCH_CUSTOMER, 'lic:redeem-modal', { license_key: key }));
      if (!redeemed.includes('Redeemed')) throw new Error(`redeeming a key failed: ${redeemed}`);
    }
    return { appName: application.name, licenseKeys: licenseKeys.slice(0, -opts.owned), ownedKeys };
  } finally {
    await keycord.close();
  }
}

/** Sends a signed interaction through `app.inject`; answers the interaction response. */
async function answer(app: FastifyInstance, keys: DiscordKeys, payload: unknown): Promise<{ data?: { content?: string; custom_id?: string } }> {
  const { body, headers } = signRequest(keys, payload);
  const res = await app.inject({ method: 'POST', url: '/discord/interactions', headers, payload: body });
  if (res.statusCode !== 200) throw new Error(`interaction answered ${res.statusCode}: ${res.body}`);
  return res.json();
}

/** Sends a signed interaction through `app.inject`; answers the reply's message text. */
async function interact(app: FastifyInstance, keys: DiscordKeys, payload: unknown): Promise<string> {
  return String((await answer(app, keys, payload)).data?.content ?? '');
}
