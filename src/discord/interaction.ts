import {
  ApplicationCommandOptionType,
  InteractionResponseType,
  InteractionType,
  MessageFlags,
  PermissionFlagsBits,
  type APIApplicationCommandInteractionDataOption,
  type APIEmbed,
  type APIInteraction,
  type APIInteractionResponse,
  type APIActionRowComponent,
  type APIComponentInMessageActionRow,
} from 'discord-api-types/v10';
import type { Deps } from '../core/deps.js';
import { AppError } from '../core/errors.js';
import type { GuildLink } from '../core/discord/guild-link.js';
import { INT4_MAX } from '../http/schemas.js';
import type { DiscordApi, MessageFile } from './discord-api.js';
import { fitContent } from './message-limits.js';

/** What a handler answers: the first response, and optionally work to do once it is sent. */
export interface HandlerResult {
  response: APIInteractionResponse;
  after?: () => Promise<void>;
}

export interface BotContext {
  deps: Deps;
  api: DiscordApi;
  /** Progress edits of a long /generate are at most this often (Discord rate limits edits). */
  progressEveryMs: number;
  /** Where Discord can fetch what the bot links (PUBLIC_URL); unset = charts are uploaded. */
  publicUrl?: string | undefined;
}

export interface InteractionContext {
  bot: BotContext;
  interaction: APIInteraction;
  user: { id: string; name: string };
  guildId: string | undefined;
  permissions: bigint;
  roles: string[];
}

export function contextFor(bot: BotContext, interaction: APIInteraction): InteractionContext {
  const user = interaction.member?.user ?? interaction.user;
  if (!user?.id) throw new AppError('VALIDATION_ERROR', 'The interaction has no user.', 400);
  // Everything but a PING carries data; without it there is nothing to route (bad input, not a fault).
  const data: unknown = (interaction as { data?: unknown }).data;
  if (interaction.type !== InteractionType.Ping && (typeof data !== 'object' || data === null)) throw new AppError('VALIDATION_ERROR', 'The interaction has no data.', 400);
  return {
    bot,
    interaction,
    user: { id: user.id, name: user.global_name ?? user.username ?? user.id },
    guildId: interaction.guild_id,
    permissions: safeBigInt(interaction.member?.permissions),
    roles: interaction.member?.roles ?? [],
  };
}

function safeBigInt(v: string | undefined): bigint {
  try {
    return v ? BigInt(v) : 0n;
  } catch {
    return 0n;
  }
}

/**
 * Whether a member's computed permissions (the `permissions` Discord sends with the member) grant
 * `flag`: Administrator grants every permission, as Discord and discord.js's
 * `PermissionsBitField.has` (checkAdmin) treat it. (Nothing loads discord.js at run time, ~30 MB
 * resident — the gateway door drives @discordjs/ws directly — so this one rule is not borrowed
 * from it.)
 */
const hasPermission = (permissions: bigint, flag: bigint) => (permissions & PermissionFlagsBits.Administrator) === PermissionFlagsBits.Administrator || (permissions & flag) === flag;

export const canManageServer = (ctx: InteractionContext) => hasPermission(ctx.permissions, PermissionFlagsBits.ManageGuild);

/** Seller commands: Manage Server, or the seller role the server was linked with. */
export function requireSeller(ctx: InteractionContext, link: GuildLink) {
  if (canManageServer(ctx) || (link.sellerRoleId !== null && ctx.roles.includes(link.sellerRoleId))) return;
  throw new AppError('FORBIDDEN', 'Only sellers can use this command (Manage Server or the seller role).', 403);
}

export function ephemeral(content: string, extra: { embeds?: APIEmbed[]; components?: APIActionRowComponent<APIComponentInMessageActionRow>[] } = {}): HandlerResult {
  return { response: { type: InteractionResponseType.ChannelMessageWithSource, data: { content: fitContent(content), flags: MessageFlags.Ephemeral, allowed_mentions: { parse: [] }, ...extra } } };
}

/** Anything that may take more than a moment acknowledges first (Discord allows 3 s). */
export function deferEphemeral(after: () => Promise<void>): HandlerResult {
  return { response: { type: InteractionResponseType.DeferredChannelMessageWithSource, data: { flags: MessageFlags.Ephemeral } }, after };
}

/** What a command answers once its work is done: text, and files an edit carries. */
export interface EphemeralAnswer {
  content: string;
  files?: MessageFile[] | undefined;
}

/**
 * How long a first answer may wait for its work. Discord takes a first answer within 3 s of the
 * interaction; the rest of the budget is the member check before the work and the network.
 */
const FIRST_ANSWER_BUDGET_MS = 1_500;

/**
 * The answer of work that is quick as a rule but has no bound (a DNS lookup, a password hash
 * waiting for a thread, a row another write holds): the answer itself when the work is done
 * within the budget, else an ephemeral deferral and the answer edited in once it is done. For
 * answers that cannot be asked for again — a secret shown once, keys just made — which a first
 * answer past Discord's 3 s would lose while the change they report stays made.
 */
export async function answerInTime(ctx: InteractionContext, work: Promise<EphemeralAnswer>, budgetMs = FIRST_ANSWER_BUDGET_MS): Promise<HandlerResult> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => (timer = setTimeout(resolve, budgetMs, null)));
  const answer = await Promise.race([work, late]).finally(() => clearTimeout(timer));
  // Files go only with an edit, so an answer carrying them is deferred however quick it was.
  if (answer && !answer.files) return ephemeral(answer.content);
  return deferEphemeral(async () => {
    const { content, files } = answer ?? (await work);
    await ctx.bot.api.editOriginal(ctx.interaction.token, { content, allowed_mentions: { parse: [] } }, files);
  });
}

/**
 * `deferEphemeral` for a button whose answer is the message it is on (an update, type 7): the
 * click is acknowledged (type 6), the message stays as it is, and `after` edits it (the
 * interaction's original message is that message).
 */
export function deferUpdate(after: () => Promise<void>): HandlerResult {
  return { response: { type: InteractionResponseType.DeferredMessageUpdate }, after };
}

type Option = APIApplicationCommandInteractionDataOption;

/** The options of a chat command, flattened through a subcommand if there is one. */
export function commandOptions(interaction: APIInteraction): { subcommand: string | null; options: Map<string, Option> } {
  const data = interaction.data as { options?: unknown } | undefined;
  let options = listOf<Option>(data?.options);
  let subcommand: string | null = null;
  const sub = options[0];
  if (sub && (sub.type === ApplicationCommandOptionType.Subcommand || sub.type === ApplicationCommandOptionType.SubcommandGroup)) {
    subcommand = sub.name;
    options = listOf<Option>((sub as { options?: unknown }).options);
  }
  return { subcommand, options: new Map(options.map((o) => [o.name, o])) };
}

/** Lists inside a payload, or none when a malformed payload has something else there. */
const listOf = <T>(v: unknown): T[] => (Array.isArray(v) ? v.filter((x): x is T => typeof x === 'object' && x !== null) : []);

export function stringOption(options: Map<string, Option>, name: string): string | undefined {
  const o = options.get(name) as { value?: unknown } | undefined;
  return typeof o?.value === 'string' ? o.value : undefined;
}

export function numberOption(options: Map<string, Option>, name: string): number | undefined {
  const o = options.get(name) as { value?: unknown } | undefined;
  if (typeof o?.value === 'number') return o.value;
  if (typeof o?.value === 'string' && /^\d+$/.test(o.value)) return Number(o.value);
  return undefined;
}

/**
 * A list's `page` option: 1 when absent, and bounded as the HTTP routes bound ids and pages (a
 * number past int4 is the last page there is, never a database error).
 */
export function pageOption(options: Map<string, Option>): number {
  return Math.min(INT4_MAX, Math.max(1, Math.trunc(numberOption(options, 'page') ?? 1)));
}

/** Snowflake options (user, role, channel) arrive as id strings. */
export const idOption = (options: Map<string, Option>, name: string) => {
  const v = stringOption(options, name);
  return v && /^\d{15,22}$/.test(v) ? v : undefined;
};

type SubmittedInput = { custom_id?: string; value?: unknown };

/** Text inputs of a submitted modal, by custom id — inside labels (current) or action rows (older). */
export function modalValues(interaction: APIInteraction): Map<string, string> {
  const data = interaction.data as { components?: unknown } | undefined;
  const out = new Map<string, string>();
  const take = (c: SubmittedInput | undefined) => {
    if (typeof c?.custom_id === 'string' && typeof c.value === 'string') out.set(c.custom_id, c.value);
  };
  for (const row of listOf<{ component?: SubmittedInput; components?: unknown }>(data?.components)) {
    take(row.component);
    for (const c of listOf<SubmittedInput>(row.components)) take(c);
  }
  return out;
}

export const discordTime = (d: Date) => `<t:${Math.floor(d.getTime() / 1000)}:F> (<t:${Math.floor(d.getTime() / 1000)}:R>)`;
