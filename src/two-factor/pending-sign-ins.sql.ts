import { createHash, randomBytes } from 'node:crypto';
import type { Pool } from '../db/pool.js';

export const PENDING_MS = 5 * 60_000;
export const PENDING_MAX_CODES = 5;
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;
const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

export interface PendingSignIn {
  userId: number;
  credentialsVersion: number;
  remember: boolean;
  returnTo: string | null;
  attempts: number;
}

/**
 * two_factor_pending: a right password waiting for its second factor. Only a cookie's random value
 * names it (its hash is stored); it is no session, so nothing treats it as signed in. Each code tried
 * takes one of its five attempts before it is checked, in one statement, so parallel codes cannot
 * get more.
 */
export class PendingSignIns {
  constructor(private readonly pool: Pool) {}

  async create(input: { userId: number; credentialsVersion: number; remember: boolean; returnTo: string | undefined }): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.pool.query(
      `INSERT INTO two_factor_pending (token_hash, user_id, credentials_version, remember, return_to, expires_at)
       VALUES ($1, $2, $3, $4, $5, now() + $6 * interval '1 millisecond')`,
      [hashOf(token), input.userId, input.credentialsVersion, input.remember, input.returnTo ?? null, PENDING_MS],
    );
    return token;
  }

  async find(value: unknown): Promise<PendingSignIn | undefined> {
    if (typeof value !== 'string' || !TOKEN_SHAPE.test(value)) return undefined;
    const { rows } = await this.pool.query<Row>(`SELECT ${COLUMNS} FROM two_factor_pending WHERE token_hash = $1 AND expires_at > now() AND attempts < $2`, [hashOf(value), PENDING_MAX_CODES]);
    return rows[0] && toPending(rows[0]);
  }

  /** Takes one attempt; undefined when the pending sign-in is gone, expired or out of attempts. */
  async takeAttempt(value: unknown): Promise<PendingSignIn | undefined> {
    if (typeof value !== 'string' || !TOKEN_SHAPE.test(value)) return undefined;
    const { rows } = await this.pool.query<Row>(
      `UPDATE two_factor_pending SET attempts = attempts + 1
        WHERE token_hash = $1 AND expires_at > now() AND attempts < $2 RETURNING ${COLUMNS}`,
      [hashOf(value), PENDING_MAX_CODES],
    );
    return rows[0] && toPending(rows[0]);
  }

  /** Ends it (completed, or out of attempts); resolves whether it was still there (of racing completions, one wins). */
  async drop(value: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('DELETE FROM two_factor_pending WHERE token_hash = $1', [hashOf(value)]);
    return rowCount === 1;
  }

  async pruneExpired(): Promise<number> {
    const { rowCount } = await this.pool.query('DELETE FROM two_factor_pending WHERE expires_at < now()');
    return rowCount ?? 0;
  }
}

interface Row {
  user_id: number;
  credentials_version: number;
  remember: boolean;
  return_to: string | null;
  attempts: number;
}
const COLUMNS = 'user_id, credentials_version, remember, return_to, attempts';
const toPending = (r: Row): PendingSignIn => ({ userId: r.user_id, credentialsVersion: r.credentials_version, remember: r.remember, returnTo: r.return_to, attempts: r.attempts });
