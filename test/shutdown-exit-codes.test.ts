import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { createShutdown, type ShutdownStep } from '../src/shutdown.js';

/** A shutdown whose steps all succeed at once, and the exit code it ends with. */
async function exitCodeOf(reason: Parameters<ReturnType<typeof createShutdown>>[0], steps: ShutdownStep[] = []): Promise<number> {
  let code: number | undefined;
  const shutdown = createShutdown({
    log: createLogger('silent'),
    graceMs: 1000,
    steps,
    final: [{ name: 'database', run: () => {} }],
    exit: (c) => {
      code = c;
    },
  });
  await shutdown(reason);
  return code!;
}

describe('the exit code of a shutdown', () => {
  it('is 0 when a stop signal was carried out in order', async () => {
    expect(await exitCodeOf('SIGTERM')).toBe(0);
    expect(await exitCodeOf('SIGINT')).toBe(0);
  });

  it('is 1 after a crash even when every step then closed cleanly, so a supervisor restarting on failure restarts it', async () => {
    expect(await exitCodeOf('uncaughtException')).toBe(1);
    expect(await exitCodeOf('unhandledRejection')).toBe(1);
  });

  it('is 1 when a crash comes while a stop signal is being carried out', async () => {
    let code: number | undefined;
    let crash!: () => void;
    const shutdown = createShutdown({
      log: createLogger('silent'),
      graceMs: 1000,
      // The crash lands while the first step is running (an error thrown from a closing handler, say).
      steps: [{ name: 'http', run: () => new Promise<void>((resolve) => setImmediate(() => (crash(), resolve()))) }],
      final: [{ name: 'database', run: () => {} }],
      exit: (c) => {
        code = c;
      },
    });
    crash = () => void shutdown('uncaughtException');
    await shutdown('SIGTERM');
    expect(code).toBe(1);
  });

  it('is 1 when the grace runs out, and the log names the step that was still waiting', async () => {
    const lines: string[] = [];
    let code: number | undefined;
    const shutdown = createShutdown({
      log: createLogger('warn', { write: (line: string) => void lines.push(line) }),
      graceMs: 50,
      steps: [
        { name: 'http', run: () => {} },
        { name: 'jobs', run: () => new Promise<void>(() => {}) },
      ],
      final: [{ name: 'database', run: () => {} }],
      exit: (c) => {
        code = c;
      },
    });
    await shutdown('SIGTERM');
    expect(code).toBe(1);
    expect(lines.join('')).toContain('shutdown grace ran out in step \\"jobs\\"');
  });

  it('is 1 when a step failed on the way', async () => {
    expect(await exitCodeOf('SIGTERM', [{ name: 'http', run: () => Promise.reject(new Error('boom')) }])).toBe(1);
  });
});
