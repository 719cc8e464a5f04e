import type { Logger } from '../logger.js';
import { describeDbError } from '../db/pool.js';
import type { SignIns } from './sign-ins.js';

/**
 * The one periodic job for expired sign-ins: through the lifecycle it removes expired session rows,
 * closes token families that ran out, and announces each end. Several processes may each run it;
 * DELETE ... RETURNING hands every row to one.
 */
export function startSessionSweeper(
  signIns: SignIns,
  logger: Logger,
  options: { intervalMs?: number; /** Hourly housekeeping of counters (attempts, rates). */ prune?: () => Promise<void> } = {},
): { stop(): void } {
  const intervalMs = options.intervalMs ?? 15_000;
  let running = false;
  let lastPrune = Date.now();
  const timer = setInterval(async () => {
    if (running) return;
    running = true;
    try {
      const ended = await signIns.endExpired();
      if (ended) logger.info({ ended }, 'expired sign-ins ended');
      if (options.prune && Date.now() - lastPrune > 3_600_000) {
        lastPrune = Date.now();
        await options.prune();
      }
    } catch (err) {
      logger.warn({ err: describeDbError(err) }, 'sweeping expired sign-ins failed; will retry');
    } finally {
      running = false;
    }
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
