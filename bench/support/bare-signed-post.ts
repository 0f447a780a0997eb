import { createHmac } from 'node:crypto';
import { Pool } from 'undici';

/**
 * What both bare webhook baselines do per delivery: sign the body as Keycord does (HMAC-SHA256
 * over `t.body`) and POST it over a kept-alive undici pool to the receiver; the status code back.
 */
export function bareSignedPoster(receiverUrl: string, secret: string) {
  const receiver = new URL(receiverUrl);
  const pool = new Pool(receiver.origin, { connections: 64, keepAliveTimeout: 4_000, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const post = async (body: string, deliveryId: string): Promise<number> => {
    const t = Math.floor(Date.now() / 1000);
    const v1 = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
    const res = await pool.request({
      method: 'POST',
      path: receiver.pathname,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'bare-webhooks/1',
        'X-Keycord-Event': 'license.banned',
        'X-Keycord-Delivery': deliveryId,
        'X-Keycord-Signature': `t=${t},v1=${v1}`,
      },
      body,
    });
    await res.body.text();
    return res.statusCode;
  };
  return { post, close: () => pool.close() };
}
