import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SecretBox } from '../core/crypto.js';
import { perObject } from '../core/turn-batch.js';
import { rowIdOf } from './row-id.js';

/**
 * Component and modal custom ids: a small codec, stable across restarts, so a panel posted
 * months ago still works. Snowflakes are digits; '-' stands for "none".
 */
export type CustomId =
  | { kind: 'panel'; action: 'redeem' | 'licenses' | 'reset' }
  | { kind: 'redeem-modal' }
  | { kind: 'reset-select' }
  /** A page of the reset menu (25 licenses each: Discord's limit for a select, 0 first); whoever clicks sees their own. */
  | { kind: 'reset-page'; page: number }
  /** A page of My licenses (LICENSES_PAGE_SIZE each, 0 first); whoever clicks sees their own. */
  | { kind: 'licenses-page'; page: number }
  /**
   * The /setup form, carrying the options it was opened with and their tag (setupModalTag): the
   * values bind to the server and member the bot showed the form to. `tag` is null on an id from
   * before forms were signed (`setup:<role>:<channel>`), which is refused.
   */
  | { kind: 'setup-modal'; sellerRoleId: string | null; logChannelId: string | null; tag: string | null }
  /** A key-sharing alert's buttons, naming the flag (`share:ban:<flagId>`). */
  | { kind: 'sharing'; action: SharingButton; flagId: number }
  /** Confirm or cancel a pending /license bulk request: its job id and the nonce it was recorded with (`bulk:ok:<jobId>:<nonce>`). */
  | { kind: 'bulk'; answer: 'ok' | 'no'; jobId: number; nonce: string };

const SHARING_BUTTONS = ['ban', 'reset', 'ignore'] as const;
export type SharingButton = (typeof SHARING_BUTTONS)[number];
const isSharingButton = (v: string | undefined): v is SharingButton => SHARING_BUTTONS.includes(v as SharingButton);

const SNOWFLAKE = /^\d{15,22}$/;

/** Who the bot showed a /setup form to, and what the form carries. */
interface SetupFormAudience {
  guildId: string;
  userId: string;
}
type SetupFormValues = { sellerRoleId: string | null; logChannelId: string | null };

/** Bytes of HMAC-SHA256 a tag keeps, in base64url 22 characters: the longest setup id is 74 of Discord's 100. */
const SETUP_TAG_BYTES = 16;
const SETUP_TAG = /^[A-Za-z0-9_-]{22}$/;

const setupKeyOf = perObject((box: SecretBox) => box.derive('discord-setup-modal', 'setup-modal-id-v1'));

const setupTagBytes = (box: SecretBox, shownTo: SetupFormAudience, values: SetupFormValues) =>
  createHmac('sha256', setupKeyOf(box))
    .update([shownTo.guildId, shownTo.userId, values.sellerRoleId ?? '-', values.logChannelId ?? '-'].join(':'))
    .digest()
    .subarray(0, SETUP_TAG_BYTES);

/**
 * The tag of a /setup form: an HMAC (a key derived from KEYCORD_SECRET for this one purpose) over
 * the server and member it is shown to and the role and channel it carries. Discord hands a
 * modal's custom id back as the client sends it, so only a tag the bot made shows the values are
 * the ones Discord resolved in that server for that member.
 */
export const setupModalTag = (box: SecretBox, shownTo: SetupFormAudience, values: SetupFormValues) => setupTagBytes(box, shownTo, values).toString('base64url');

/** Whether a submitted /setup form carries the tag the bot made for this server and member (compared in constant time). */
export function setupModalTagValid(box: SecretBox, submittedBy: SetupFormAudience, id: Extract<CustomId, { kind: 'setup-modal' }>): boolean {
  if (id.tag === null) return false;
  const presented = Buffer.from(id.tag, 'base64url');
  const expected = setupTagBytes(box, submittedBy, id);
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

/** A setup id's role or channel: a snowflake, null for '-' (none), undefined for anything else (no setup id). */
const setupField = (v: string | undefined): string | null | undefined => (v === '-' ? null : v !== undefined && SNOWFLAKE.test(v) ? v : undefined);

export function encodeCustomId(id: CustomId): string {
  switch (id.kind) {
    case 'panel':
      return `lic:${id.action}`;
    case 'redeem-modal':
      return 'lic:redeem-modal';
    case 'reset-select':
      return 'lic:reset-select';
    case 'reset-page':
      return `lic:reset-page:${id.page}`;
    case 'licenses-page':
      return `lic:licenses-page:${id.page}`;
    case 'setup-modal':
      return `setup:${id.sellerRoleId ?? '-'}:${id.logChannelId ?? '-'}${id.tag === null ? '' : `:${id.tag}`}`;
    case 'sharing':
      return `share:${id.action}:${id.flagId}`;
    case 'bulk':
      return `bulk:${id.answer}:${id.jobId}:${id.nonce}`;
  }
}

export function decodeCustomId(raw: unknown): CustomId | null {
  if (typeof raw !== 'string') return null;
  const [scope, a, b] = raw.split(':');
  if (scope === 'lic') {
    if (a === 'redeem' || a === 'licenses' || a === 'reset') return { kind: 'panel', action: a };
    if (a === 'redeem-modal') return { kind: 'redeem-modal' };
    if (a === 'reset-select') return { kind: 'reset-select' };
    if (a === 'reset-page' && b !== undefined && /^\d{1,6}$/.test(b) && raw.split(':').length === 3) return { kind: 'reset-page', page: Number(b) };
    if (a === 'licenses-page' && b !== undefined && /^\d{1,6}$/.test(b) && raw.split(':').length === 3) return { kind: 'licenses-page', page: Number(b) };
  }
  if (scope === 'share' && isSharingButton(a)) {
    // A forged id past int4 is no id at all.
    const flagId = rowIdOf(b);
    if (flagId !== null && raw.split(':').length === 3) return { kind: 'sharing', action: a, flagId };
  }
  if (scope === 'bulk') {
    const [, answer, jobId, nonce, ...rest] = raw.split(':');
    // A nonce is 12 random bytes in base64url; anything else (or more parts) is no bulk id.
    if ((answer === 'ok' || answer === 'no') && rowIdOf(jobId) !== null && nonce && /^[A-Za-z0-9_-]{16}$/.test(nonce) && rest.length === 0) {
      return { kind: 'bulk', answer, jobId: rowIdOf(jobId)!, nonce };
    }
  }
  if (scope === 'setup') {
    const [, , , tag, ...rest] = raw.split(':');
    const sellerRoleId = setupField(a);
    const logChannelId = setupField(b);
    if (sellerRoleId !== undefined && logChannelId !== undefined && rest.length === 0 && (tag === undefined || SETUP_TAG.test(tag))) {
      return { kind: 'setup-modal', sellerRoleId, logChannelId, tag: tag ?? null };
    }
  }
  return null;
}
