/**
 * ArrivalOrderedMap against the plain Map it replaces (a Map keeps insertion order, and a key
 * deleted and set again goes to the back): the same answers for every operation, through
 * thousands of random ones and the compactions they cause.
 */
import { describe, expect, it } from 'vitest';
import { ArrivalOrderedMap } from '../src/core/arrival-ordered-map.js';

/** A small deterministic generator, so a failure repeats. */
function random(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

/** The reference: a Map, re-set keys moved to the back as ArrivalOrderedMap.set does. */
class Model<K, V> {
  readonly map = new Map<K, V>();
  set(key: K, value: V) {
    this.map.delete(key);
    this.map.set(key, value);
  }
  oldest(): [K, V] | undefined {
    return this.map.entries().next().value;
  }
}

describe('ArrivalOrderedMap', () => {
  it('sets, gets, deletes, and gives up its oldest in the order keys were last set', () => {
    const m = new ArrivalOrderedMap<string, number>();
    m.set('a', 1);
    m.set('b', 2);
    m.set('c', 3);
    m.set('a', 4);
    expect(m.oldest()).toEqual(['b', 2]);
    expect(m.get('a')).toBe(4);
    expect(m.delete('b')).toBe(true);
    expect(m.oldest()).toEqual(['c', 3]);
    m.deleteOldest();
    expect(m.oldest()).toEqual(['a', 4]);
    m.dropOldestWhile((v) => v < 10);
    expect(m.size).toBe(0);
    expect(m.oldest()).toBeUndefined();
    m.deleteOldest();
    expect(m.size).toBe(0);
  });

  it('answers as a Map does through 200,000 random operations over a few thousand keys', () => {
    const next = random(42);
    const m = new ArrivalOrderedMap<number, number>();
    const model = new Model<number, number>();
    for (let i = 0; i < 200_000; i++) {
      const key = next(3000);
      switch (next(6)) {
        case 0:
        case 1:
        case 2:
          m.set(key, i);
          model.set(key, i);
          break;
        case 3:
          expect(m.delete(key)).toBe(model.map.delete(key));
          break;
        case 4: {
          m.deleteOldest();
          const oldest = model.oldest();
          if (oldest) model.map.delete(oldest[0]);
          break;
        }
        case 5: {
          const below = i - next(5000);
          m.dropOldestWhile((v) => v < below);
          for (let o = model.oldest(); o && o[1] < below; o = model.oldest()) model.map.delete(o[0]);
          break;
        }
      }
      expect(m.size).toBe(model.map.size);
      expect(m.oldest()).toEqual(model.oldest());
      expect(m.get(key)).toBe(model.map.get(key));
    }
  });
});
