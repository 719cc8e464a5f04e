import type { Pool, PoolClient } from '../db/pool.js';
import type { EndCause } from '../sessions/sign-ins.js';

export type SecurityEventType =
  | 'sign_in'
  | 'sign_in_failed'
  | 'sign_in_throttled'
  | EndCause
  | 'password_change_failed'
  | 'code_failed'
  | 'registration_throttled'
  | 'enabled'
  | 'role_granted'
  | 'role_revoked'
  | 'unlock'
  | 'password_expired_by_admin'
  | 'tokens_revoked'
  | 'email_confirmed'
  | 'password_reset_requested'
  | 'email_change_requested'
  | 'email_changed'
  | 'two_factor_failed'
  | 'two_factor_enabled'
  | 'two_factor_disabled'
  | 'recovery_codes_regenerated'
  | 'recovery_code_used'
  | 'passkey_added'
  | 'passkey_removed'
  | 'passkey_failed';

export interface SecurityEvent {
  type: SecurityEventType;
  userId?: number | null;
  login?: string | null;
  ip?: string | null;
  sessionHandle?: string | null;
  actorId?: number | null;
  detail?: Record<string, unknown>;
}

export interface SecurityEventRow {
  id: number;
  at: Date;
  type: SecurityEventType;
  userId: number | null;
  login: string | null;
  ip: string | null;
  sessionHandle: string | null;
  actorId: number | null;
  /** The user's login now (or as recorded when the user is gone), and the administrator's. */
  userLogin: string | null;
  actorLogin: string | null;
  detail: Record<string, unknown>;
}

/** security.events: the audit trail. Never holds a password, token or session id. */
export class SecurityEvents {
  constructor(private readonly pool: Pool) {}

  async record(event: SecurityEvent, client: Pool | PoolClient = this.pool): Promise<void> {
    await client.query(
      `INSERT INTO security.events (type, user_id, login, ip, session_handle, actor_id, detail)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [event.type, event.userId ?? null, event.login ?? null, event.ip ?? null, event.sessionHandle ?? null, event.actorId ?? null, event.detail ?? {}],
    );
  }

  /**
   * The audit list, newest first: optionally one user's events or one type, `limit` at a time, and
   * for the next page the events older than the `before` id (a cursor).
   */
  async list(filter: { userId?: number; type?: string; before?: number; limit?: number } = {}): Promise<SecurityEventRow[]> {
    const { rows } = await this.pool.query<SecurityEventRow>(
      `SELECT e.id, e.at, e.type, e.user_id AS "userId", e.login, e.ip, e.session_handle AS "sessionHandle", e.actor_id AS "actorId",
              coalesce(u.login, e.login) AS "userLogin", a.login AS "actorLogin", e.detail
         FROM security.events e
         LEFT JOIN users u ON u.id = e.user_id
         LEFT JOIN users a ON a.id = e.actor_id
        WHERE ($1::bigint IS NULL OR e.user_id = $1) AND ($2::text IS NULL OR e.type = $2) AND ($3::bigint IS NULL OR e.id < $3)
        ORDER BY e.id DESC LIMIT $4`,
      [filter.userId ?? null, filter.type ?? null, filter.before ?? null, filter.limit ?? 50],
    );
    return rows;
  }
}
