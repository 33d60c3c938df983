/** SlicedPass: whole-collection work a slice per turn of the event loop. */
import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { runToEnd, SlicedPass } from '../../src/sliced.js';

/** A pass over `map` that deletes each entry it visits, each step costing `cost`. */
function deleter(map: Map<number, number>, seen: number[], cost = 1) {
  return function* () {
    for (const [k] of map) {
      map.delete(k);
      seen.push(k);
      yield cost;
    }
  };
}

describe('SlicedPass', () => {
  it('runs `units` of work per turn, the first slice at once, to the end', async () => {
    const map = new Map(Array.from({ length: 10 }, (_, i) => [i, i]));
    const seen: number[] = [];
    const errors: unknown[] = [];
    const pass = new SlicedPass(deleter(map, seen, 2), 6, (e) => errors.push(e));
    pass.start();
    expect(seen).toEqual([0, 1, 2]); // 3 steps of 2 units
    expect(pass.active).toBe(true);
    await turn();
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
    for (let i = 0; i < 5 && pass.active; i++) await turn();
    expect(pass.active).toBe(false);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(errors).toEqual([]);
  });

  it('skips entries deleted meanwhile and visits ones added meanwhile', async () => {
    const map = new Map(Array.from({ length: 6 }, (_, i) => [i, i]));
    const seen: number[] = [];
    const pass = new SlicedPass(deleter(map, seen), 2, () => {});
    pass.start();
    map.delete(4);
    map.set(99, 99);
    for (let i = 0; i < 10 && pass.active; i++) await turn();
    expect(seen).toEqual([0, 1, 2, 3, 5, 99]);
  });

  it('start while a pass is under way does nothing; stop ends it where it is', async () => {
    const map = new Map(Array.from({ length: 10 }, (_, i) => [i, i]));
    const seen: number[] = [];
    let passes = 0;
    const steps = deleter(map, seen);
    const pass = new SlicedPass(
      () => {
        passes++;
        return steps();
      },
      3,
      () => {},
    );
    pass.start();
    pass.start();
    expect(passes).toBe(1);
    expect(seen).toEqual([0, 1, 2]);
    pass.stop();
    expect(pass.active).toBe(false);
    await turn();
    await turn();
    expect(seen).toEqual([0, 1, 2]);
    pass.start(); // a new pass after a stop
    expect(passes).toBe(2);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
    pass.stop();
  });

  it('a step that stops its own pass ends it there', async () => {
    const seen: number[] = [];
    const pass: SlicedPass = new SlicedPass(
      function* () {
        for (let i = 0; i < 10; i++) {
          seen.push(i);
          if (i === 2) pass.stop();
          yield 1;
        }
      },
      100,
      () => {},
    );
    pass.start();
    await turn();
    expect(seen).toEqual([0, 1, 2]);
    expect(pass.active).toBe(false);
  });

  it('a step that throws ends the pass and is reported, not thrown', async () => {
    const errors: unknown[] = [];
    const boom = new Error('boom');
    const pass = new SlicedPass(
      function* () {
        yield 1;
        throw boom;
      },
      1,
      (e) => errors.push(e),
    );
    expect(() => pass.start()).not.toThrow();
    await turn();
    expect(errors).toEqual([boom]);
    expect(pass.active).toBe(false);
  });

  it('runToEnd does every step at once and returns the result', () => {
    const map = new Map([[1, 1]]);
    const seen: number[] = [];
    function* counted() {
      yield* deleter(map, seen)();
      return seen.length;
    }
    expect(runToEnd(counted())).toBe(1);
  });
});
