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
  | { kind: 'setup-modal'; sellerRoleId: string | null; logChannelId: string | null }
  /** A key-sharing alert's buttons, naming the flag (`share:ban:<flagId>`). */
  | { kind: 'sharing'; action: SharingButton; flagId: number }
  /** Confirm or cancel a pending /license bulk request: its job id and the nonce it was recorded with (`bulk:ok:<jobId>:<nonce>`). */
  | { kind: 'bulk'; answer: 'ok' | 'no'; jobId: number; nonce: string };

const SHARING_BUTTONS = ['ban', 'reset', 'ignore'] as const;
export type SharingButton = (typeof SHARING_BUTTONS)[number];
const isSharingButton = (v: string | undefined): v is SharingButton => SHARING_BUTTONS.includes(v as SharingButton);

const snowflakeOrNone = (v: string | undefined) => (v && /^\d{15,22}$/.test(v) ? v : null);

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
      return `setup:${id.sellerRoleId ?? '-'}:${id.logChannelId ?? '-'}`;
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
  if (scope === 'setup' && a !== undefined && b !== undefined) return { kind: 'setup-modal', sellerRoleId: snowflakeOrNone(a), logChannelId: snowflakeOrNone(b) };
  return null;
}
