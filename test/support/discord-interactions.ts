import { generateKeyPairSync, sign } from 'node:crypto';
import { InteractionType, ApplicationCommandOptionType, ComponentType } from 'discord-api-types/v10';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { expect } from 'vitest';
import { SecretBox } from '../../src/core/crypto.js';
import { encodeCustomId, setupModalTag } from '../../src/discord/custom-ids.js';
import { TEST_SECRET } from './harness.js';

/** A test Ed25519 key pair standing in for the Discord application's. */
export function discordKeyPair() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return { publicKeyHex: spki.subarray(spki.length - 32).toString('hex'), privateKey };
}

export type KeyPair = ReturnType<typeof discordKeyPair>;

/** An interaction request exactly as Discord sends it: raw JSON, signed over timestamp + body. */
export function signedInteraction(keys: KeyPair, payload: unknown, opts: { timestamp?: number; tamper?: boolean; rawBody?: string } = {}): InjectOptions {
  const body = opts.rawBody ?? JSON.stringify(payload);
  const timestamp = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  const signature = sign(null, Buffer.from(timestamp + body), keys.privateKey).toString('hex');
  return {
    method: 'POST',
    url: '/discord/interactions',
    headers: { 'content-type': 'application/json', 'x-signature-ed25519': signature, 'x-signature-timestamp': timestamp },
    payload: opts.tamper ? body.replace(/.$/, ' }') : body,
  };
}

export function postInteraction(app: FastifyInstance, keys: KeyPair, payload: unknown, opts: { timestamp?: number; tamper?: boolean; rawBody?: string } = {}) {
  return app.inject(signedInteraction(keys, payload, opts));
}

export const GUILD = '900000000000000001';
export const CHANNEL = '900000000000000002';
export const MANAGE_GUILD = String(1n << 5n);

let seq = 0;

/** A fresh Discord id made at `at` (default now), as Discord makes interaction ids; unique per call. */
export function snowflake(at = Date.now()): string {
  seq++;
  return String((BigInt(at - 1_420_070_400_000) << 22n) | BigInt(seq % 4096));
}

export interface Member {
  id: string;
  name: string;
  permissions?: string;
  roles?: string[];
}

function base(member: Member, type: InteractionType, data: unknown) {
  const id = snowflake();
  return {
    id,
    application_id: '800000000000000001',
    type,
    token: `itoken-${id}`,
    version: 1,
    guild_id: GUILD,
    channel: { id: CHANNEL, type: 0 },
    channel_id: CHANNEL,
    member: {
      user: { id: member.id, username: member.name, global_name: member.name, discriminator: '0', avatar: null },
      roles: member.roles ?? [],
      permissions: member.permissions ?? '0',
      joined_at: '2026-01-01T00:00:00Z',
      deaf: false,
      mute: false,
      flags: 0,
    },
    app_permissions: '0',
    locale: 'en-US',
    guild_locale: 'en-US',
    entitlements: [],
    authorizing_integration_owners: {},
    data,
  };
}

type Opt = { name: string; value: string | number };
export function slash(member: Member, name: string, options: Opt[] = [], subcommand?: string) {
  const typed = options.map((o) => ({ ...o, type: typeof o.value === 'number' ? ApplicationCommandOptionType.Integer : ApplicationCommandOptionType.String }));
  const data = { id: '700000000000000001', name, type: 1, options: subcommand ? [{ name: subcommand, type: ApplicationCommandOptionType.Subcommand, options: typed }] : typed };
  return base(member, InteractionType.ApplicationCommand, data);
}

export function autocomplete(member: Member, name: string, focused: string, value: string) {
  return base(member, InteractionType.ApplicationCommandAutocomplete, {
    id: '700000000000000001',
    name,
    type: 1,
    options: [{ name: focused, type: ApplicationCommandOptionType.String, value, focused: true }],
  });
}

export function button(member: Member, customId: string) {
  return base(member, InteractionType.MessageComponent, { custom_id: customId, component_type: ComponentType.Button });
}

export function select(member: Member, customId: string, values: string[]) {
  return base(member, InteractionType.MessageComponent, { custom_id: customId, component_type: ComponentType.StringSelect, values });
}

/** A submitted modal, with text inputs inside Label components as Discord sends them now. */
export function modal(member: Member, customId: string, fields: Record<string, string>) {
  return base(member, InteractionType.ModalSubmit, {
    custom_id: customId,
    components: Object.entries(fields).map(([id, value]) => ({ type: ComponentType.Label, id: 1, component: { type: ComponentType.TextInput, id: 2, custom_id: id, value } })),
  });
}

const testBox = new SecretBox(TEST_SECRET);

/**
 * The custom id of the /setup form the bot shows `member` in `guildId` (GUILD unless named), tagged
 * as the bot tags it under the harness's KEYCORD_SECRET.
 */
export function setupFormId(member: Member, opts: { guildId?: string; sellerRoleId?: string | null; logChannelId?: string | null } = {}): string {
  const values = { sellerRoleId: opts.sellerRoleId ?? null, logChannelId: opts.logChannelId ?? null };
  return encodeCustomId({ kind: 'setup-modal', ...values, tag: setupModalTag(testBox, { guildId: opts.guildId ?? GUILD, userId: member.id }, values) });
}

/** The /setup form submitted by `member` in `guildId` (GUILD unless named), as the bot showed it there with these options. */
export function setupForm(member: Member, fields: Record<string, string>, opts: { guildId?: string; sellerRoleId?: string | null; logChannelId?: string | null } = {}) {
  return { ...modal(member, setupFormId(member, opts), fields), guild_id: opts.guildId ?? GUILD };
}

/** /setup as a server admin would: an API key of the seller typed into the setup modal. */
export async function linkServer(
  app: FastifyInstance,
  keys: KeyPair,
  seller: { call: (m: 'POST', url: string, body: unknown) => Promise<{ json: () => any }> },
  admin: Member,
  appId: string,
  logChannel = CHANNEL,
) {
  const apiKey = (await seller.call('POST', '/api/auth/api-keys', { name: 'discord' })).json().key as string;
  const res = await postInteraction(app, keys, setupForm(admin, { app_id: appId, api_key: apiKey }, { logChannelId: logChannel }));
  if (!String(res.json().data?.content).includes('now linked')) throw new Error(`linking failed: ${res.body}`);
  return apiKey;
}

/** Sends a signed interaction that must be answered 200, and returns the answer. */
export async function sendInteraction(app: FastifyInstance, keys: KeyPair, payload: unknown) {
  const res = await postInteraction(app, keys, payload);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

/** Sends a signed interaction whose answer must be an ephemeral message; returns its text. */
export async function ephemeralText(app: FastifyInstance, keys: KeyPair, payload: unknown): Promise<string> {
  const body = await sendInteraction(app, keys, payload);
  expect(body.type, JSON.stringify(body)).toBe(4);
  expect(body.data.flags).toBe(64);
  return body.data.content as string;
}
