import type { Pool, Queryable } from '../db/pool.js';

export interface TotpRow {
  secretEncrypted: string;
  enabled: boolean;
  lastStep: number | null;
}

/** user_totp and recovery_codes: the second factor of each user. Every use is one atomic statement. */
export class TwoFactorStore {
  constructor(private readonly pool: Pool) {}

  async get(userId: number, db: Queryable = this.pool): Promise<TotpRow | undefined> {
    const { rows } = await db.query<{ secret_encrypted: string; enabled: boolean; last_step: number | null }>(
      'SELECT secret_encrypted, enabled_at IS NOT NULL AS enabled, last_step FROM user_totp WHERE user_id = $1',
      [userId],
    );
    const row = rows[0];
    return row && { secretEncrypted: row.secret_encrypted, enabled: row.enabled, lastStep: row.last_step === null ? null : Number(row.last_step) };
  }

  /** A new enrolment (a new secret, not yet on); never replaces one that is on. Resolves false when it is on. */
  async startEnrolment(userId: number, secretEncrypted: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO user_totp (user_id, secret_encrypted) VALUES ($1, $2)
       ON CONFLICT (user_id) DO UPDATE SET secret_encrypted = EXCLUDED.secret_encrypted, last_step = NULL, created_at = now()
         WHERE user_totp.enabled_at IS NULL`,
      [userId, secretEncrypted],
    );
    return rowCount === 1;
  }

  /**
   * Records `step` as used, only if it is later than the last one (and the factor is in the state
   * expected): of racing uses of one code exactly one gets true.
   */
  async useStep(db: Queryable, userId: number, step: number, state: 'enrolling' | 'enabled'): Promise<boolean> {
    const { rowCount } = await db.query(
      `UPDATE user_totp SET last_step = $2${state === 'enrolling' ? ', enabled_at = now()' : ''}
        WHERE user_id = $1 AND (last_step IS NULL OR last_step < $2) AND enabled_at IS ${state === 'enrolling' ? '' : 'NOT '}NULL`,
      [userId, step],
    );
    return rowCount === 1;
  }

  /** The secret sealed again under the newest key (after a SESSION_SECRET rotation). */
  async reseal(userId: number, secretEncrypted: string): Promise<void> {
    await this.pool.query('UPDATE user_totp SET secret_encrypted = $2 WHERE user_id = $1', [userId, secretEncrypted]);
  }

  /** Uses a recovery code (once). */
  async useRecoveryCode(db: Queryable, userId: number, codeHash: string): Promise<boolean> {
    const { rowCount } = await db.query('DELETE FROM recovery_codes WHERE user_id = $1 AND code_hash = $2', [userId, codeHash]);
    return rowCount === 1;
  }

  async replaceRecoveryCodes(db: Queryable, userId: number, hashes: string[]): Promise<void> {
    await db.query('DELETE FROM recovery_codes WHERE user_id = $1', [userId]);
    await db.query('INSERT INTO recovery_codes (user_id, code_hash) SELECT $1, unnest($2::text[])', [userId, hashes]);
  }

  async remainingRecoveryCodes(userId: number): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM recovery_codes WHERE user_id = $1', [userId]);
    return rows[0]!.n;
  }

  /** Off: the secret and the recovery codes go. */
  async remove(db: Queryable, userId: number): Promise<void> {
    await db.query('DELETE FROM recovery_codes WHERE user_id = $1', [userId]);
    await db.query('DELETE FROM user_totp WHERE user_id = $1', [userId]);
  }
}
