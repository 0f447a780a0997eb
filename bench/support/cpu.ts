import { readdirSync, readFileSync } from 'node:fs';

/** CPU seconds used so far: per process of the bench, and by the whole machine. */
export interface CpuSnapshot {
  server: number;
  /** Per backend process serving the bench database (they come and go, so kept by pid). */
  postgres: Map<number, number>;
  loadgen: number;
  machine: number;
}

export interface CpuPerRequest {
  server: number;
  postgres: number;
  loadgen: number;
  /** What everything else on the machine used meanwhile, in cores (a shared machine is noisy). */
  otherCores: number;
}

// Linux reports process times in clock ticks; 100 per second on every mainstream kernel build.
const TICKS_PER_S = 100;

/**
 * On a small machine the server, PostgreSQL and autocannon share the cores, so req/s alone does
 * not say where the time goes; CPU per request per party does. Linux only (reads /proc); other
 * systems get null and the bench prints no CPU lines.
 */
export function cpuSnapshot(serverPid: number, databaseName: string): CpuSnapshot | null {
  try {
    const postgres = new Map<number, number>();
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const pid = Number(entry);
      const stat = readStat(pid);
      // Backends name their database in their title: "postgres: 15/main: user db host(port) state".
      if (stat?.comm === 'postgres' && readCmdline(pid).includes(` ${databaseName} `)) postgres.set(pid, stat.seconds);
    }
    const self = process.cpuUsage();
    return { server: readStat(serverPid)?.seconds ?? NaN, postgres, loadgen: (self.user + self.system) / 1e6, machine: machineBusySeconds() };
  } catch {
    return null;
  }
}

export function cpuPerRequest(before: CpuSnapshot | null, after: CpuSnapshot | null, requests: number, seconds: number): CpuPerRequest | null {
  if (!before || !after || requests === 0) return null;
  let postgres = 0;
  // A backend that started during the run counts from zero; one that ended is lost (rare: the pools stay open).
  for (const [pid, s] of after.postgres) postgres += s - (before.postgres.get(pid) ?? 0);
  const server = after.server - before.server;
  const loadgen = after.loadgen - before.loadgen;
  const machine = after.machine - before.machine;
  const us = (s: number) => (s / requests) * 1e6;
  return { server: us(server), postgres: us(postgres), loadgen: us(loadgen), otherCores: Math.max(0, machine - server - postgres - loadgen) / seconds };
}

/** CPU per request over several runs, weighted by their requests (null if any run has none). */
export function combineCpu(runs: { cpu: CpuPerRequest | null; requests: number; seconds: number }[]): CpuPerRequest | null {
  if (runs.some((r) => !r.cpu)) return null;
  const requests = runs.reduce((s, r) => s + r.requests, 0);
  const seconds = runs.reduce((s, r) => s + r.seconds, 0);
  const weighted = (key: 'server' | 'postgres' | 'loadgen') => runs.reduce((s, r) => s + r.cpu![key] * r.requests, 0) / requests;
  const otherCores = runs.reduce((s, r) => s + r.cpu!.otherCores * r.seconds, 0) / seconds;
  return { server: weighted('server'), postgres: weighted('postgres'), loadgen: weighted('loadgen'), otherCores };
}

/** "CPU per request <label> server … postgres … autocannon … total …" as the benches print it. */
export function cpuLine(label: string, c: CpuPerRequest): string {
  const f = (n: number) => n.toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 }).padStart(5);
  return `CPU per request ${label.padEnd(9)} server ${f(c.server)} µs   postgres ${f(c.postgres)} µs   autocannon ${f(c.loadgen)} µs   total ${f(c.server + c.postgres + c.loadgen)} µs   (other processes meanwhile: ${c.otherCores.toFixed(2)} cores)`;
}

function readStat(pid: number): { comm: string; seconds: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // the process ended between listing and reading
  }
  // The name is in parentheses and may itself hold spaces or parentheses: split after the last ')'.
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const fields = text.slice(close + 2).split(' ');
  // After the name: state is field 3 of proc(5)'s stat, utime 14 and stime 15, i.e. indexes 11 and 12 here.
  return { comm, seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S };
}

function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** Busy time of all CPUs together (first line of /proc/stat: everything but idle and iowait). */
function machineBusySeconds(): number {
  const [cpu] = readFileSync('/proc/stat', 'utf8').split('\n');
  const [user, nice, system, , , irq, softirq, steal] = cpu!.trim().split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / TICKS_PER_S;
}

/**
 * A fixed amount of integer work, timed (ms). On a shared host the same code runs faster or
 * slower as the neighbours come and go, without any steal time showing; timing this before each
 * run tells a slower host from slower code. Run while nothing else of the bench is busy.
 */
export function hostSpeedCheckMs(): number {
  const started = performance.now();
  let x = 0;
  for (let i = 0; i < 40_000_000; i++) x = (x + i * 7) % 1_000_003;
  const ms = performance.now() - started;
  // Use the result, so the loop cannot be optimised away.
  return x === -1 ? NaN : ms;
}
