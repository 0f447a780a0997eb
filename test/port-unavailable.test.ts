import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
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
});
