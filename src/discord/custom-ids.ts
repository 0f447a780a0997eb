/**
 * Component and modal custom ids: a small codec, stable across restarts, so a panel posted
 * months ago still works. Snowflakes are digits; '-' stands for "none".
 */
export type CustomId =
  | { kind: 'panel'; action: 'redeem' | 'licenses' | 'reset' }
  | { kind: 'redeem-modal' }
  | { kind: 'reset-select' }
  /** A page of the reset menu (25 licenses each: Discord's limit for a select). */
  | { kind: 'reset-page'; page: number }
  | { kind: 'setup-modal'; sellerRoleId: string | null; logChannelId: string | null };

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
    case 'setup-modal':
      return `setup:${id.sellerRoleId ?? '-'}:${id.logChannelId ?? '-'}`;
  }
}

export function decodeCustomId(raw: unknown): CustomId | null {
  if (typeof raw !== 'string') return null;
  const [scope, a, b] = raw.split(':');
  if (scope === 'lic') {
    if (a === 'redeem' || a === 'licenses' || a === 'reset') return { kind: 'panel', action: a };
    if (a === 'redeem-modal') return { kind: 'redeem-modal' };
    if (a === 'reset-select') return { kind: 'reset-select' };
    if (a === 'reset-page' && b !== undefined && /^\d{1,3}$/.test(b)) return { kind: 'reset-page', page: Number(b) };
  }
  if (scope === 'setup' && a !== undefined && b !== undefined) return { kind: 'setup-modal', sellerRoleId: snowflakeOrNone(a), logChannelId: snowflakeOrNone(b) };
  return null;
}
