import connectPgSimple from 'connect-pg-simple';
import session, { type SessionData } from 'express-session';
import { Batcher } from '../db/batcher.js';
import type { Pool, PoolClient } from '../db/pool.js';
import { ROLE_GRANTS_SQL } from '../roles/roles.sql.js';

const PGStore = connectPgSimple(session);

type Callback = (err?: unknown) => void;
type Queryable = Pick<Pool | PoolClient, 'query'>;

/** A session row as the lifecycle sees it when it ends one. */
export interface EndedSessionRow {
  sid: string;
  handle: string | null;
  user_id: number | null;
  expire: Date;
}

export interface LiveSessionRow {
  handle: string;
  expire: Date;
  sockets: number;
}

/**
 * How often an unchanged session row is rewritten: a sixtieth of the idle limit, between 1 s and a
 * minute. The row's expiry is written with that much slack, so a session used within the idle limit
 * is never ended for idleness, and one left alone ends at most this much after the limit.
 */
export function touchIntervalMs(idleMs: number): number {
  return Math.min(60_000, Math.max(1000, Math.floor(idleMs / 60)));
}

/**
 * express_sessions: connect-pg-simple's table (created by a migration) and every statement on it.
 * A statement that writes several rows locks them in sid order first, so no two of them deadlock.
 * get and destroy are the library's. A row is created only by the sign-in lifecycle (insert, inside
 * its transaction); set() only updates, so a request still under way when its session ends can
 * never bring the row back.
 */
/** A cached session is re-read from the database at least this often, whatever the announcements say. */
const CACHE_TRUST_MS = 60_000;
const CACHE_MAX = 50_000;

interface Cached {
  json: string;
  /** The row's expiry as last read or written (ms). */
  expire: number;
  readAt: number;
}

export class SessionStore extends PGStore {
  private readonly touchMs: number;
  /**
   * Sessions by id, so a signed-in request needs no query: trusted only while the sign-in bus is
   * connected (every process forgets an ended or restricted session when its change commits), and
   * never longer than CACHE_TRUST_MS.
   */
  private readonly cache = new Map<string, Cached>();
  private cacheOn = false;
  /** Bumped by every forget: a read that raced one is not cached. */
  private generation = 0;
  /** The expiry each session had when this request read it, so its touch needs no query when it is covered. */
  private readonly lastRead = new Map<string, number>();
  /** Rows just inserted by the lifecycle, with what was written, so express-session's save at the end of that request is skipped. */
  private readonly justInserted = new Map<string, string>();

  constructor(
    private readonly pool: Pool,
    private readonly idleMs: number,
    errorLog: (...args: unknown[]) => void,
  ) {
    // Pruning is the lifecycle's (the sweeper): it also closes the records and announces each end.
    super({ pool, schemaName: 'public', tableName: 'express_sessions', createTableIfMissing: false, pruneSessionInterval: false, errorLog });
    this.touchMs = touchIntervalMs(idleMs);
  }

  /** The row expiry for activity now: the idle deadline plus the touch slack, never past the absolute end. */
  private expiry(absoluteExpiresAt: number | undefined, now = Date.now()): Date {
    return new Date(Math.min(now + this.idleMs + this.touchMs, absoluteExpiresAt ?? Infinity));
  }

  /** Turns the cache on (the bus is connected, and starts from nothing) or off (it is not). */
  setCaching(on: boolean): void {
    this.cacheOn = on;
    this.generation += 1;
    this.cache.clear();
  }

  /** These sessions ended or changed elsewhere: read them from the database next time. */
  forget(sids: readonly string[]): void {
    this.generation += 1;
    for (const sid of sids) this.cache.delete(sid);
  }

  private remember(sid: string, json: string, expire: number, generation: number): void {
    if (!this.cacheOn || generation !== this.generation) return;
    this.cache.delete(sid);
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(sid, { json, expire, readAt: Date.now() });
  }

  override get(sid: string, callback: (err: unknown, session?: SessionData | null) => void): void {
    const now = Date.now();
    const hit = this.cacheOn ? this.cache.get(sid) : undefined;
    if (hit && hit.expire > now && now - hit.readAt < CACHE_TRUST_MS) {
      callback(null, JSON.parse(hit.json) as SessionData);
      return;
    }
    const generation = this.generation;
    this.reads.add(sid).then(
      (row) => {
        if (!row) {
          this.cache.delete(sid);
          return callback(null, null);
        }
        this.remember(sid, JSON.stringify(row.sess), row.expire.getTime(), generation);
        if (this.lastRead.size >= CACHE_MAX) this.lastRead.clear();
        this.lastRead.set(sid, row.expire.getTime());
        callback(null, row.sess);
      },
      (err) => callback(err),
    );
  }

  /**
   * Session reads asked in the same turn of the event loop (a busy server's crowd of requests and
   * handshakes) are one query; each is still read after it was asked.
   */
  private readonly reads = new Batcher<string, { sess: SessionData; expire: Date } | undefined>(
    async (sids) => {
      const { rows } = await this.pool.query<{ sid: string; sess: SessionData; expire: Date }>(
        'SELECT sid, sess, expire FROM express_sessions WHERE sid = ANY($1::text[]) AND expire >= now()',
        [sids],
      );
      const found = new Map(rows.map((r) => [r.sid, r]));
      // Two requests of one session in a batch each get their own copy (express-session mutates it).
      const given = new Set<string>();
      return sids.map((sid) => {
        const row = found.get(sid);
        if (row && given.has(sid)) return { sess: structuredClone(row.sess), expire: row.expire };
        given.add(sid);
        return row;
      });
    },
    { delayMs: 0, maxSize: 200 },
  );

  /**
   * Ids express-session made up in this process for a request that had no session (a sign-in
   * regenerates it at once): no row can hold them until the lifecycle inserts one, so destroying one
   * needs no query. Bounded; an id forgotten here is only deleted the usual way.
   */
  private readonly neverStored = new Set<string>();

  markGenerated(sid: string): void {
    if (this.neverStored.size >= CACHE_MAX) this.neverStored.clear();
    this.neverStored.add(sid);
  }

  override destroy(sid: string, callback?: Callback): void {
    if (this.neverStored.delete(sid)) {
      callback?.(null);
      return;
    }
    this.forget([sid]);
    this.lastRead.delete(sid);
    super.destroy(sid, callback);
  }

  /** Creates the row of a sign-in that is starting (called by the lifecycle inside its transaction). */
  async insert(client: Queryable, sid: string, sess: SessionData): Promise<void> {
    const json = JSON.stringify(sess);
    this.neverStored.delete(sid);
    await client.query('INSERT INTO express_sessions (sid, sess, expire) VALUES ($1, $2, $3)', [sid, json, this.expiry(sess.absoluteExpiresAt)]);
    this.justInserted.set(sid, json);
    // Bounded: an entry whose request never saved (an error) goes after a while.
    setTimeout(() => this.justInserted.delete(sid), 30_000).unref();
  }

  override set(sid: string, sess: SessionData, callback?: Callback): void {
    // Only a started sign-in has a row (and a handle): passport's save inside login has nothing to write.
    if (!sess.handle) {
      callback?.();
      return;
    }
    const json = JSON.stringify(sess);
    if (this.justInserted.get(sid) === json) {
      this.justInserted.delete(sid);
      callback?.();
      return;
    }
    this.justInserted.delete(sid);
    this.lastRead.delete(sid);
    const expire = this.expiry(sess.absoluteExpiresAt);
    const generation = this.generation;
    this.pool.query('UPDATE express_sessions SET sess = $2, expire = $3 WHERE sid = $1', [sid, json, expire]).then(
      ({ rowCount }) => {
        if (rowCount === 1) this.remember(sid, json, expire.getTime(), generation);
        callback?.();
      },
      (err) => callback?.(err),
    );
  }

  override touch(sid: string, sess: SessionData, callback?: Callback): void {
    this.extend(sid, sess.absoluteExpiresAt).then(() => callback?.(), (err) => callback?.(err));
  }

  /**
   * Writes the new expiry only when the stored one would not cover the idle limit from now; when the
   * cache knows the stored expiry covers it, not even a query is made.
   */
  private async extend(sid: string, absoluteExpiresAt: number | undefined): Promise<void> {
    const now = Date.now();
    const needed = Math.min(now + this.idleMs, absoluteExpiresAt ?? Infinity);
    const cached = this.cacheOn ? this.cache.get(sid) : undefined;
    const readNow = this.lastRead.get(sid);
    this.lastRead.delete(sid);
    if ((cached?.expire ?? readNow ?? 0) >= needed) return;
    const expire = this.expiry(absoluteExpiresAt, now);
    const { rowCount } = await this.pool.query('UPDATE express_sessions SET expire = $2 WHERE sid = $1 AND expire >= now() AND expire < $3', [
      sid,
      expire,
      new Date(needed),
    ]);
    if (rowCount === 1 && cached) cached.expire = expire.getTime();
  }

  /**
   * Activity that is not an HTTP request (a socket event) keeps the session alive, with the same
   * rule as touch. Resolves false when the session no longer exists.
   */
  async keepAlive(sid: string, absoluteExpiresAt: number | undefined): Promise<boolean> {
    // Always asked of the database: a socket event is also the check that its session still lives.
    const now = Date.now();
    const { rows } = await this.pool.query<{ n: number }>(
      `WITH live AS (SELECT sid, expire FROM express_sessions WHERE sid = $1 AND expire >= now()),
       touched AS (UPDATE express_sessions e SET expire = $2 FROM live WHERE e.sid = live.sid AND live.expire < $3)
       SELECT count(*)::int AS n FROM live`,
      [sid, this.expiry(absoluteExpiresAt, now), new Date(Math.min(now + this.idleMs, absoluteExpiresAt ?? Infinity))],
    );
    return rows[0]!.n === 1;
  }

  private async deleteWhere(client: Queryable, where: string, params: unknown[]): Promise<EndedSessionRow[]> {
    const { rows } = await client.query<EndedSessionRow>(
      `WITH locked AS MATERIALIZED (SELECT sid FROM express_sessions WHERE ${where} ORDER BY sid FOR UPDATE)
       DELETE FROM express_sessions WHERE sid IN (SELECT sid FROM locked) RETURNING sid, handle, user_id, expire`,
      params,
    );
    return rows;
  }

  deleteBySid(client: Queryable, sid: string): Promise<EndedSessionRow[]> {
    return this.deleteWhere(client, 'sid = $1', [sid]);
  }

  deleteByHandle(client: Queryable, userId: number, handle: string): Promise<EndedSessionRow[]> {
    return this.deleteWhere(client, 'user_id = $1 AND handle = $2', [userId, handle]);
  }

  deleteByUser(client: Queryable, userId: number, exceptSid?: string): Promise<EndedSessionRow[]> {
    return this.deleteWhere(client, 'user_id = $1 AND sid IS DISTINCT FROM $2', [userId, exceptSid ?? null]);
  }

  deleteExpired(client: Queryable): Promise<EndedSessionRow[]> {
    return this.deleteWhere(client, 'expire < now()', []);
  }

  /** Restricts every live session of the user to the password form; returns their ids. */
  async restrictAllForUser(client: Queryable, userId: number): Promise<string[]> {
    const { rows } = await client.query<{ sid: string }>(
      `WITH locked AS MATERIALIZED (SELECT sid FROM express_sessions WHERE user_id = $1 ORDER BY sid FOR UPDATE)
       UPDATE express_sessions SET sess = jsonb_set(sess::jsonb, '{passwordExpired}', 'true')::json WHERE sid IN (SELECT sid FROM locked) RETURNING sid`,
      [userId],
    );
    return rows.map((r) => r.sid);
  }

  /** Puts the user's current role grants into each of their live sessions (a role change applies at their next request). */
  async refreshStoredUser(client: Queryable, userId: number): Promise<string[]> {
    const { rows } = await client.query<{ sid: string }>(
      `WITH locked AS MATERIALIZED (SELECT sid FROM express_sessions WHERE user_id = $1 ORDER BY sid FOR UPDATE)
       UPDATE express_sessions e
          SET sess = jsonb_set(jsonb_set(e.sess::jsonb, '{passport,user,grants}', (${ROLE_GRANTS_SQL})::jsonb), '{passport,user,email}', to_jsonb(users.email))::json
         FROM users WHERE users.id = e.user_id AND e.sid IN (SELECT sid FROM locked) RETURNING e.sid`,
      [userId],
    );
    return rows.map((r) => r.sid);
  }

  /** The user's live sessions with their expiry and open sockets. */
  async liveForUser(userId: number): Promise<LiveSessionRow[]> {
    const { rows } = await this.pool.query<LiveSessionRow>(
      `SELECT handle, expire, cardinality(socket_ids) AS sockets FROM express_sessions
        WHERE user_id = $1 AND handle IS NOT NULL AND expire >= now()`,
      [userId],
    );
    return rows;
  }

  /**
   * Records a socket on its live session; false when the session has ended (the socket is refused).
   * Sockets connecting together are recorded in one statement (one round trip, one commit).
   */
  attachSocket(sid: string, socketId: string): Promise<boolean> {
    return this.attachments.add({ sid, socketId });
  }

  private readonly attachments = new Batcher<{ sid: string; socketId: string }, boolean>(
    async (items) => {
      const { rows } = await this.pool.query<{ sid: string }>(
        // The rows are locked in sid order first: two batches naming the same sessions (a crowd of
        // tabs and reconnects) would otherwise lock them in join order, and deadlock.
        `WITH input AS (
           SELECT sid, array_agg(socket_id) AS ids FROM unnest($1::text[], $2::text[]) AS t(sid, socket_id) GROUP BY sid
         ),
         locked AS MATERIALIZED (
           SELECT sid FROM express_sessions WHERE sid IN (SELECT sid FROM input) ORDER BY sid FOR UPDATE
         )
         UPDATE express_sessions s
            SET socket_ids = ARRAY(SELECT id FROM unnest(s.socket_ids) AS id WHERE id <> ALL (input.ids)) || input.ids
           FROM input JOIN locked USING (sid)
          WHERE s.sid = input.sid AND s.expire >= now()
         RETURNING s.sid`,
        [items.map((i) => i.sid), items.map((i) => i.socketId)],
      );
      const live = new Set(rows.map((r) => r.sid));
      return items.map((i) => live.has(i.sid));
    },
    { delayMs: 10, maxSize: 500 },
  );

  /** Forgets a socket of a session; sockets closing together are forgotten in one statement. */
  async detachSocket(sid: string, socketId: string): Promise<void> {
    await this.detachments.add({ sid, socketId });
  }

  private readonly detachments = new Batcher<{ sid: string; socketId: string }, void>(
    async (items) => {
      await this.pool.query(
        // Locked in sid order first, as attachments are.
        `WITH input AS (
           SELECT sid, array_agg(socket_id) AS ids FROM unnest($1::text[], $2::text[]) AS t(sid, socket_id) GROUP BY sid
         ),
         locked AS MATERIALIZED (
           SELECT sid FROM express_sessions WHERE sid IN (SELECT sid FROM input) ORDER BY sid FOR UPDATE
         )
         UPDATE express_sessions s
            SET socket_ids = ARRAY(SELECT id FROM unnest(s.socket_ids) AS id WHERE id <> ALL (input.ids))
           FROM input JOIN locked USING (sid)
          WHERE s.sid = input.sid`,
        [items.map((i) => i.sid), items.map((i) => i.socketId)],
      );
      return items.map(() => undefined);
    },
    { delayMs: 10, maxSize: 500 },
  );

  async recordedSocketIds(): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>('SELECT unnest(socket_ids) AS id FROM express_sessions WHERE cardinality(socket_ids) > 0');
    return rows.map((r) => r.id);
  }

  /** Drops socket ids that no process holds any more (a crashed process could not). */
  async forgetSockets(socketIds: string[]): Promise<void> {
    if (!socketIds.length) return;
    await this.pool.query(
      `WITH locked AS MATERIALIZED (SELECT sid FROM express_sessions WHERE socket_ids && $1::text[] ORDER BY sid FOR UPDATE)
       UPDATE express_sessions SET socket_ids = ARRAY(SELECT unnest(socket_ids) EXCEPT SELECT unnest($1::text[]))
        WHERE sid IN (SELECT sid FROM locked)`,
      [socketIds],
    );
  }
}
