import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  ComponentType,
  InteractionType,
  type APIChatInputApplicationCommandGuildInteraction,
  type APIMessageComponentButtonInteraction,
  type APIModalSubmitGuildInteraction,
  Locale,
} from 'discord-api-types/v10';

/**
 * Interactions as Discord sends them over HTTP, for the Discord benchmark: shapes from
 * discord-api-types, a fresh snowflake id per interaction (the replay guard refuses a repeat, and
 * one outside its window), and an Ed25519 signature over timestamp + raw body made with a key
 * pair standing in for the Discord application's — as test/support/discord-interactions.ts does.
 */

const BENCH_GUILD = '900000000000000001';
const BENCH_CHANNEL = '900000000000000002';
export const BENCH_DISCORD_APPLICATION = '800000000000000001';
const DISCORD_EPOCH_MS = 1_420_070_400_000n;

export interface DiscordKeys {
  publicKeyHex: string;
  privateKey: KeyObject;
}

export function discordKeys(): DiscordKeys {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return { publicKeyHex: spki.subarray(spki.length - 32).toString('hex'), privateKey };
}

export interface BenchMember {
  id: string;
  name: string;
  /** Permission bits as Discord sends them (a decimal string); Manage Server makes a seller. */
  permissions: string;
}

export const MANAGE_GUILD = String(1n << 5n);

let sequence = 0n;
/** A snowflake made now; the low 22 bits count, so ids made in one millisecond still differ. */
function snowflake(): string {
  sequence = (sequence + 1n) & 0x3fffffn;
  return String(((BigInt(Date.now()) - DISCORD_EPOCH_MS) << 22n) | sequence);
}

function envelope(member: BenchMember) {
  const id = snowflake();
  return {
    id,
    application_id: BENCH_DISCORD_APPLICATION,
    token: `bench-token-${id}`,
    version: 1 as const,
    guild_id: BENCH_GUILD,
    channel_id: BENCH_CHANNEL,
    channel: { id: BENCH_CHANNEL, type: 0 },
    member: {
      user: { id: member.id, username: member.name, global_name: member.name, discriminator: '0', avatar: null },
      roles: [],
      permissions: member.permissions,
      joined_at: '2026-01-01T00:00:00.000Z',
      deaf: false,
      mute: false,
      flags: 0,
    },
    app_permissions: '0',
    locale: Locale.EnglishUS,
    guild_locale: Locale.EnglishUS,
    entitlements: [],
    authorizing_integration_owners: {},
    attachment_size_limit: 8 * 1024 * 1024,
  };
}

/** A chat command, with its options under a subcommand when there is one. */
export function chatCommand(member: BenchMember, name: string, options: { name: string; value: string }[] = [], subcommand?: string) {
  const typed = options.map((o) => ({ ...o, type: ApplicationCommandOptionType.String as const }));
  const payload = {
    ...envelope(member),
    type: InteractionType.ApplicationCommand,
    data: {
      id: '700000000000000001',
      name,
      type: ApplicationCommandType.ChatInput,
      guild_id: BENCH_GUILD,
      options: subcommand ? [{ name: subcommand, type: ApplicationCommandOptionType.Subcommand as const, options: typed }] : typed,
    },
  } satisfies Omit<APIChatInputApplicationCommandGuildInteraction, 'channel' | 'member' | 'entitlements'> & Record<string, unknown>;
  return payload;
}

export function buttonClick(member: BenchMember, customId: string) {
  return {
    ...envelope(member),
    type: InteractionType.MessageComponent,
    message: { id: '600000000000000001', channel_id: BENCH_CHANNEL, content: '', components: [], embeds: [], attachments: [] },
    data: { custom_id: customId, component_type: ComponentType.Button },
  } satisfies Omit<APIMessageComponentButtonInteraction, 'channel' | 'member' | 'entitlements' | 'message'> & Record<string, unknown>;
}

/** A submitted modal, its text inputs inside Label components as Discord sends them now. */
export function modalSubmit(member: BenchMember, customId: string, fields: Record<string, string>) {
  return {
    ...envelope(member),
    type: InteractionType.ModalSubmit,
    data: {
      custom_id: customId,
      components: Object.entries(fields).map(([id, value]) => ({ type: ComponentType.Label, id: 1, component: { type: ComponentType.TextInput, id: 2, custom_id: id, value } })),
    },
  } satisfies Omit<APIModalSubmitGuildInteraction, 'channel' | 'member' | 'entitlements' | 'data'> & Record<string, unknown>;
}

export interface SignedRequest {
  body: string;
  headers: Record<string, string>;
}

/** The request Discord would POST: raw JSON, signed over timestamp + body. */
export function signRequest(keys: DiscordKeys, payload: unknown): SignedRequest {
  const body = JSON.stringify(payload);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = sign(null, Buffer.from(timestamp + body), keys.privateKey).toString('hex');
  return { body, headers: { 'content-type': 'application/json', 'x-signature-ed25519': signature, 'x-signature-timestamp': timestamp } };
}

/**
 * Signed requests made ahead of a run, so the load generator spends the run sending rather than
 * signing (both sides of a comparison get requests made the same way). Past the prepared ones it
 * signs on demand and counts them, so a run longer than expected still sends valid requests.
 */
export class SignedRequestPool {
  private prepared: SignedRequest[] = [];
  private next = 0;
  signedLive = 0;

  constructor(
    private readonly keys: DiscordKeys,
    private readonly make: () => unknown,
  ) {}

  /** Signs `count` fresh requests (ids and timestamps of now), replacing what is left. */
  prepare(count: number): void {
    this.prepared = Array.from({ length: count }, () => signRequest(this.keys, this.make()));
    this.next = 0;
    this.signedLive = 0;
  }

  take(): SignedRequest {
    const ready = this.prepared[this.next];
    if (ready) {
      this.prepared[this.next++] = undefined as never; // sent once; let it go
      return ready;
    }
    this.signedLive++;
    return signRequest(this.keys, this.make());
  }
}
