import connectPgSimple from 'connect-pg-simple';
import session, { type SessionData } from 'express-session';
import type { Pool } from '../db/pool.js';

const PGStore = connectPgSimple(session);

/** A session row is written on a request at most this often when nothing in it changed. */
export const TOUCH_INTERVAL_MS = 60_000;

type Callback = (err?: unknown) => void;

/** Row expiry: the idle deadline from the cookie, never past the absolute end of the session. */
function expiresAt(sess: SessionData): Date {
  const idle = sess.cookie?.expires ? new Date(sess.cookie.expires).getTime() : Date.now();
  return new Date(sess.absoluteExpiresAt ? Math.min(idle, sess.absoluteExpiresAt) : idle);
}

/**
 * connect-pg-simple on our own `express_sessions` table (created by a migration). get/destroy and
 * friends are the library's; set and touch are ours so the row expiry honours the absolute timeout
 * and an unchanged session is written at most once a minute instead of on every request.
 */
export class SessionStore extends PGStore {
  constructor(
    private readonly pool: Pool,
    private readonly idleMs: number,
    errorLog: (...args: unknown[]) => void,
  ) {
    // Pruning is SessionSweeper's job: it also announces each end so sockets close.
    super({ pool, schemaName: 'public', tableName: 'express_sessions', createTableIfMissing: false, pruneSessionInterval: false, errorLog });
  }

  override set(sid: string, sess: SessionData, callback?: Callback): void {
    this.pool
      .query(
        `INSERT INTO express_sessions (sid, sess, expire) VALUES ($1, $2, $3)
         ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expire = EXCLUDED.expire`,
        [sid, JSON.stringify(sess), expiresAt(sess)],
      )
      .then(() => callback?.(), (err) => callback?.(err));
  }

  override touch(sid: string, sess: SessionData, callback?: Callback): void {
    const expire = expiresAt(sess);
    // The WHERE clause makes the database skip the write unless the row is a minute stale.
    this.pool
      .query(`UPDATE express_sessions SET expire = $2 WHERE sid = $1 AND expire < $3`, [
        sid,
        expire,
        new Date(expire.getTime() - TOUCH_INTERVAL_MS),
      ])
      .then(() => callback?.(), (err) => callback?.(err));
  }

  /**
   * Activity that is not an HTTP request (a socket event) keeps the session alive, with the same
   * once-a-minute write. Resolves false when the session no longer exists.
   */
  async keepAlive(sid: string, absoluteExpiresAt: number | undefined): Promise<boolean> {
    const expire = new Date(Math.min(Date.now() + this.idleMs, absoluteExpiresAt ?? Infinity));
    const { rows } = await this.pool.query<{ n: number }>(
      `WITH live AS (SELECT sid, expire FROM express_sessions WHERE sid = $1 AND expire >= now()),
       touched AS (UPDATE express_sessions e SET expire = $2 FROM live WHERE e.sid = live.sid AND live.expire < $3)
       SELECT count(*)::int AS n FROM live`,
      [sid, expire, new Date(expire.getTime() - TOUCH_INTERVAL_MS)],
    );
    return rows[0]!.n === 1;
  }
}
