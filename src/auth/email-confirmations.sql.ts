import { createHmac, randomInt } from 'node:crypto';
import type { Pool, PoolClient, Queryable } from '../db/pool.js';

/**
 * email_confirmations: one pending code per user, stored as an HMAC (keyed with a key derived from
 * SESSION_SECRET, so a leaked table does not give away 6-digit codes), valid CONFIRMATION_CODE_MINUTES,
 * deleted when used. Codes are made with the newest key and accepted under any key still in the list.
 */
export class EmailConfirmations {
  constructor(
    private readonly pool: Pool,
    /** Newest first. */
    private readonly keys: string[],
    readonly lifetimeMinutes: number,
  ) {}

  private hash(code: string, key = this.keys[0]!): string {
    return createHmac('sha256', key).update(code).digest('hex');
  }

  /** A new code for the user (the earlier one dies). */
  async issue(userId: number, client: Queryable = this.pool): Promise<string> {
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    await client.query(
      `INSERT INTO email_confirmations (user_id, code_hash, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
       ON CONFLICT (user_id) DO UPDATE SET code_hash = EXCLUDED.code_hash, expires_at = EXCLUDED.expires_at, created_at = now()`,
      [userId, this.hash(code), this.lifetimeMinutes * 60_000],
    );
    return code;
  }

  /** A new code for the unconfirmed account of this address, if there is one. */
  async reissue(email: string, db: Queryable = this.pool): Promise<{ userId: number; email: string; code: string } | undefined> {
    const { rows } = await db.query<{ id: number; email: string }>('SELECT id, email FROM users WHERE lower(email) = lower($1) AND NOT email_confirmed', [email.trim()]);
    const user = rows[0];
    if (!user) return undefined;
    return { userId: user.id, email: user.email, code: await this.issue(user.id, db) };
  }

  /** Uses the code (once): confirms the email and returns the user id, or undefined. */
  async confirm(email: string, code: string): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ id: number }>(
      `WITH used AS (
         DELETE FROM email_confirmations c USING users u
          WHERE c.user_id = u.id AND lower(u.email) = lower($1) AND c.code_hash = ANY($2::text[]) AND c.expires_at > now()
          RETURNING u.id
       )
       UPDATE users SET email_confirmed = true, updated_at = now() FROM used WHERE users.id = used.id RETURNING users.id`,
      [email.trim(), this.keys.map((key) => this.hash(code, key))],
    );
    return rows[0]?.id;
  }
}
