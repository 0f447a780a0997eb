import { z } from 'zod';
import { LICENSE_STATUSES } from '../../core/licenses/license-view.js';
import type { toLicenseView, toPlanRef } from '../../core/licenses/license-view.js';

export const licenseStatus = z.enum(LICENSE_STATUSES).describe('inactive | active | expired | banned (expiry applied at read time)');

/** The plan a license belongs to, as licenses show it. */
export const planRef = z.object({
  id: z.number().int(),
  name: z.string(),
  duration_days: z.number().int().describe('0 = lifetime'),
}) satisfies z.ZodType<ReturnType<typeof toPlanRef>>;

/** A license as the seller API shows it: one license, lists, and every seller action's answer. */
export const licenseView = z.object({
  id: z.number().int(),
  application_id: z.number().int(),
  license_key: z.string(),
  status: licenseStatus,
  plan: planRef,
  activation_date: z.string().nullable().describe('ISO 8601; null until first activation'),
  expires_at: z.string().nullable().describe('ISO 8601; null for lifetime or not yet activated'),
  hwid: z.string().nullable().describe('The first bound HWID'),
  hwids: z.array(z.string()),
  ip_address: z.string().nullable(),
  last_used: z.string().nullable().describe('ISO 8601'),
  notes: z.string().nullable(),
  discord_user_id: z.string().nullable(),
  ban_reason: z.string().nullable(),
  created_at: z.string().describe('ISO 8601'),
  updated_at: z.string().describe('ISO 8601'),
}) satisfies z.ZodType<ReturnType<typeof toLicenseView>>;
