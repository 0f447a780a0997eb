import { ButtonStyle, ComponentType, InteractionResponseType, MessageFlags, type APIActionRowComponent, type APIComponentInMessageActionRow } from 'discord-api-types/v10';
import { AppError } from '../core/errors.js';
import { cancelBulkAction, confirmBulkAction, type BulkConfirmation } from '../core/jobs/bulk-license-job.js';
import { getJob } from '../core/jobs/get-job.js';
import type { SellerActor } from '../core/actor.js';
import type { BulkAction } from '../core/licenses/bulk-license-action.js';
import { encodeCustomId, type CustomId } from './custom-ids.js';
import { deferUpdate, type HandlerResult, type InteractionContext } from './interaction.js';
import { sellerSession } from './seller.js';

const INTERACTION_LIFETIME_MS = 14 * 60_000;

const n = (x: number) => x.toLocaleString('en-US');
const plural = (x: number) => `${n(x)} license${x === 1 ? '' : 's'}`;
const VERB: Record<BulkAction, { doing: string; done: string; ask: string }> = {
  ban: { doing: 'Banning', done: 'Banned', ask: 'ban' },
  delete: { doing: 'Deleting', done: 'Deleted', ask: 'delete' },
};

/** The Confirm and Cancel buttons of a pending request. */
export function bulkButtons(jobId: number, nonce: string, action: BulkAction): APIActionRowComponent<APIComponentInMessageActionRow>[] {
  const id = (answer: 'ok' | 'no') => encodeCustomId({ kind: 'bulk', answer, jobId, nonce });
  return [
    {
      type: ComponentType.ActionRow,
      components: [
        { type: ComponentType.Button, style: ButtonStyle.Danger, label: `Confirm: ${VERB[action].ask} them`, custom_id: id('ok') },
        { type: ComponentType.Button, style: ButtonStyle.Secondary, label: 'Cancel', custom_id: id('no') },
      ],
    },
  ];
}

export const bulkQuestion = (action: BulkAction, count: number, filter: string) =>
  `⚠️ This will **${VERB[action].ask}** ${plural(count)} (${filter}).${action === 'delete' ? ' Deleted keys cannot be brought back.' : ''} Confirm?`;

/** Type 7: the message the buttons are on becomes the answer (its buttons gone unless given again). */
function update(content: string, components: APIActionRowComponent<APIComponentInMessageActionRow>[] = []): HandlerResult {
  return { response: { type: InteractionResponseType.UpdateMessage, data: { content, components, allowed_mentions: { parse: [] } } } };
}

/**
 * Refusals meaning the request was answered before this click: confirmed by a first click of a
 * double click, cancelled, or dropped by a Confirm that found nothing. The message shows that
 * answer's outcome, which an edit would overwrite, so these come as a message of their own.
 */
const ANSWERED_ALREADY = new Set(['ALREADY_CONFIRMED', 'NOT_FOUND']);

/**
 * Confirm or Cancel on a pending /license bulk request. Only a seller gets this far (anyone else
 * gets an ephemeral refusal), and the core lets only the seller who asked, inside the linked
 * application, with the nonce the buttons carry; the count is checked again first. The core runs
 * a confirmation once: it locks the request and refuses one no longer pending (a second click).
 */
export async function answerBulkButton(ctx: InteractionContext, id: Extract<CustomId, { kind: 'bulk' }>): Promise<HandlerResult> {
  const { actor } = await sellerSession(ctx);
  const deps = ctx.bot.deps;
  if (id.answer === 'no') {
    await cancelBulkAction(deps, actor, id.jobId, id.nonce);
    return update('Cancelled; nothing was changed.');
  }
  // Confirming counts the matches again and changes up to a thousand licenses in one transaction:
  // past Discord's 3 s for a first answer on a large application. Acknowledge first, then edit the
  // message with the outcome (a failure is edited in by the bot).
  return deferUpdate(async () => {
    let result: BulkConfirmation;
    try {
      result = await confirmBulkAction(deps, actor, id.jobId, id.nonce);
    } catch (err) {
      if (!(err instanceof AppError && ANSWERED_ALREADY.has(err.code))) throw err;
      await ctx.bot.api.followUp(ctx.interaction.token, { content: `❌ ${err.message}`, flags: MessageFlags.Ephemeral, allowed_mentions: { parse: [] } });
      return;
    }
    await answerConfirmation(ctx, actor, id, result);
  });
}

/** The confirmation's outcome, edited into the message the buttons are on. */
async function answerConfirmation(ctx: InteractionContext, actor: SellerActor, id: { jobId: number; nonce: string }, result: BulkConfirmation): Promise<void> {
  const token = ctx.interaction.token;
  const edit = (content: string, components: APIActionRowComponent<APIComponentInMessageActionRow>[] = []) =>
    ctx.bot.api.editOriginal(token, { content, components, allowed_mentions: { parse: [] } }).then(() => {});
  const verb = VERB[result.action];
  switch (result.outcome) {
    case 'done':
      return edit(`✅ ${verb.done} ${plural(result.changed)}.`);
    case 'nothing':
      return edit('Nothing matches the filter any more; nothing was changed.');
    case 'recounted':
      return edit(
        `The filter now matches ${plural(result.count)} (it changed since you asked). ${verb.ask[0]!.toUpperCase()}${verb.ask.slice(1)} them?`,
        bulkButtons(id.jobId, result.nonce, result.action),
      );
    case 'queued': {
      // The first look at the job is at once, so its first progress edit replaces the buttons.
      const job = await followBulkJob(ctx, actor, result.jobId, (done, count, progress) => edit(`⏳ ${verb.doing} ${plural(count)} in the background… ${n(done)}/${n(count)} (${progress}%)`));
      return edit(`✅ ${verb.done} ${plural(job.generated)}.`);
    }
  }
}

/**
 * Follows a bulk job (run by any worker) through the core's job view, as GET /api/jobs/:id reads
 * it, reporting progress at most every `progressEveryMs`; answers the job once it is done.
 * Discord interaction tokens last 15 minutes, so the wait stops short of that.
 */
async function followBulkJob(ctx: InteractionContext, actor: SellerActor, jobId: number, report: (done: number, count: number, progress: number) => Promise<void>) {
  const { deps, progressEveryMs } = ctx.bot;
  const deadline = Date.now() + INTERACTION_LIFETIME_MS;
  let last = '';
  for (;;) {
    const job = await getJob(deps, actor, jobId);
    if (job.status === 'failed') throw new AppError('JOB_FAILED', `The bulk action stopped: ${job.error ?? 'unknown error'}`, 500);
    if (job.status === 'completed') return job;
    const now = `${job.generated}/${job.count}`;
    if (now !== last) {
      await report(job.generated, job.count, job.progress);
      last = now;
    }
    if (Date.now() > deadline) throw new AppError('TIMEOUT', `Still running; follow it with GET /api/jobs/${jobId}.`, 504);
    await new Promise((r) => setTimeout(r, progressEveryMs));
  }
}
