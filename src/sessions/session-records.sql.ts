import type { Pool } from '../db/pool.js';

export interface LiveSession {
  handle: string;
  startedAt: Date;
  lastSeenAt: Date;
  ip: string | null;
  userAgent: string | null;
  sockets: number;
}

/** security.sessions: one record per sign-in, joined to express_sessions for the live ones. */
export class SessionRecords {
  constructor(
    private readonly pool: Pool,
    private readonly idleMs: number,
  ) {}

  async start(record: { handle: string; userId: number; ip: string | undefined; userAgent: string | undefined }): Promise<void> {
    await this.pool.query(
      `WITH s AS (INSERT INTO security.sessions (handle, user_id, ip, user_agent) VALUES ($1, $2, $3, $4))
       INSERT INTO security.events (type, user_id, session_handle, ip) VALUES ('sign_in', $2, $1, $3)`,
      [record.handle, record.userId, record.ip ?? null, record.userAgent?.slice(0, 512) ?? null],
    );
  }

  /** The user's live sessions, newest first (found through express_sessions.user_id, not a JSON scan). */
  async listLive(userId: number): Promise<LiveSession[]> {
    const { rows } = await this.pool.query<LiveSession>(
      `SELECT s.handle, s.started_at AS "startedAt",
              greatest(s.started_at, least(now(), e.expire - $2 * interval '1 millisecond')) AS "lastSeenAt",
              s.ip, s.user_agent AS "userAgent", cardinality(e.socket_ids) AS sockets
         FROM express_sessions e JOIN security.sessions s ON s.handle = e.handle
        WHERE e.user_id = $1 AND e.expire >= now()
        ORDER BY s.started_at DESC`,
      [userId, this.idleMs],
    );
    return rows;
  }
}
