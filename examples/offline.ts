/**
 * A customer app that works online first, then offline for a bounded time, with the Keycord
 * client SDK's offline leases.
 *
 *   KEYCORD_URL=http://localhost:3000 APP_ID=… PUBLIC_KEY=… LICENSE_KEY=… npx tsx examples/offline.ts
 *
 * Online, `check()` asks Keycord for a signed lease (validate's decision first) and keeps it in a
 * file; it asks again once half of the lease has run. When Keycord cannot be reached (a plane, a
 * server briefly down), the lease in the file is verified offline with the application's public
 * key, this machine's HWID and the local clock, until `lease_expires_at` — at most
 * `max_offline_hours` (plan or application) after it was issued, never past the license's end.
 * A banned or expired key is refused at the next check that reaches Keycord.
 */
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, hostname, platform, userInfo } from 'node:os';
import { join } from 'node:path';
import { lease } from 'keycord/client';

const hwid = createHash('sha256').update(`${hostname()}|${platform()}|${userInfo().username}`).digest('hex').slice(0, 32);
const file = process.env.LEASE_FILE ?? join(homedir(), '.my-app-lease');

const license = lease({
  baseUrl: process.env.KEYCORD_URL ?? 'http://localhost:3000',
  appId: process.env.APP_ID ?? '',
  publicKey: process.env.PUBLIC_KEY ?? '',
  licenseKey: process.env.LICENSE_KEY ?? '',
  hwid,
  // The lease survives a restart offline. It is signed and bound to this HWID: copying it to
  // another machine, or editing it, makes it worthless.
  store: {
    load: () => readFile(file, 'utf8').catch(() => null),
    save: (token) => (token ? writeFile(file, token, { mode: 0o600 }) : rm(file, { force: true })),
  },
});

const result = await license.check();
switch (result.status) {
  case 'valid':
    console.log(`Licensed (${result.payload.plan.name}) ${result.online ? 'online' : 'offline'}; this lease runs until ${result.payload.lease_expires_at}`);
    break;
  case 'refused':
    console.error(`Not licensed: ${result.code} — ${result.message}`);
    process.exitCode = 1;
    break;
  case 'none':
    console.error('Could not reach the license server, and no offline lease is held: connect once to activate');
    process.exitCode = 2;
    break;
  default:
    // expired (or the clock was set back before the lease), wrong_hwid, bad_signature, malformed
    console.error(`The offline lease is not usable (${result.status}): connect to the internet to renew it`);
    process.exitCode = 2;
}
