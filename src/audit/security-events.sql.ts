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
  | 'email_confirmed';

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

  async latest(limit = 50): Promise<SecurityEventRow[]> {
    const { rows } = await this.pool.query<SecurityEventRow>(
      `SELECT id, at, type, user_id AS "userId", login, ip, session_handle AS "sessionHandle", actor_id AS "actorId", detail
       FROM security.events ORDER BY at DESC, id DESC LIMIT $1`,
      [limit],
    );
    return rows;
  }
}
