import { EventEmitter } from 'node:events';
import type { Pool } from '../db/pool.js';

export type EndReason = 'logout' | 'logout_everywhere' | 'revoked' | 'password_changed' | 'expired' | 'admin';

export interface SessionsEnded {
  sids: string[];
  userId: number | null;
  reason: EndReason;
}

/**
 * Ending a session is this one place, whatever the cause: it deletes the rows and announces the end.
 * Listeners (the socket layer, the audit trail) react to the announcement, so code that ends a
 * session never needs to know who else cares.
 */
export class SessionEnding {
  private readonly events = new EventEmitter();

  constructor(private readonly pool: Pool) {}

  onEnded(listener: (ended: SessionsEnded) => void): void {
    this.events.on('ended', listener);
  }

  /** Ends one session. Returns whether it was still live. */
  async end(sid: string, reason: EndReason): Promise<boolean> {
    const { rows } = await this.pool.query<{ user_id: number | null }>('DELETE FROM express_sessions WHERE sid = $1 RETURNING user_id', [sid]);
    if (!rows.length) return false;
    this.announce({ sids: [sid], userId: rows[0]!.user_id, reason });
    return true;
  }

  /** Ends every session of a user, except `keepSid` when given. Returns how many ended. */
  async endAllForUser(userId: number, reason: EndReason, keepSid?: string): Promise<number> {
    const { rows } = await this.pool.query<{ sid: string }>(
      'DELETE FROM express_sessions WHERE user_id = $1 AND sid IS DISTINCT FROM $2 RETURNING sid',
      [userId, keepSid ?? null],
    );
    if (rows.length) this.announce({ sids: rows.map((r) => r.sid), userId, reason });
    return rows.length;
  }

  /** Deletes rows past their expiry (idle or absolute). Returns how many ended. */
  async endExpired(): Promise<number> {
    const { rows } = await this.pool.query<{ sid: string; user_id: number | null }>(
      'DELETE FROM express_sessions WHERE expire < now() RETURNING sid, user_id',
    );
    const byUser = new Map<number | null, string[]>();
    for (const row of rows) byUser.set(row.user_id, [...(byUser.get(row.user_id) ?? []), row.sid]);
    for (const [userId, sids] of byUser) this.announce({ sids, userId, reason: 'expired' });
    return rows.length;
  }

  private announce(ended: SessionsEnded): void {
    this.events.emit('ended', ended);
  }
}
