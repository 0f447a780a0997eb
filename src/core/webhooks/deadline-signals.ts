import { setMaxListeners } from 'node:events';

/**
 * Abort signals for hard time limits that many requests share. `AbortSignal.timeout()` per POST
 * was a third of an undici request's CPU (a timer plus the weak references that let an unused
 * signal be collected; measured ~18 µs of ~55 µs per keep-alive POST). Here every request started
 * within one slice of time (a tenth of the limit) shares one signal, aborted by one timer once the
 * whole limit has passed since the slice ended: each request gets its full limit and at most a
 * tenth more, and a second of deliveries costs one timer instead of thousands.
 */
const SLICES_PER_LIMIT = 10;
/** Limits in use at once: one per distinct timeout (in practice one); the oldest goes past this. */
const MAX_LIMITS = 16;

interface Slice {
  index: number;
  signal: AbortSignal;
}

const current = new Map<number, Slice>();

/** A signal aborted (with a `TimeoutError`) no sooner than `limitMs` from now and at most a tenth later. */
export function deadlineSignal(limitMs: number): AbortSignal {
  const sliceMs = Math.max(1, Math.ceil(limitMs / SLICES_PER_LIMIT));
  const now = performance.now();
  const index = Math.floor(now / sliceMs);
  const held = current.get(limitMs);
  if (held && held.index === index && !held.signal.aborted) return held.signal;
  const controller = new AbortController();
  // Every request of the slice listens on it (undici adds a listener per request and removes it
  // when the request ends): the count is the requests in flight, not a leak.
  setMaxListeners(0, controller.signal);
  const fireInMs = (index + 1) * sliceMs + limitMs - now;
  setTimeout(() => controller.abort(new DOMException(`timed out after ${limitMs} ms`, 'TimeoutError')), fireInMs).unref();
  current.delete(limitMs);
  current.set(limitMs, { index, signal: controller.signal });
  if (current.size > MAX_LIMITS) current.delete(current.keys().next().value!);
  return controller.signal;
}
