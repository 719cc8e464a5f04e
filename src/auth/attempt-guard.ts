import { AppError } from '../http/errors.js';
import type { Pool, PoolClient, Queryable } from '../db/pool.js';

export class TooManyAttempts extends AppError {
  constructor(retryAfterSeconds: number, message = 'errors.too_many_attempts') {
    super(429, 'too_many_attempts', message, undefined, { 'Retry-After': String(Math.max(1, retryAfterSeconds)) });
  }
}

export interface GuardRules {
  /** Consecutive failures of one subject from one IP before that pair waits. */
  maxFailures: number;
  /** Failures one IP may make in 24 h, across subjects, before it is blocked until the day is over. */
  ipDailyFailures: number;
}

/** Who is trying: the canonical subject (a login, `confirm:<email>`...), the IP, and the device if known. */
export interface Attempter {
  subject: string;
  ip: string;
  /** The hashed device cookie (browser) or fingerprint (app), when there is one. */
  deviceHash?: string;
}

/** First wait of a subject+IP pair; it doubles with each further failure up to PAIR_MAX_DELAY_S. */
export const PAIR_BASE_DELAY_S = 30;
export const PAIR_MAX_DELAY_S = 15 * 60;
/** A subject failing from many IPs: from LOGIN_DELAY_FACTOR x maxFailures on, a delay of 1, 2, 4... s capped at a minute: never a lock. */
export const LOGIN_DELAY_FACTOR = 2;
export const LOGIN_MAX_DELAY_S = 60;

// Sorted the same way everywhere ('ip:' < 'login:' < 'pair:'), so racing reservations lock rows in one order.
const keys = (subject: string, ip: string) => ({ ip: `ip:${ip}`, login: `login:${subject}`, pair: `pair:${subject}|${ip}` });

/**
 * The one guard for every secret check (password sign-in on both routes, the current password on
 * account forms, emailed codes, and what comes later): an attempt is counted before its secret is
 * checked, and whether it may be checked at all is decided under the same row locks, so however many
 * attempts arrive at once, at most the limit of them are checked. A success releases what it reserved.
 * Counters live in PostgreSQL (login_throttle), so they hold across restarts and processes.
 */
export class AttemptGuard {
  private readonly loginThreshold: number;
  private reserveText: string | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly rules: GuardRules,
  ) {
    this.loginThreshold = rules.maxFailures * LOGIN_DELAY_FACTOR;
  }

  /**
   * Reserves an attempt, runs the check, and releases the reservation when the check succeeds.
   * Throws TooManyAttempts (no check is run) while a counter blocks. Resolves what the check did.
   * `settle` judges a truthy outcome: `release` (a success: the default), `giveBack` (not a failure,
   * but not yet a success that clears the count: a right password still waiting for its second
   * factor) or `fail` (counted, like a falsy outcome: a right password with a wrong code), or
   * `caller` (a success the caller releases inside the transaction it starts next: `releaseIn`).
   */
  async attempt<T>(who: Attempter, check: () => Promise<T | false | undefined>, settle?: (outcome: T) => 'release' | 'giveBack' | 'fail' | 'caller'): Promise<T | undefined> {
    await this.reserve(who);
    const outcome = await check();
    if (!outcome) return undefined;
    const how = settle?.(outcome) ?? 'release';
    if (how === 'release') await this.release(who);
    else if (how === 'giveBack') await this.giveBack(who);
    return outcome;
  }

  /**
   * Counts one attempt on all three counters, or throws TooManyAttempts and counts nothing. One
   * statement locks the counters in key order, judges them on their latest values, and counts the
   * attempt only if none blocks and all three exist. A success resets its pair's count rather than
   * deleting the row, so a returning user's counters all exist and this is one round trip; when one
   * is missing (a first attempt from an IP), nothing was counted: the missing ones are made
   * (committed, so every racing attempt locks the same rows) and the statement runs again.
   */
  async reserve(who: Attempter): Promise<void> {
    const k = keys(who.subject, who.ip);
    const all = [k.ip, k.login, k.pair];
    for (let round = 0; ; round++) {
      const { rows } = await this.pool.query<{ found: number; blocked: boolean; wait: number | null }>(this.reserveSql, [all, who.subject, who.ip, who.deviceHash ?? null, k.pair, k.ip, k.login]);
      const { found, blocked, wait } = rows[0]!;
      if (blocked) throw new TooManyAttempts(wait ?? 1);
      if (found === all.length) return;
      // Only an administrator's unlock, deleting the rows again between the two, makes this go round twice.
      if (round === 3) throw new Error('login_throttle: counters vanished while being reserved');
      await this.pool.query(
        `INSERT INTO login_throttle (key, failures) SELECT key, 0 FROM unnest($1::text[]) AS k(key) ORDER BY key ON CONFLICT (key) DO NOTHING`,
        [all],
      );
    }
  }

  /** reserve()'s statement: $1 the three keys, $2 the subject, $3 the IP, $4 the device hash, $5..$7 the pair, IP and subject keys. */
  private get reserveSql(): string {
    if (this.reserveText) return this.reserveText;
    const { maxFailures, ipDailyFailures } = this.rules;
    // When a key blocks, given its failure count n (after this attempt) and the start of its window.
    const stale = `t.window_started_at < now() - interval '24 hours'`;
    const n = `(CASE WHEN ${stale} THEN 1 ELSE t.failures + 1 END)`;
    const windowStart = `(CASE WHEN ${stale} THEN now() ELSE t.window_started_at END)`;
    return (this.reserveText = `WITH counters AS (
         SELECT key, blocked_until > now() AS blocked, ceil(extract(epoch FROM blocked_until - now()))::int AS wait
           FROM login_throttle WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE),
       found AS (SELECT count(*)::int AS n FROM counters),
       -- the per-subject delay spares an IP or a device this subject has signed in from before
       known AS (
         SELECT EXISTS (SELECT 1 FROM login_known_ips WHERE login = $2 AND ip = $3)
             OR ($4::text IS NOT NULL AND EXISTS (SELECT 1 FROM user_devices d JOIN users u ON u.id = d.user_id WHERE u.login = $2 AND d.device_hash = $4)) AS known),
       blocking AS (
         SELECT c.wait FROM counters c, known WHERE c.blocked AND (c.key <> $7 OR NOT known.known)),
       counted AS (
         UPDATE login_throttle t SET
           failures = ${n},
           window_started_at = ${windowStart},
           last_failure_at = now(),
           blocked_until = CASE
             WHEN t.key = $5 AND ${n} >= ${maxFailures}
               THEN now() + least(${PAIR_MAX_DELAY_S}, ${PAIR_BASE_DELAY_S} * power(2, ${n} - ${maxFailures})) * interval '1 second'
             WHEN t.key = $6 AND ${n} >= ${ipDailyFailures} THEN ${windowStart} + interval '24 hours'
             WHEN t.key = $7 AND ${n} >= ${this.loginThreshold}
               THEN now() + least(${LOGIN_MAX_DELAY_S}, power(2, ${n} - ${this.loginThreshold})) * interval '1 second'
           END
          WHERE t.key IN (SELECT key FROM counters) AND NOT EXISTS (SELECT 1 FROM blocking) AND (SELECT n FROM found) = 3)
       SELECT (SELECT n FROM found) AS found, EXISTS (SELECT 1 FROM blocking) AS blocked, (SELECT max(coalesce(wait, 1)) FROM blocking) AS wait`);
  }

  /**
   * A success: clears the subject+IP count, gives back the IP's and the subject's reservation, and
   * remembers the IP as the subject's own (the device is remembered when the sign-in starts).
   */
  async release(who: Attempter, db: Queryable = this.pool): Promise<void> {
    const k = keys(who.subject, who.ip);
    await db.query(
      // The counters are locked first, in key order like reserve() does, so the two never deadlock.
      `WITH locked AS (SELECT key FROM login_throttle WHERE key = ANY($8::text[]) ORDER BY key FOR UPDATE),
       -- reset, not deleted: the next sign-in from here finds all its counters (reserve() in one statement)
       cleared AS (
         UPDATE login_throttle SET failures = 0, blocked_until = NULL, window_started_at = now()
          WHERE key = $1 AND key IN (SELECT key FROM locked)),
       undone AS (
         UPDATE login_throttle SET failures = greatest(failures - 1, 0),
                blocked_until = CASE WHEN failures - 1 < (CASE WHEN key = $2 THEN $6::int ELSE $7::int END) THEN NULL ELSE blocked_until END
          WHERE key IN ($2, $3) AND key IN (SELECT key FROM locked))
       INSERT INTO login_known_ips (login, ip) VALUES ($4, $5) ON CONFLICT (login, ip) DO UPDATE SET last_success_at = now()`,
      [k.pair, k.ip, k.login, who.subject, who.ip, this.rules.ipDailyFailures, this.loginThreshold, [k.ip, k.login, k.pair]],
    );
  }

  /**
   * release() as a step of the caller's transaction (the sign-in a success starts): one commit
   * fewer (the statement itself is still sent), and a sign-in refused when it completes (its password changed meanwhile)
   * keeps its attempt counted. Run it last there: the counters stay locked until the commit.
   */
  releaseIn(who: Attempter): (tx: Queryable) => Promise<void> {
    return (tx) => this.release(who, tx);
  }

  /** Gives back what reserve() counted on all three counters, clearing nothing (the right password of a half sign-in). */
  async giveBack(who: Attempter): Promise<void> {
    const k = keys(who.subject, who.ip);
    await this.pool.query(
      `WITH locked AS (SELECT key FROM login_throttle WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE)
       UPDATE login_throttle SET failures = greatest(failures - 1, 0),
              blocked_until = CASE WHEN failures - 1 < (CASE WHEN key = $2 THEN $3::int WHEN key = $4 THEN $5::int ELSE $6::int END) THEN NULL ELSE blocked_until END
        WHERE key IN (SELECT key FROM locked)`,
      [[k.ip, k.login, k.pair], k.ip, this.rules.ipDailyFailures, k.login, this.loginThreshold, this.rules.maxFailures],
    );
  }

  /** Forgets counters quiet for over a day that block nothing (the window has started over anyway). */
  async pruneStale(): Promise<number> {
    const { rowCount } = await this.pool.query(
      `DELETE FROM login_throttle WHERE last_failure_at < now() - interval '25 hours' AND (blocked_until IS NULL OR blocked_until < now())`,
    );
    return rowCount ?? 0;
  }

  /** A deleted account: its counters and known IPs go, so the login starts afresh if taken again. */
  async forgetSubjects(client: Pick<PoolClient, 'query'>, subjects: string[]): Promise<void> {
    await this.unlock(subjects, client);
    await client.query('DELETE FROM login_known_ips WHERE login = ANY($1::text[])', [subjects]);
  }

  /** Administrator's unlock: clears every counter about these subjects (a login and its email), whatever the IP. */
  async unlock(subjects: string[], client: Pick<Pool | PoolClient, 'query'> = this.pool): Promise<number> {
    const { rowCount } = await client.query(
      `DELETE FROM login_throttle t USING unnest($1::text[]) AS s(subject)
       WHERE t.key = 'login:' || s.subject OR starts_with(t.key, 'pair:' || s.subject || '|')`,
      [subjects],
    );
    return rowCount ?? 0;
  }

  /** The blocking state of subjects, for the admin page. */
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
