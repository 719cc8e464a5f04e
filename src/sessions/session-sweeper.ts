import type { Logger } from '../logger.js';
import { describeDbError } from '../db/pool.js';
import type { SessionEnding } from './session-ending.js';

/**
 * The one periodic job for expired sessions: removes their rows and, through SessionEnding,
 * announces each end. Several processes may each run it; DELETE ... RETURNING hands every row to one.
 */
export function startSessionSweeper(ending: SessionEnding, logger: Logger, intervalMs = 15_000): { stop(): void } {
  let running = false;
  const timer = setInterval(async () => {
    if (running) return;
    running = true;
    try {
      const ended = await ending.endExpired();
      if (ended) logger.info({ ended }, 'expired sessions ended');
    } catch (err) {
      logger.warn({ err: describeDbError(err) }, 'sweeping expired sessions failed; will retry');
    } finally {
      running = false;
    }
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
