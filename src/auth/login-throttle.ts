import { AppError } from '../http/errors.js';
import type { Pool } from '../db/pool.js';

export class TooManyAttempts extends AppError {
  constructor(retryAfterSeconds: number) {
    super(429, 'too_many_attempts', 'Too many failed sign-in attempts. Please wait before trying again.', undefined, {
      'Retry-After': String(retryAfterSeconds),
    });
  }
}

export interface ThrottleRules {
  /** Consecutive failures of one login from one IP before that pair waits. */
  maxFailures: number;
  /** Failures one IP may make in 24 h, across logins, before it is blocked until the day is over. */
  ipDailyFailures: number;
}

/** First wait of a login+IP pair; it doubles with each further failure up to PAIR_MAX_DELAY_S. */
export const PAIR_BASE_DELAY_S = 30;
export const PAIR_MAX_DELAY_S = 15 * 60;
/** A login failing from many IPs: from LOGIN_DELAY_FACTOR x maxFailures on, a delay of 1, 2, 4... s capped at a minute: never a lock. */
export const LOGIN_DELAY_FACTOR = 2;
export const LOGIN_MAX_DELAY_S = 60;

const keys = (login: string, ip: string) => ({ pair: `pair:${login}|${ip}`, ip: `ip:${ip}`, login: `login:${login}` });

/**
 * Failed-attempt counters in PostgreSQL (login_throttle), so they hold across restarts and processes.
 * `login` is the canonical subject: the user's login when the identifier names one, else what was
 * typed, normalised, so an unknown login is counted exactly like a known one.
 */
export class LoginThrottle {
  constructor(
    private readonly pool: Pool,
    private readonly rules: ThrottleRules,
  ) {}

  /** Throws TooManyAttempts (429 + Retry-After) while any counter blocks this attempt. */
  async check(login: string, ip: string): Promise<void> {
    const k = keys(login, ip);
    const { rows } = await this.pool.query<{ wait: number | null }>(
      `SELECT ceil(extract(epoch FROM max(blocked_until) - now()))::int AS wait
       FROM login_throttle
       WHERE blocked_until > now()
         AND (key = $1 OR key = $2
              -- the per-login delay spares IPs this login has signed in from before
              OR (key = $3 AND NOT EXISTS (SELECT 1 FROM login_known_ips WHERE login = $4 AND ip = $5)))`,
      [k.pair, k.ip, k.login, login, ip],
    );
    const wait = rows[0]?.wait;
    if (wait && wait > 0) throw new TooManyAttempts(wait);
  }

  /** Counts one failure on all three counters in one atomic statement (racing failures all count). */
  async recordFailure(login: string, ip: string): Promise<void> {
    const k = keys(login, ip);
    const { maxFailures, ipDailyFailures } = this.rules;
    const loginThreshold = maxFailures * LOGIN_DELAY_FACTOR;
    // When a key blocks, given its failure count n (after this one) and the start of its window.
    const block = (key: string, n: string, windowStart: string) => `CASE
        WHEN starts_with(${key}, 'pair:') AND ${n} >= ${maxFailures}
          THEN now() + least(${PAIR_MAX_DELAY_S}, ${PAIR_BASE_DELAY_S} * power(2, ${n} - ${maxFailures})) * interval '1 second'
        WHEN starts_with(${key}, 'ip:') AND ${n} >= ${ipDailyFailures}
          THEN ${windowStart} + interval '24 hours'
        WHEN starts_with(${key}, 'login:') AND ${n} >= ${loginThreshold}
          THEN now() + least(${LOGIN_MAX_DELAY_S}, power(2, ${n} - ${loginThreshold})) * interval '1 second'
      END`;
    // Counters start over after a quiet day.
    const stale = `t.window_started_at < now() - interval '24 hours'`;
    const n = `(CASE WHEN ${stale} THEN 1 ELSE t.failures + 1 END)`;
    const windowStart = `(CASE WHEN ${stale} THEN now() ELSE t.window_started_at END)`;
    await this.pool.query(
      `INSERT INTO login_throttle AS t (key, failures, window_started_at, last_failure_at, blocked_until)
       SELECT key, 1, now(), now(), ${block('key', '1', 'now()')} FROM unnest($1::text[]) AS k(key)
       ON CONFLICT (key) DO UPDATE SET
         failures = ${n},
         window_started_at = ${windowStart},
         last_failure_at = now(),
         blocked_until = ${block('t.key', n, windowStart)}`,
      [[k.pair, k.ip, k.login]],
    );
  }

  /** A success clears the login+IP count and remembers the IP for this login. */
  async recordSuccess(login: string, ip: string): Promise<void> {
    await this.pool.query(
      `WITH cleared AS (DELETE FROM login_throttle WHERE key = $1)
       INSERT INTO login_known_ips (login, ip) VALUES ($2, $3)
       ON CONFLICT (login, ip) DO UPDATE SET last_success_at = now()`,
      [keys(login, ip).pair, login, ip],
    );
  }

  /** Administrator's unlock: clears every counter about this login (and its email), whatever the IP. */
  async unlock(subjects: string[]): Promise<number> {
    const { rowCount } = await this.pool.query(
      `DELETE FROM login_throttle t USING unnest($1::text[]) AS s(subject)
       WHERE t.key = 'login:' || s.subject OR starts_with(t.key, 'pair:' || s.subject || '|')`,
      [subjects],
    );
    return rowCount ?? 0;
  }

  /** The blocking state of logins, for the admin page. */
  async lockState(subjects: string[]): Promise<Map<string, { failures: number; blockedUntil: Date | null }>> {
    const { rows } = await this.pool.query<{ subject: string; failures: number; blocked_until: Date | null }>(
      `SELECT s.subject, coalesce(max(t.failures), 0)::int AS failures, max(t.blocked_until) FILTER (WHERE t.blocked_until > now()) AS blocked_until
       FROM unnest($1::text[]) AS s(subject)
       JOIN login_throttle t ON t.key = 'login:' || s.subject OR starts_with(t.key, 'pair:' || s.subject || '|')
       GROUP BY s.subject`,
      [subjects],
    );
    return new Map(rows.map((r) => [r.subject, { failures: r.failures, blockedUntil: r.blocked_until }]));
  }
}
