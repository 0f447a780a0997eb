/**
 * `promise`, or `fallback` when it has not settled within `ms` — for every wait on something that
 * may not answer (a database probe, Redis, a shutdown step). A rejection passes through; the
 * timer is cleared as soon as either side wins and never keeps the process alive.
 */
export function settleWithin<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<F>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
    timer.unref();
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
