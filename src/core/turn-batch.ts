/**
 * Requests that arrive in the same turn of the event loop, decided by one call: under load many
 * requests share one database round trip (an index probe each in one statement) instead of one
 * each. A batch closes at the end of the turn (setImmediate) or at `maxBatch`, which bounds a
 * statement's size and the locks one call holds.
 *
 * `run` answers each request of the batch in order (`answers[i]` is request `i`'s); a call that
 * fails rejects every request of its batch, and the next batch starts afresh.
 */
export class TurnBatch<Request, Answer> {
  private waiting: { request: Request; resolve: (a: Answer) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  constructor(
    private readonly run: (requests: Request[]) => Promise<Answer[]>,
    private readonly maxBatch = 256,
  ) {}

  add(request: Request): Promise<Answer> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ request, resolve, reject });
      if (this.waiting.length >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.waiting;
    if (batch.length === 0) return;
    this.waiting = [];
    let answers: Promise<Answer[]>;
    try {
      answers = this.run(batch.map((w) => w.request));
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    answers.then(
      (answers) => batch.forEach((w, i) => w.resolve(answers[i] as Answer)),
      (err: unknown) => batch.forEach((w) => w.reject(err)),
    );
  }
}

/**
 * One value per key object, made on first use and dropped with the key (a WeakMap): a batch per
 * database client, so two instances in one process never share a statement.
 */
export function perObject<K extends object, V>(make: (key: K) => V): (key: K) => V {
  const made = new WeakMap<K, V>();
  return (key) => {
    let value = made.get(key);
    if (value === undefined) made.set(key, (value = make(key)));
    return value;
  };
}

/** A TurnBatch per database client: `batchOf(db)` gives that client's. */
export const turnBatchPerDatabase = <Db extends object, Request, Answer>(run: (db: Db, requests: Request[]) => Promise<Answer[]>, maxBatch?: number) =>
  perObject((db: Db) => new TurnBatch<Request, Answer>((requests) => run(db, requests), maxBatch));

/** Rows answered by ordinality `i` (1-based), grouped back into the requests' order. */
export function rowsByRequest<R extends { i: number | string }>(count: number, rows: R[]): R[][] {
  const groups: R[][] = Array.from({ length: count }, () => []);
  for (const r of rows) groups[Number(r.i) - 1]?.push(r);
  return groups;
}

/**
 * The one time a batch's statement takes: the latest its requests read. They arrived within the
 * same turn of the event loop, so it is each one's to the millisecond or so.
 */
export const latestNow = (batch: readonly { now: Date }[]): Date => new Date(Math.max(...batch.map((r) => r.now.getTime())));
