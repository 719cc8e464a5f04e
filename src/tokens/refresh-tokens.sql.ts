import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Pool, PoolClient } from '../db/pool.js';
import { withTransaction } from '../db/pool.js';
import { InvalidToken } from './access-tokens.js';

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex');

export interface FamiliesRevoked {
  userId: number;
  familyIds: string[];
  reason: string;
}

interface Claimed {
  id: number;
  family_id: string;
  user_id: number;
  fingerprint_hash: string;
}

/**
 * refresh_tokens: random tokens stored only as hashes, with the hash of the client's fingerprint,
 * their family, expiry and successor. Rotation claims the old token with one conditional UPDATE, so
 * two racing refreshes never both succeed; presenting a spent token revokes its whole family.
 */
export class RefreshTokens {
  private readonly events = new EventEmitter();

  constructor(
    private readonly pool: Pool,
    private readonly lifetimeMs: number,
  ) {}

  onRevoked(listener: (revoked: FamiliesRevoked) => void): void {
    this.events.on('revoked', listener);
  }

  /** Starts a family (one sign-in). Returns the token to hand out, and the family id. */
  async create(userId: number, fingerprint: string): Promise<{ token: string; familyId: string }> {
    const familyId = randomUUID();
    const token = await this.insert(this.pool, userId, familyId, fingerprint);
    return { token, familyId };
  }

  /**
   * Exchanges a refresh token for its successor. Throws InvalidToken (unknown, expired, revoked, or a
   * fingerprint that does not match: the family is revoked) or token_reused (already spent: the
   * family is revoked).
   */
  async rotate(token: string, fingerprint: string): Promise<{ token: string; userId: number; familyId: string }> {
    const outcome = await withTransaction(this.pool, async (client) => {
      // FOR UPDATE: of two racing refreshes, the second waits and then finds the token spent.
      const { rows } = await client.query<Claimed & { used: boolean; revoked: boolean; fresh: boolean }>(
        `SELECT id, family_id, user_id, fingerprint_hash, used_at IS NOT NULL AS used, revoked_at IS NOT NULL AS revoked, expires_at > now() AS fresh
           FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`,
        [sha256(token)],
      );
      const row = rows[0];
      if (!row) return { kind: 'invalid' as const };
      // A spent token presented again was stolen (or raced): the whole family goes.
      if (row.used) return { kind: 'reused' as const, revoked: await this.revokeWhere(client, 'family_id = $1', [row.family_id], 'reused') };
      if (row.revoked || !row.fresh) return { kind: 'invalid' as const };
      if (row.fingerprint_hash !== sha256(fingerprint)) {
        return { kind: 'mismatch' as const, revoked: await this.revokeWhere(client, 'family_id = $1', [row.family_id], 'fingerprint_mismatch') };
      }
      await client.query('UPDATE refresh_tokens SET used_at = now() WHERE id = $1', [row.id]);
      const next = await this.insert(client, row.user_id, row.family_id, fingerprint, row.id);
      return { kind: 'rotated' as const, token: next, userId: row.user_id, familyId: row.family_id };
    });

    switch (outcome.kind) {
      case 'rotated':
        return { token: outcome.token, userId: outcome.userId, familyId: outcome.familyId };
      case 'reused':
        this.announce(outcome.revoked, 'reused');
        throw new InvalidToken('token_reused', 'This refresh token was already used; every token of this sign-in is now revoked.');
      case 'mismatch':
        this.announce(outcome.revoked, 'fingerprint_mismatch');
        throw new InvalidToken();
      default:
        throw new InvalidToken();
    }
  }

  /** The family (and user) a presented token belongs to, if any. */
  async familyOf(token: string): Promise<{ familyId: string; userId: number } | undefined> {
    const { rows } = await this.pool.query<{ family_id: string; user_id: number }>('SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = $1', [sha256(token)]);
    return rows[0] && { familyId: rows[0].family_id, userId: rows[0].user_id };
  }

  /** True while no token of the family has been revoked (access tokens die with their family). */
  async isFamilyLive(familyId: string): Promise<boolean> {
    const { rows } = await this.pool.query('SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL AND expires_at > now() LIMIT 1', [familyId]);
    return rows.length === 1;
  }

  async revokeFamily(familyId: string, reason: string): Promise<number> {
    return this.revoke('family_id = $1', [familyId], reason);
  }

  /** Logout everywhere, password change: every family of the user. */
  async revokeAllForUser(userId: number, reason: string): Promise<number> {
    return this.revoke('user_id = $1', [userId], reason);
  }

  private async revoke(where: string, params: unknown[], reason: string): Promise<number> {
    const rows = await this.revokeWhere(this.pool, where, params, reason);
    this.announce(rows, reason);
    return rows.length;
  }

  private async revokeWhere(client: Pool | PoolClient, where: string, params: unknown[], reason: string) {
    const { rows } = await client.query<{ user_id: number; family_id: string }>(
      `WITH revoked AS (
         UPDATE refresh_tokens SET revoked_at = now(), revoke_reason = $${params.length + 1}
          WHERE ${where} AND revoked_at IS NULL
          RETURNING user_id, family_id
       ), closed AS (
         UPDATE security.sessions s SET ended_at = now(), end_reason = $${params.length + 1}
           FROM (SELECT DISTINCT family_id FROM revoked) f
          WHERE s.handle = 'token:' || f.family_id AND s.ended_at IS NULL
       ), audited AS (
         INSERT INTO security.events (type, user_id, session_handle, detail)
         SELECT 'tokens_revoked', user_id, 'token:' || family_id, jsonb_build_object('reason', $${params.length + 1}::text)
           FROM (SELECT DISTINCT user_id, family_id FROM revoked) f
       )
       SELECT DISTINCT user_id, family_id FROM revoked`,
      [...params, reason],
    );
    return rows;
  }

  private announce(rows: { user_id: number; family_id: string }[], reason: string): void {
    const byUser = new Map<number, string[]>();
    for (const r of rows) byUser.set(r.user_id, [...(byUser.get(r.user_id) ?? []), r.family_id]);
    for (const [userId, familyIds] of byUser) this.events.emit('revoked', { userId, familyIds, reason } satisfies FamiliesRevoked);
  }

  private async insert(client: Pool | PoolClient, userId: number, familyId: string, fingerprint: string, replaces?: number): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    const { rows } = await client.query<{ id: number }>(
      `INSERT INTO refresh_tokens (token_hash, family_id, user_id, fingerprint_hash, expires_at)
       VALUES ($1, $2, $3, $4, now() + $5 * interval '1 millisecond') RETURNING id`,
      [sha256(token), familyId, userId, sha256(fingerprint), this.lifetimeMs],
    );
    if (replaces !== undefined) await client.query('UPDATE refresh_tokens SET replaced_by = $2 WHERE id = $1', [replaces, rows[0]!.id]);
    return token;
  }
}
