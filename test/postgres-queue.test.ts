import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * postgres.js 3.4.9 keeps its pool's connection lists in a Queue whose `shift()` only moves a
 * head index and leaves an `undefined` hole behind; the array is compacted only when the queue
 * empties. While every connection is busy the busy list never empties, so the holes pile up, and
 * `remove(x)` — called each time a connection moves between lists — searched from index 0 through
 * all of them: each move cost more than the last (measured: 12.5k → 4.5k req/s over a minute).
 * patches/postgres+3.4.9.patch (applied by `npm install` through patch-package) makes `remove`
 * search from the live head. These tests show the bug on the original code, rebuilt from the
 * patch, and that the installed code is fixed — by counting what the search visits, not by timing.
 */

interface Queue<T> {
  readonly length: number;
  push(x: T): T;
  shift(): T | undefined;
  remove(x: T): T | null;
}
type QueueFactory = <T>(initial?: T[]) => Queue<T>;
type Search = { fromIndex: number; visited: number };

const require = createRequire(import.meta.url);

/** The package root, found from its entry point: `postgres` exports no subpath such as `./src/queue.js`. */
function postgresRoot(): string {
  let dir = dirname(require.resolve('postgres'));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'postgres') return dir;
    } catch {
      // no package.json at this level: keep walking up
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('postgres package root not found');
    dir = up;
  }
}

const ROOT = postgresRoot();
const PATCH = readFileSync(new URL('../patches/postgres+3.4.9.patch', import.meta.url), 'utf8');

/** For one file of the patch: the text its hunks replace (`before`) and put in (`after`). */
function hunkTexts(file: string): { before: string; after: string } {
  const section = PATCH.split(/^diff --git /m).find((s) => s.startsWith(`a/node_modules/postgres/${file} `));
  if (!section) throw new Error(`the patch does not touch ${file}`);
  const lines = section
    .slice(section.indexOf('\n@@') + 1)
    .split('\n')
    .filter((line) => !line.startsWith('@@') && line !== '');
  const before = lines
    .filter((l) => !l.startsWith('+'))
    .map((l) => l.slice(1))
    .join('\n');
  const after = lines
    .filter((l) => !l.startsWith('-'))
    .map((l) => l.slice(1))
    .join('\n');
  return { before, after };
}

/**
 * An array that records each `indexOf` search: where it started and how many slots a linear
 * search visits to answer it. Queue copies its `initial` array with `slice()`, which keeps the
 * subclass (Array species), so the copy — the Queue's own storage — records its searches for as
 * long as the queue never empties (emptying replaces it with a plain `[]`).
 */
class CountingArray<T> extends Array<T> {
  searches: Search[] = [];

  override indexOf(x: T, fromIndex?: number): number {
    const found = super.indexOf(x, fromIndex);
    const from = Math.max(0, fromIndex ?? 0);
    this.searches.push({ fromIndex: from, visited: (found === -1 ? this.length : found + 1) - from });
    return found;
  }
}

/** A Queue working on a CountingArray, and the searches that array has run. */
function instrumented<T>(factory: QueueFactory): { queue: Queue<T>; searches: () => Search[] } {
  const seed = new CountingArray<T>();
  let storage: unknown;
  // Catch the copy the Queue makes of `initial`: that copy is the array it works on.
  const slice = seed.slice;
  seed.slice = function (this: CountingArray<T>, ...args: Parameters<typeof slice>) {
    storage = slice.apply(this, args);
    return storage as CountingArray<T>;
  };
  const queue = factory<T>(seed);
  if (!(storage instanceof CountingArray)) throw new Error('the Queue did not copy its initial array with slice()');
  const searches = (storage as CountingArray<T>).searches;
  return { queue, searches: () => searches };
}

let patchedQueue: QueueFactory;
let originalQueue: QueueFactory;
let scratch: string | undefined;

beforeAll(async () => {
  const installedFile = join(ROOT, 'src', 'queue.js');
  patchedQueue = ((await import(pathToFileURL(installedFile).href)) as { default: QueueFactory }).default;
  // The 3.4.9 original, rebuilt by undoing the patch's hunk on the installed file.
  const { before, after } = hunkTexts('src/queue.js');
  scratch = mkdtempSync(join(tmpdir(), 'keycord-pg-queue-'));
  const originalFile = join(scratch, 'queue-3.4.9-original.mjs');
  writeFileSync(originalFile, readFileSync(installedFile, 'utf8').replace(after, before));
  originalQueue = ((await import(pathToFileURL(originalFile).href)) as { default: QueueFactory }).default;
});

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('the postgres.js Queue patch', () => {
  it('is installed: postgres is 3.4.9 and every build of queue.js searches from the live head', () => {
    // The patch is for exactly this version; an upgrade must check whether it is still needed.
    expect(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version).toBe('3.4.9');
    for (const file of ['src/queue.js', 'cjs/src/queue.js', 'cf/src/queue.js']) {
      const source = readFileSync(join(ROOT, file), 'utf8');
      expect(source, file).toContain('const at = xs.indexOf(x, index)');
      expect(source, file).not.toMatch(/xs\.indexOf\(x\)/);
      expect(source, file).toContain(hunkTexts(file).after);
    }
  });

  it('undone, gives back the unpatched 3.4.9 search from index 0', () => {
    expect(hunkTexts('src/queue.js').before).toContain('const index = xs.indexOf(x)');
  });
});

describe('Queue.remove after many shifts while the queue never empties', () => {
  /** Each push is followed by a shift and one item always stays, so the holes are never compacted. */
  function churned(factory: QueueFactory, cycles: number) {
    const { queue, searches } = instrumented<{ id: number | string }>(factory);
    const items = Array.from({ length: cycles + 1 }, (_, id) => ({ id }));
    queue.push(items[0]!);
    for (let i = 1; i <= cycles; i++) {
      queue.push(items[i]!);
      if (queue.shift() !== items[i - 1]) throw new Error(`shift ${i} returned the wrong item`);
    }
    return { queue, searches, items };
  }

  it('removes exactly the item asked for and returns it, keeping the order of the rest', () => {
    const { queue, items } = churned(patchedQueue, 10_000);
    const [a, b, c, d] = [{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }];
    for (const x of [a, b, c, d]) queue.push(x);
    expect(queue.length).toBe(5);

    expect(queue.remove(c)).toBe(c);
    expect(queue.length).toBe(4);
    expect(queue.remove(c)).toBeNull(); // removed already
    expect(queue.remove(items[42]!)).toBeNull(); // shifted long ago: its slot is a hole now
    expect(queue.remove({ id: 10_000 })).toBeNull(); // equal to a member, but not the same object
    expect(queue.length).toBe(4);

    for (const expected of [items[10_000], a, b, d]) expect(queue.shift()).toBe(expected);
    expect(queue.length).toBe(0);
    expect(queue.shift()).toBeUndefined();
  });

  it('behaves exactly like a plain array under a long random mix of push, shift and remove', () => {
    let seed = 0x5eed;
    const random = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const queue = patchedQueue<object>();
    const model: object[] = [];
    const everPushed: object[] = [];
    // Plain comparisons in the loop (expect() per step would dominate the run); the first
    // divergence is reported with its step.
    let divergence: string | undefined;
    for (let step = 0; step < 50_000 && !divergence; step++) {
      const op = random(10);
      if (op < 5 || model.length === 0) {
        const x = { step };
        everPushed.push(x);
        if (queue.push(x) !== x) divergence = `push at step ${step}`;
        model.push(x);
      } else if (op < 8) {
        if (queue.shift() !== model.shift()) divergence = `shift at step ${step}`;
      } else {
        // Half of the removes ask for a live item, half for any item ever pushed (often gone).
        const x = op === 8 ? model[random(model.length)]! : everPushed[random(everPushed.length)]!;
        const at = model.indexOf(x);
        if (queue.remove(x) !== (at === -1 ? null : x)) divergence = `remove at step ${step}`;
        if (at !== -1) model.splice(at, 1);
      }
      if (!divergence && queue.length !== model.length) divergence = `length at step ${step}`;
    }
    expect(divergence).toBeUndefined();
  });

  it('searches from the live head: a remove does not walk the shifted-out slots', () => {
    const cycles = 10_000;
    const { queue, searches, items } = churned(patchedQueue, cycles);
    const newest = { id: 'newest' };
    queue.push(newest);
    expect(queue.remove(newest)).toBe(newest);
    // The live head is at index `cycles`: the search starts there and visits the two live slots,
    // not the 10,000 holes before them.
    expect(searches()[0]).toEqual({ fromIndex: cycles, visited: 2 });
    expect(queue.remove(items[0]!)).toBeNull();
    expect(searches()[1]).toEqual({ fromIndex: cycles, visited: 1 });
  });

  it('reproduces the bug on the original 3.4.9 code: each remove walks every hole', () => {
    const cycles = 10_000;
    const { queue, searches } = churned(originalQueue, cycles);
    const newest = { id: 'newest' };
    queue.push(newest);
    expect(queue.remove(newest)).toBe(newest); // still the right answer...
    expect(searches()[0]).toEqual({ fromIndex: 0, visited: cycles + 2 }); // ...found the slow way
  });

  it('under a saturated pool, the cost of moving a connection stays flat with the patch and grows without it', () => {
    // postgres.js's pool with every connection busy: a query takes the connection at the head of
    // the busy list, and the connection is moved back (`move(c, busy)`: remove it from the list
    // it is on, push it). The busy list never empties, so it gains a hole per query.
    const visitsOfLastMove = (factory: QueueFactory, queries: number) => {
      const { queue: busy, searches } = instrumented<{ id: number }>(factory);
      for (let id = 0; id < 10; id++) busy.push({ id });
      for (let q = 0; q < queries; q++) {
        const c = busy.shift()!;
        busy.push(c);
        if (busy.remove(c) !== c) throw new Error(`remove lost connection ${c.id} at query ${q}`);
        busy.push(c);
      }
      return searches().at(-1)!.visited;
    };
    // Patched: at most the live connections, however long the pool stays saturated.
    expect(visitsOfLastMove(patchedQueue, 1_000)).toBeLessThanOrEqual(10);
    expect(visitsOfLastMove(patchedQueue, 20_000)).toBeLessThanOrEqual(10);
    // Original: every hole left so far, so each query's move costs more than the one before.
    expect(visitsOfLastMove(originalQueue, 1_000)).toBeGreaterThan(1_000);
    expect(visitsOfLastMove(originalQueue, 20_000)).toBeGreaterThan(20_000);
  });
});
