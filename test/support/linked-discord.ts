import type { AppView, Harness, PlanView, Seller } from './harness.js';
import { discordKeyPair, linkServer, type KeyPair, type Member } from './discord-interactions.js';
import { startDiscordStub, type DiscordStub } from './discord-stub.js';

export interface LinkedDiscord {
  h: Harness;
  stub: DiscordStub;
  keys: KeyPair;
  seller: Seller;
  app: AppView;
  plan: PlanView;
  close(): Promise<void>;
}

/**
 * Keycord with its bot in HTTP interactions mode against a local Discord stand-in, and a seller
 * whose application (with one plan) an admin has linked to the test server with /setup.
 * `start` builds the harness from the bot's settings (startHarness, or a job provider's).
 */
export async function startLinkedDiscord(opts: {
  start: (discord: { publicKeyHex: string; apiUrl: string }) => Promise<Harness>;
  admin: Member;
  stub?: Parameters<typeof startDiscordStub>[0];
  setup?: Parameters<Seller['setup']>[0];
}): Promise<LinkedDiscord> {
  const stub = await startDiscordStub(opts.stub);
  const keys = discordKeyPair();
  const h = await opts.start({ publicKeyHex: keys.publicKeyHex, apiUrl: stub.apiUrl });
  const seller = await h.seller();
  const { app, plan } = await seller.setup(opts.setup);
  await linkServer(h.app, keys, seller, opts.admin, app.app_id);
  return {
    h,
    stub,
    keys,
    seller,
    app,
    plan,
    close: async () => {
      await h.close();
      await stub.close();
    },
  };
}
