import { EventEmitter } from 'node:events';
import type { Pool } from '../db/pool.js';

export type EndReason = 'logout' | 'logout_everywhere' | 'revoked' | 'password_changed' | 'expired' | 'replaced';

export interface SessionsEnded {
  sids: string[];
  userId: number | null;
  reason: EndReason;
}

export interface EndContext {
  /** Who ended it, when not the user themself (an administrator). */
  actorId?: number;
  ip?: string;
}

/**
 * Ending a session is this one place, whatever the cause: in one statement it deletes the rows,
 * closes their security.sessions records and writes the audit event; then it announces the end.
 * Listeners (the socket layer) react to the announcement, so code that ends a session never needs to
 * know who else cares.
 */
export class SessionEnding {
  private readonly events = new EventEmitter();

  constructor(
    private readonly pool: Pool,
    private readonly idleMs: number,
  ) {}

  onEnded(listener: (ended: SessionsEnded) => void): void {
    this.events.on('ended', listener);
  }

  /** Sessions that lost their rights without ending (an administrator expired the password). */
  onRestricted(listener: (restricted: { sids: string[]; userId: number }) => void): void {
    this.events.on('restricted', listener);
  }

  /** Marks every live session of the user as restricted to the password form, effective at its next request. */
  async restrictAllForUser(userId: number): Promise<number> {
    const { rows } = await this.pool.query<{ sid: string }>(
      `UPDATE express_sessions SET sess = jsonb_set(sess::jsonb, '{passwordExpired}', 'true')::json WHERE user_id = $1 RETURNING sid`,
      [userId],
    );
    // Announced even without a browser session: the user may hold token sockets.
    this.events.emit('restricted', { sids: rows.map((r) => r.sid), userId });
    return rows.length;
  }

  /** Ends one session. Returns whether it was still live. */
  async end(sid: string, reason: EndReason, context: EndContext = {}): Promise<boolean> {
    return (await this.run('sid = $1', [sid], reason, context)) > 0;
  }

  /** Ends one of a user's sessions by its public handle. Returns whether it was theirs and live. */
  async endByHandle(userId: number, handle: string, reason: EndReason, context: EndContext = {}): Promise<boolean> {
    return (await this.run('user_id = $1 AND handle = $2', [userId, handle], reason, context)) > 0;
  }

  /** Ends every session of a user, except `keepSid` when given. Returns how many ended. */
  endAllForUser(userId: number, reason: EndReason, keepSid?: string, context: EndContext = {}): Promise<number> {
    return this.run('user_id = $1 AND sid IS DISTINCT FROM $2', [userId, keepSid ?? null], reason, context);
  }

  /** Ends sessions past their expiry (idle or absolute). Returns how many ended. */
  endExpired(): Promise<number> {
    return this.run('expire < now()', [], 'expired', {});
  }

  private async run(where: string, params: unknown[], reason: EndReason, context: EndContext): Promise<number> {
    const p = params.length;
    const { rows } = await this.pool.query<{ sid: string; user_id: number | null }>(
      `WITH ended AS (
         DELETE FROM express_sessions WHERE ${where} RETURNING sid, user_id, handle, expire
       ), closed AS (
         UPDATE security.sessions s
            SET ended_at = now(), end_reason = $${p + 1},
                -- the row's expiry is the last activity plus the idle time (written at most once a minute)
                last_seen_at = greatest(s.last_seen_at, least(now(), ended.expire - $${p + 2} * interval '1 millisecond'))
           FROM ended WHERE s.handle = ended.handle
       ), audited AS (
         INSERT INTO security.events (type, user_id, session_handle, actor_id, ip, detail)
         SELECT $${p + 1}, user_id, CASE WHEN count(*) = 1 THEN min(handle) END, $${p + 3}, $${p + 4}, jsonb_build_object('sessions', count(*))
           FROM ended WHERE user_id IS NOT NULL GROUP BY user_id
       )
       SELECT sid, user_id FROM ended`,
      [...params, reason, this.idleMs, context.actorId ?? null, context.ip ?? null],
    );
    const byUser = new Map<number | null, string[]>();
    for (const row of rows) byUser.set(row.user_id, [...(byUser.get(row.user_id) ?? []), row.sid]);
    for (const [userId, sids] of byUser) this.events.emit('ended', { sids, userId, reason } satisfies SessionsEnded);
    return rows.length;
  }
}
