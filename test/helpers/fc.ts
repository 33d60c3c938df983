/**
 * fast-check runs that can be replayed: the seed comes from FC_SEED when set,
 * else from the clock, and is printed before the run, so a failure in CI
 * names the seed that reproduces it (FC_SEED=<seed> npm test).
 */
import fc from 'fast-check';

export function replayable(name: string, numRuns: number): fc.Parameters<unknown> {
  const seed = process.env.FC_SEED
    ? Number(process.env.FC_SEED)
    : Date.now() ^ (Math.random() * 2 ** 31);
  console.log(`fast-check "${name}": seed ${seed} (replay with FC_SEED=${seed})`);
  return { seed, numRuns, endOnFailure: true };
}
