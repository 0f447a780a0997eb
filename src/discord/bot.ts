import { randomUUID } from 'node:crypto';
import { InteractionResponseType, InteractionType, type APIInteraction } from 'discord-api-types/v10';
import { commandsByName } from '../../commands/index.js';
import { AppError } from '../core/errors.js';
import { findUnstorable } from '../core/storable-text.js';
import { settleWithin } from '../settle-within.js';
import { decodeCustomId } from './custom-ids.js';
import { showMyLicenses, showRedeemModal, showResetMenu, submitRedeem, submitReset } from './customer-flows.js';
import { contextFor, ephemeral, type BotContext, type HandlerResult, type InteractionContext } from './interaction.js';
import { answerBulkButton } from './license-bulk.js';
import { submitSetup } from './setup-flow.js';
import { answerSharingButton } from './sharing-alerts.js';

const NO_CHOICES: HandlerResult = { response: { type: InteractionResponseType.ApplicationCommandAutocompleteResult, data: { choices: [] } } };

/**
 * The one set of handlers both doors (gateway and HTTP interactions) drive. `handle` never
 * throws: a refusal or bad input is an ephemeral message, anything unexpected an ephemeral
 * message with a reference id while the detail goes to the log.
 */
export class DiscordBot {
  private readonly pending = new Set<Promise<void>>();

  constructor(readonly context: BotContext) {}

  async handle(interaction: APIInteraction): Promise<HandlerResult> {
    if (interaction?.type === InteractionType.Ping) return { response: { type: InteractionResponseType.Pong } };
    // Typed text (options, modal fields) Postgres cannot store is bad input, refused before any
    // handler: in a query it failed as a fault, and with it every read batched in the same turn (other servers' too).
    if (interaction && 'data' in interaction && findUnstorable(interaction.data, 'data') !== null) {
      if (interaction.type === InteractionType.ApplicationCommandAutocomplete) return NO_CHOICES;
      return ephemeral('❌ That input has a character that cannot be stored (a NUL character or an unpaired surrogate). Type it again without it.');
    }
    try {
      const ctx = contextFor(this.context, interaction);
      return await this.route(ctx);
    } catch (err) {
      if (interaction?.type === InteractionType.ApplicationCommandAutocomplete) return NO_CHOICES;
      return ephemeral(this.describe(err, interaction));
    }
  }

  /** Runs a handler's follow-up work once its first response is out; failures edit the reply. */
  runAfter(result: HandlerResult, token: string): void {
    if (!result.after) return;
    const task = result
      .after()
      .catch(async (err) => {
        await this.context.api.editOriginal(token, { content: this.describe(err) }).catch((e: Error) => this.context.deps.log.warn({ err: e.message }, 'could not report a failed follow-up'));
      })
      .finally(() => this.pending.delete(task));
    this.pending.add(task);
  }

  /**
   * Resolves once every follow-up in flight is done (tests), or once `withinMs` has passed (a stop:
   * a follow-up waiting on Discord — an upload it does not answer, a long rate limit — would hold
   * the stop past its grace). Returns how many were still running.
   */
  async idle(withinMs?: number): Promise<number> {
    const deadline = withinMs === undefined ? undefined : Date.now() + withinMs;
    while (this.pending.size) {
      const all = Promise.allSettled([...this.pending]);
      if (deadline === undefined) {
        await all;
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      await settleWithin(all, left, undefined);
    }
    return this.pending.size;
  }

  private async route(ctx: InteractionContext): Promise<HandlerResult> {
    const { interaction } = ctx;
    switch (interaction.type) {
      case InteractionType.ApplicationCommand: {
        const command = commandsByName.get(interaction.data.name);
        if (!command) return ephemeral('❌ Unknown command. It may have been removed; ask an admin to redeploy the commands.');
        return command.execute(ctx);
      }
      case InteractionType.ApplicationCommandAutocomplete: {
        const command = commandsByName.get(interaction.data.name);
        const focused = findFocused(interaction.data.options ?? []);
        const choices = command?.autocomplete && focused ? await command.autocomplete(ctx, focused) : [];
        return { response: { type: InteractionResponseType.ApplicationCommandAutocompleteResult, data: { choices } } };
      }
      case InteractionType.MessageComponent: {
        const id = decodeCustomId(interaction.data.custom_id);
        if (id?.kind === 'panel') {
          if (id.action === 'redeem') return showRedeemModal();
          if (id.action === 'licenses') return showMyLicenses(ctx);
          return showResetMenu(ctx);
        }
        if (id?.kind === 'reset-select') return submitReset(ctx);
        if (id?.kind === 'reset-page') return showResetMenu(ctx, id.page);
        if (id?.kind === 'licenses-page') return showMyLicenses(ctx, id.page);
        if (id?.kind === 'sharing') return answerSharingButton(ctx, id);
        if (id?.kind === 'bulk') return answerBulkButton(ctx, id);
        return ephemeral('❌ This button is no longer supported.');
      }
      case InteractionType.ModalSubmit: {
        const id = decodeCustomId(interaction.data.custom_id);
        if (id?.kind === 'setup-modal') return submitSetup(ctx, id);
        if (id?.kind === 'redeem-modal') return submitRedeem(ctx);
        return ephemeral('❌ This form is no longer supported.');
      }
      default:
        return ephemeral('❌ Unsupported interaction.');
    }
  }

  private describe(err: unknown, interaction?: APIInteraction): string {
    if (err instanceof AppError) return `❌ ${err.message}`;
    const ref = randomUUID().slice(0, 8);
    this.context.deps.log.error({ err, ref, interaction: interaction?.id, type: interaction?.type }, 'discord interaction failed');
    return `❌ Something went wrong (reference ${ref}). The team can look it up in the logs.`;
  }
}

type OptionLike = { name: string; value?: unknown; focused?: boolean; options?: OptionLike[] };
function findFocused(options: OptionLike[]): { name: string; value: string } | null {
  for (const o of options) {
    if (o.focused) return { name: o.name, value: String(o.value ?? '') };
    const inner = findFocused(o.options ?? []);
    if (inner) return inner;
  }
  return null;
}
