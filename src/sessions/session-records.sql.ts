import type { Pool, PoolClient } from '../db/pool.js';

type Queryable = Pick<Pool | PoolClient, 'query'>;

export type SignInKind = 'browser' | 'app';

export interface SignInRecord {
  handle: string;
  kind: SignInKind;
  familyId: string | null;
  startedAt: Date;
  lastSeenAt: Date;
  ip: string | null;
  userAgent: string | null;
}

/** security.sessions: one record per sign-in of either kind, opened when it starts and closed when it ends. */
export class SessionRecords {
  constructor(private readonly pool: Pool) {}

  async open(client: Queryable, record: { handle: string; kind: SignInKind; familyId?: string; userId: number; ip: string | undefined; userAgent: string | undefined }): Promise<void> {
    await client.query('INSERT INTO security.sessions (handle, kind, family_id, user_id, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6)', [
      record.handle,
      record.kind,
      record.familyId ?? null,
      record.userId,
      record.ip ?? null,
      record.userAgent?.slice(0, 512) ?? null,
    ]);
  }

  /**
   * Closes the records of ended sign-ins. `lastSeen` (by handle) is the best estimate of the last
   * activity, where the caller has one. Returns the handles of the token families closed.
   */
  async close(client: Queryable, ended: { handles: string[]; familyIds: string[] }, reason: string, lastSeen: Map<string, Date> = new Map()): Promise<Map<string, string>> {
    if (!ended.handles.length && !ended.familyIds.length) return new Map();
    const { rows } = await client.query<{ handle: string; family_id: string | null }>(
      `UPDATE security.sessions s
          SET ended_at = now(), end_reason = $3,
              last_seen_at = greatest(s.last_seen_at, least(now(), coalesce(seen.at, s.last_seen_at)))
         FROM (SELECT h AS handle FROM unnest($1::text[]) h
               UNION SELECT handle FROM security.sessions WHERE family_id = ANY($2::uuid[])) target
         LEFT JOIN (SELECT * FROM unnest($4::text[], $5::timestamptz[]) AS x(handle, at)) seen ON seen.handle = target.handle
        WHERE s.handle = target.handle AND s.ended_at IS NULL
        RETURNING s.handle, s.family_id`,
      [ended.handles, ended.familyIds, reason, [...lastSeen.keys()], [...lastSeen.values()]],
    );
    // The handle of each token family closed, for the audit.
    return new Map(rows.flatMap((r) => (r.family_id ? [[r.family_id, r.handle] as const] : [])));
  }

  /** An open sign-in of this user by its public handle. */
  async findOpen(userId: number, handle: string): Promise<{ kind: SignInKind; familyId: string | null } | undefined> {
    const { rows } = await this.pool.query<{ kind: SignInKind; family_id: string | null }>(
      'SELECT kind, family_id FROM security.sessions WHERE user_id = $1 AND handle = $2 AND ended_at IS NULL',
      [userId, handle],
    );
    return rows[0] && { kind: rows[0].kind, familyId: rows[0].family_id };
  }

  /** The user's open records, newest first. */
  async openForUser(userId: number): Promise<SignInRecord[]> {
    const { rows } = await this.pool.query<SignInRecord>(
      `SELECT handle, kind, family_id AS "familyId", started_at AS "startedAt", last_seen_at AS "lastSeenAt", ip, user_agent AS "userAgent"
         FROM security.sessions WHERE user_id = $1 AND ended_at IS NULL ORDER BY started_at DESC, id DESC`,
      [userId],
    );
    return rows;
  }

  /** Every sign-in of the user, open or ended, newest first (their data export). */
  async allForUser(userId: number): Promise<(SignInRecord & { endedAt: Date | null; endReason: string | null })[]> {
    const { rows } = await this.pool.query(
      `SELECT handle, kind, family_id AS "familyId", started_at AS "startedAt", last_seen_at AS "lastSeenAt", ended_at AS "endedAt",
              end_reason AS "endReason", ip, user_agent AS "userAgent"
         FROM security.sessions WHERE user_id = $1 ORDER BY started_at DESC, id DESC`,
      [userId],
    );
    return rows;
  }
}
