import { createHmac } from 'node:crypto';

/** `X-Keycord-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>` (API.md). */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const v1 = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${v1}`;
}
