// Preloaded (`node --import`) into a process bench/memory.ts measures: on the message
// {type: 'memory'} over the IPC channel it answers what the process holds, seen from inside (V8's
// heaps) and by the kernel (resident set, threads). Plain JavaScript so it loads without tsx, and
// passive: it allocates nothing until asked.
import { readFileSync } from 'node:fs';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';

function kernelView() {
  const status = readFileSync('/proc/self/status', 'utf8');
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: field('VmRSS') * 1024, peakRss: field('VmHWM') * 1024, anonRss: field('RssAnon') * 1024, fileRss: field('RssFile') * 1024, threads: field('Threads') };
}

if (process.send) {
  process.on('message', (message) => {
    if (message?.type !== 'memory') return;
    const usage = process.memoryUsage();
    const heap = getHeapStatistics();
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.space_size]));
    let kernel = { rss: usage.rss, peakRss: NaN, anonRss: NaN, fileRss: NaN, threads: NaN };
    try {
      kernel = kernelView();
    } catch {
      // Not Linux: the process's own figures are all there is.
    }
    process.send({ type: 'memory', usage, heap: { mallocedMemory: heap.malloced_memory, externalMemory: heap.external_memory }, spaces, kernel });
  });
  // The channel must not keep a process alive that would otherwise exit (a failed start).
  process.channel?.unref();
}
