import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { listenOn, PortUnavailableError } from '../src/http/server-listen.js';
import { createTestDatabase } from './support/databases.js';
import { embeddedDatabaseState, exitOf, fatalLines, spawnKeycordProcess } from './support/keycord-process.js';

const SECRET = 'port-test-secret-0123456789abcdef0123456789';
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'keycord-port-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A server of the test's own on 127.0.0.1, holding a port the way another program would. */
async function holdPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as { port: number }).port;
}

/**
 * How this test can be refused a privileged port: as root, without CAP_NET_BIND_SERVICE (setpriv
 * drops it); as anyone else, plainly — unless the kernel lets everyone bind low ports.
 */
function withoutBindPrivilege(): string[] | undefined {
  const unprivilegedFrom = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'));
  if (process.getuid?.() !== 0) return unprivilegedFrom > 81 ? [] : undefined;
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((path) => existsSync(path));
  return setpriv ? [setpriv, '--bounding-set=-net_bind_service'] : undefined;
}
const dropPrivilege = process.platform === 'linux' ? withoutBindPrivilege() : undefined;

describe('keycord start on a port it cannot have', () => {
  it('says in one fatal line which host:port is taken and what to do, exits 1, and shuts the embedded database down cleanly', { timeout: 90_000 }, async () => {
    const port = await holdPort();
    const dataDir = tempDataDir();
    const keycord = await spawnKeycordProcess({
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      KEYCORD_SECRET: SECRET,
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      DATABASE_URL: undefined,
      REDIS_URL: undefined,
    });
    const { code } = await exitOf(keycord);
    const output = keycord.output();
    expect(code, output).toBe(1);
    const fatal = fatalLines(output);
    expect(fatal, output).toHaveLength(1);
    expect(fatal[0]!.msg).toContain(`127.0.0.1:${port}`);
    expect(fatal[0]!.msg).toMatch(/in use/);
    expect(fatal[0]!.msg).toContain('PORT');
    expect(fatal[0]!.msg).toMatch(/stop the (other )?process/);
    expect(output).not.toMatch(/"stack"|\n\s+at |\\n\s+at /);
    // It had started the database (and migrated it) before it tried the port: closed, not dropped.
    expect(output).toContain('database ready');
    expect(embeddedDatabaseState(dataDir)).toBe(1);
  });

  it.skipIf(!dropPrivilege)('says in one fatal line that a privileged port needs privileges, and exits 1', { timeout: 90_000 }, async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const keycord = await spawnKeycordProcess(
      { PORT: '81', HOST: '127.0.0.1', DATABASE_URL: database.url, REDIS_URL: undefined, KEYCORD_SECRET: SECRET, NODE_ENV: 'test', LOG_LEVEL: 'info', DATA_DIR: tempDataDir() },
      [],
      { command: [...dropPrivilege!, process.execPath, 'bin/keycord.js', 'start'] },
    );
    const { code } = await exitOf(keycord);
    const output = keycord.output();
    expect(code, output).toBe(1);
    const fatal = fatalLines(output);
    expect(fatal, output).toHaveLength(1);
    expect(fatal[0]!.msg).toContain('127.0.0.1:81');
    expect(fatal[0]!.msg).toMatch(/permission/i);
    expect(fatal[0]!.msg).toContain('PORT');
    expect(output).not.toMatch(/"stack"|\n\s+at |\\n\s+at /);
  });

  it('says in one fatal line that HOST is no address of this machine, and exits 1', { timeout: 90_000 }, async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine.
    const keycord = await spawnKeycordProcess({
      PORT: '0',
      HOST: '192.0.2.1',
      DATABASE_URL: database.url,
      REDIS_URL: undefined,
      KEYCORD_SECRET: SECRET,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      DATA_DIR: tempDataDir(),
    });
    const { code } = await exitOf(keycord);
    const output = keycord.output();
    expect(code, output).toBe(1);
    const fatal = fatalLines(output);
    expect(fatal, output).toHaveLength(1);
    expect(fatal[0]!.msg).toContain('192.0.2.1 is not an address of this machine');
    expect(fatal[0]!.msg).toContain('HOST');
    expect(output).not.toMatch(/"stack"|\n\s+at |\\n\s+at /);
  });

  it('names a HOST that does not resolve, from the error Node gives for it', async () => {
    const failing = (code: string) => ({ listen: () => Promise.reject(Object.assign(new Error(`getaddrinfo ${code} keycord.invalid`), { code })) }) as unknown as FastifyInstance;
    for (const code of ['ENOTFOUND', 'EAI_AGAIN']) {
      const err = await listenOn(failing(code), { host: 'keycord.invalid', port: 3000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PortUnavailableError);
      expect((err as Error).message).toContain('the host name keycord.invalid does not resolve');
    }
    // Anything else is not the operator's to fix here: it goes on as it came.
    const other = await listenOn(failing('EMFILE'), { host: '127.0.0.1', port: 3000 }).catch((e: unknown) => e);
    expect(other).not.toBeInstanceOf(PortUnavailableError);
  });
});
