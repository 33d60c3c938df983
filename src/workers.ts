/**
 * `workers` > 1: the primary process forks that many workers, which share the
 * listening port (node:cluster) and each run a full relay on the same Redis.
 * A worker that dies unexpectedly is replaced after a short delay; on
 * SIGTERM/SIGINT the primary asks every worker to shut down gracefully and
 * exits once they have (or after shutdownTimeout plus a margin).
 */
import cluster, { type Worker } from 'node:cluster';
import type { Config } from './config.js';
import type { Logger } from './logger.js';

const RESPAWN_DELAY_MS = 1000;

export function isWorker(): boolean {
  return cluster.isWorker;
}

export async function runPrimary(
  config: Config,
  logger: Logger,
  signal: Promise<string>,
): Promise<number> {
  let stopping = false;
  const log = logger.child({ component: 'primary' });
  const spawn = (): Worker => {
    const worker = cluster.fork();
    worker.on('exit', (code, sig) => {
      if (stopping) return;
      log.error({ worker: worker.process.pid, code, signal: sig }, 'worker died; starting another');
      setTimeout(() => !stopping && spawn(), RESPAWN_DELAY_MS);
    });
    return worker;
  };
  for (let i = 0; i < config.workers; i++) spawn();
  log.info({ workers: config.workers }, 'primary started');

  const received = await signal;
  stopping = true;
  log.info({ signal: received }, 'stopping workers');
  const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => Boolean(w));
  const exited = Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.isDead()) return resolve();
          w.once('exit', () => resolve());
          w.process.kill('SIGTERM');
        }),
    ),
  );
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), config.shutdownTimeout * 1000 + 2000);
  });
  const outcome = await Promise.race([exited, deadline]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    log.error('workers did not stop in time; killing them');
    for (const w of workers) w.process.kill('SIGKILL');
    return 1;
  }
  log.info('stopped');
  return 0;
}
