import { createHash, randomBytes } from 'node:crypto';
import type { Pool, PoolClient } from '../db/pool.js';
import { withTransaction } from '../db/pool.js';

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex');

type Queryable = Pick<Pool | PoolClient, 'query'>;

export interface RevokedFamily {
  user_id: number;
  family_id: string;
}

export type Rotation =
  | { kind: 'rotated'; token: string; userId: number; familyId: string }
  | { kind: 'reused' | 'mismatch'; userId: number; familyId: string }
  | { kind: 'invalid' };

/**
 * refresh_tokens: random tokens stored only as hashes, with the hash of the client's fingerprint,
 * their family, expiry and successor. Rotation claims the old token under a row lock, so two racing
 * refreshes never both succeed. Ending a family is the sign-in lifecycle's: it calls the revoke
 * methods inside its transaction.
 */
export class RefreshTokens {
  constructor(
    private readonly pool: Pool,
    private readonly lifetimeMs: number,
  ) {}

  /** The first token of a new family (inside the lifecycle's transaction). */
  create(client: Queryable, userId: number, familyId: string, fingerprint: string): Promise<string> {
    return this.insert(client, userId, familyId, fingerprint);
  }

  /** Exchanges a refresh token for its successor, or says why not (reuse and mismatch are the caller's to end). */
  rotate(token: string, fingerprint: string): Promise<Rotation> {
    return withTransaction(this.pool, async (client) => {
      // FOR UPDATE: of two racing refreshes, the second waits and then finds the token spent.
      const { rows } = await client.query<{ id: number; family_id: string; user_id: number; fingerprint_hash: string; used: boolean; revoked: boolean; fresh: boolean }>(
        `SELECT id, family_id, user_id, fingerprint_hash, used_at IS NOT NULL AS used, revoked_at IS NOT NULL AS revoked, expires_at > now() AS fresh
           FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`,
        [sha256(token)],
      );
      const row = rows[0];
      if (!row) return { kind: 'invalid' };
      // A spent token presented again was stolen (or raced): the whole family goes.
      if (row.used) return { kind: 'reused', userId: row.user_id, familyId: row.family_id };
      if (row.revoked || !row.fresh) return { kind: 'invalid' };
      if (row.fingerprint_hash !== sha256(fingerprint)) return { kind: 'mismatch', userId: row.user_id, familyId: row.family_id };
      await client.query('UPDATE refresh_tokens SET used_at = now() WHERE id = $1', [row.id]);
      const next = await this.insert(client, row.user_id, row.family_id, fingerprint, row.id);
      return { kind: 'rotated', token: next, userId: row.user_id, familyId: row.family_id };
    });
  }

  /** The family (and user) a presented token belongs to, if any. */
  async familyOf(token: string): Promise<{ familyId: string; userId: number } | undefined> {
    const { rows } = await this.pool.query<{ family_id: string; user_id: number }>('SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = $1', [sha256(token)]);
    return rows[0] && { familyId: rows[0].family_id, userId: rows[0].user_id };
  }

  /** True while the family has a live token (access tokens die with their family). */
  async isFamilyLive(familyId: string): Promise<boolean> {
    const { rows } = await this.pool.query('SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL AND expires_at > now() LIMIT 1', [familyId]);
    return rows.length === 1;
  }

  /** The user's live families with their last rotation (for the list of sign-ins). */
  async liveFamilies(userId: number): Promise<{ familyId: string; lastSeenAt: Date }[]> {
    const { rows } = await this.pool.query<{ familyId: string; lastSeenAt: Date }>(
      `SELECT family_id AS "familyId", max(created_at) AS "lastSeenAt" FROM refresh_tokens
        WHERE user_id = $1 AND revoked_at IS NULL AND used_at IS NULL AND expires_at > now()
        GROUP BY family_id`,
      [userId],
    );
    return rows;
  }

  revokeFamilies(client: Queryable, familyIds: string[], reason: string): Promise<RevokedFamily[]> {
    return this.revokeWhere(client, 'family_id = ANY($1::uuid[])', [familyIds], reason);
  }

  revokeByUser(client: Queryable, userId: number, reason: string): Promise<RevokedFamily[]> {
    return this.revokeWhere(client, 'user_id = $1', [userId], reason);
  }

  /** Families whose newest token has expired unused: the sign-in has simply run out. */
  revokeExpired(client: Queryable): Promise<RevokedFamily[]> {
    return this.revokeWhere(
      client,
      `family_id IN (SELECT family_id FROM refresh_tokens WHERE revoked_at IS NULL AND used_at IS NULL AND expires_at <= now())`,
      [],
      'expired',
    );
  }

  private async revokeWhere(client: Queryable, where: string, params: unknown[], reason: string): Promise<RevokedFamily[]> {
    const { rows } = await client.query<RevokedFamily>(
      `WITH revoked AS (
         UPDATE refresh_tokens SET revoked_at = now(), revoke_reason = $${params.length + 1}
          WHERE ${where} AND revoked_at IS NULL
          RETURNING user_id, family_id
       )
       SELECT DISTINCT user_id, family_id FROM revoked`,
      [...params, reason],
    );
    return rows;
  }

  private async insert(client: Queryable, userId: number, familyId: string, fingerprint: string, replaces?: number): Promise<string> {
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
