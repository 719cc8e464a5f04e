import { createHmac, randomInt } from 'node:crypto';
import type { Pool, PoolClient } from '../db/pool.js';

export const CODE_LIFETIME_MS = 15 * 60_000;

/**
 * email_confirmations: one pending code per user, stored as an HMAC (keyed with a server secret, so
 * a leaked table does not give away 6-digit codes), valid 15 minutes, deleted when used.
 */
export class EmailConfirmations {
  constructor(
    private readonly pool: Pool,
    private readonly secret: string,
  ) {}

  private hash(code: string): string {
    return createHmac('sha256', this.secret).update(code).digest('hex');
  }

  /** A new code for the user (replacing any earlier one). */
  async issue(userId: number, client: Pool | PoolClient = this.pool): Promise<string> {
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    await client.query(
      `INSERT INTO email_confirmations (user_id, code_hash, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
       ON CONFLICT (user_id) DO UPDATE SET code_hash = EXCLUDED.code_hash, expires_at = EXCLUDED.expires_at, created_at = now()`,
      [userId, this.hash(code), CODE_LIFETIME_MS],
    );
    return code;
  }

  /** Uses the code (once): confirms the email and returns the user id, or undefined. */
  async confirm(email: string, code: string): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ id: number }>(
      `WITH used AS (
         DELETE FROM email_confirmations c USING users u
          WHERE c.user_id = u.id AND lower(u.email) = lower($1) AND c.code_hash = $2 AND c.expires_at > now()
          RETURNING u.id
       )
       UPDATE users SET email_confirmed = true, updated_at = now() FROM used WHERE users.id = used.id RETURNING users.id`,
      [email.trim(), this.hash(code)],
    );
    return rows[0]?.id;
  }
}
