/**
 * A customer app checking its license at start-up with the Keycord client SDK.
 *
 *   KEYCORD_URL=http://localhost:3000 APP_ID=… PUBLIC_KEY=… LICENSE_KEY=… npx tsx examples/validate.ts
 *
 * In a real app the HWID comes from the machine (e.g. a hash of the OS install id) and the
 * public key and app id are compiled in; only the license key comes from the user. A customer app
 * installs the SDK alone as `@keycord/client` (no dependencies); `keycord/client` here is the
 * same code inside the server package.
 */
import { createHash } from 'node:crypto';
import { hostname, platform, userInfo } from 'node:os';
import { KeycordClient, KeycordVerificationError } from 'keycord/client';

const client = new KeycordClient({
  baseUrl: process.env.KEYCORD_URL ?? 'http://localhost:3000',
  appId: process.env.APP_ID ?? '',
  publicKey: process.env.PUBLIC_KEY ?? '',
  // With the application secret the requests and answers are also encrypted.
  ...(process.env.APP_SECRET ? { secret: process.env.APP_SECRET, encrypt: true } : {}),
});

const hwid = createHash('sha256').update(`${hostname()}|${platform()}|${userInfo().username}`).digest('hex').slice(0, 32);

try {
  const result = await client.validate({ licenseKey: process.env.LICENSE_KEY ?? '', hwid });
  if (result.success) {
    console.log(`Licensed (${result.license?.plan.name}), expires ${result.license?.expires_at ?? 'never'}`);
  } else {
    console.error(`Not licensed: ${result.code} — ${result.message}`);
    process.exitCode = 1;
  }
} catch (err) {
  // A forged or replayed answer: treat as not licensed, and say why.
  if (err instanceof KeycordVerificationError) console.error(`Refusing an unverifiable answer: ${err.message}`);
  else console.error(`Could not reach the license server: ${(err as Error).message}`);
  process.exitCode = 2;
}
