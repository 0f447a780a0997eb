import type { sharingFlags } from '../../db/schema.js';
import { windowView } from './sharing-window.js';

export type SharingFlagRow = typeof sharingFlags.$inferSelect;

/** A flagged license as the API and the Discord alert show it. */
export const toSharingFlagView = (f: SharingFlagRow, licenseKey: string) => ({
  id: f.id,
  license_id: f.licenseId,
  license_key: licenseKey,
  window: windowView({ kind: f.kind, start: f.windowStart, end: f.windowEnd }),
  ips: f.ips,
  hwid_mismatches: f.hwidMismatches,
  action: f.action,
  status: f.status,
  resolved_by: f.resolvedBy,
  resolved_at: f.resolvedAt?.toISOString() ?? null,
  flagged_at: f.createdAt.toISOString(),
});
