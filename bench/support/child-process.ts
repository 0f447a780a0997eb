import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/**
 * The benchmarks run Keycord's server or worker in a child process (so the load generator does
 * not take its CPU). Both are started the same way: fork under tsx, wait for the message that
 * says it is ready, fail loudly if it exits or takes too long.
 */
export async function forkUntilReady<T>(
  script: string,
  opts: { env: Record<string, string>; cwd?: string; execArgv?: string[]; label: string; timeoutMs?: number },
  ready: (message: unknown) => T | undefined,
): Promise<{ child: ChildProcess; value: T }> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const child = fork(script, [], { ...(opts.cwd ? { cwd: opts.cwd } : {}), execArgv: ['--import', 'tsx', ...(opts.execArgv ?? [])], env: { ...process.env, ...opts.env } });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`the ${opts.label} exited early (code ${code})`);
  });
  const readied = new Promise<T>((resolve) => {
    child.on('message', (m: unknown) => {
      const value = ready(m);
      if (value !== undefined) resolve(value);
    });
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the ${opts.label} did not start within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    const value = await Promise.race([readied, exited, timeout]);
    exited.catch(() => {}); // from here on an exit is expected (stopChild)
    return { child, value };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Asks a bench child to finish and close ({type: 'stop'}); kills it if it has not exited after 15 s. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  if (child.connected) child.send({ type: 'stop' });
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}
