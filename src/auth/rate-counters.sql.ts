import type { Pool, Queryable } from '../db/pool.js';

/**
 * rate_counters: fixed-window counts of requests (not failures) per key, for rules such as
 * registrations per IP an hour. One atomic upsert decides, so racing requests cannot pass the limit.
 */
export class RateCounters {
  constructor(private readonly pool: Pool) {}

  /** Counts one hit; resolves the seconds to wait when it is over the limit, or 0 when it may go on. */
  async hit(key: string, limit: number, windowSeconds: number, db: Queryable = this.pool): Promise<number> {
    const { rows } = await db.query<{ hits: number; wait: number }>(
      `INSERT INTO rate_counters AS c (key, hits, window_started_at) VALUES ($1, 1, now())
       ON CONFLICT (key) DO UPDATE SET
         hits = CASE WHEN c.window_started_at <= now() - $2 * interval '1 second' THEN 1 ELSE c.hits + 1 END,
         window_started_at = CASE WHEN c.window_started_at <= now() - $2 * interval '1 second' THEN now() ELSE c.window_started_at END
       RETURNING hits, ceil(extract(epoch FROM window_started_at + $2 * interval '1 second' - now()))::int AS wait`,
      [key, windowSeconds],
    );
    const row = rows[0]!;
    return row.hits > limit ? Math.max(1, row.wait) : 0;
  }

  /** Forgets windows that ended long ago. */
  async pruneStale(): Promise<number> {
    const { rowCount } = await this.pool.query(`DELETE FROM rate_counters WHERE window_started_at < now() - interval '1 day'`);
    return rowCount ?? 0;
  }
}
