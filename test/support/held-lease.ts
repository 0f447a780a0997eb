import { sign, type KeyObject } from 'node:crypto';

/**
 * An offline lease of KEY-1 on HW-1, signed with `privateKey`, issued 2 h ago for 3 h: still valid
 * and past its half-life, so the SDK's check() asks Keycord before it relies on it.
 */
export function heldLease(appId: string, privateKey: KeyObject): string {
  const issued = Date.now() - 2 * 3600_000;
  const payload = {
    v: 1,
    app_id: appId,
    license_key: 'KEY-1',
    hwid: 'HW-1',
    plan: { id: 1, name: 'p' },
    license_expires_at: null,
    lease_expires_at: new Date(issued + 3 * 3600_000).toISOString(),
    issued_at: new Date(issued).toISOString(),
  };
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${body}.${sign(null, Buffer.from(body, 'ascii'), privateKey).toString('base64url')}`;
}
