interface Entry<K, V> {
  key: K;
  value: V;
}

/**
 * A map that gives up its oldest entries cheaply, for the bounded in-memory stores that forget
 * from the front (rate-limit windows, the interaction replay guard). A plain Map emptied from the
 * front keeps its deleted entries until it is rehashed, and each look at its first entry walks
 * past all of them: at a cap, or once entries start to expire, every insert paid a walk as long
 * as the map (100,000 inserts past a cap of 100,000: 2.7 s in a Map, 0.2 s here). Here the order
 * is an array of entries read from a moving head; an entry deleted or set again stays in it,
 * stale, and is skipped when the head reaches it.
 */
export class ArrivalOrderedMap<K, V> {
  private readonly entries = new Map<K, Entry<K, V>>();
  private order: Entry<K, V>[] = [];
  private head = 0;

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    return this.entries.get(key)?.value;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** Sets `key` as the newest entry: one set again moves to the back. */
  set(key: K, value: V): void {
    const entry = { key, value };
    this.entries.set(key, entry);
    this.order.push(entry);
    this.compactIfMostlyDead();
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  /** The oldest entry still held, or undefined when empty. */
  oldest(): [K, V] | undefined {
    while (this.head < this.order.length) {
      const entry = this.order[this.head]!;
      if (this.entries.get(entry.key) === entry) return [entry.key, entry.value];
      this.head++;
    }
    return undefined;
  }

  /** Deletes the oldest entries while `stale(value)` holds, stopping at the first that does not. */
  dropOldestWhile(stale: (value: V) => boolean): void {
    for (let oldest = this.oldest(); oldest && stale(oldest[1]); oldest = this.oldest()) this.deleteOldest();
  }

  /** Deletes the oldest entry, if any. */
  deleteOldest(): void {
    const oldest = this.oldest();
    if (!oldest) return;
    this.entries.delete(oldest[0]);
    this.head++;
  }

  /**
   * Drops the forgotten front once it is half the array, and the stale entries once they outnumber
   * the held ones twice over: each entry is copied a bounded number of times.
   */
  private compactIfMostlyDead(): void {
    if (this.order.length - this.head > 2 * this.entries.size + 1024) {
      this.order = this.order.slice(this.head).filter((entry) => this.entries.get(entry.key) === entry);
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
  }
}
