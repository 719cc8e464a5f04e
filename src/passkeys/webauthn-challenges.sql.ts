import type { Pool } from '../db/pool.js';

export const CHALLENGE_MS = 5 * 60_000;
export type ChallengePurpose = 'register' | 'sign_in';

/** webauthn_challenges: each challenge handed out, single use for 5 minutes, kept server-side. */
export class WebAuthnChallenges {
  constructor(private readonly pool: Pool) {}

  async remember(challenge: string, purpose: ChallengePurpose, userId: number | null): Promise<void> {
    await this.pool.query(
      `INSERT INTO webauthn_challenges (challenge, purpose, user_id, expires_at) VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')`,
      [challenge, purpose, userId, CHALLENGE_MS],
    );
  }

  /** Uses a live challenge of this purpose (and user): of racing uses exactly one gets true. */
  async use(challenge: string, purpose: ChallengePurpose, userId: number | null): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `DELETE FROM webauthn_challenges WHERE challenge = $1 AND purpose = $2 AND user_id IS NOT DISTINCT FROM $3 AND expires_at > now()`,
      [challenge, purpose, userId],
    );
    return rowCount === 1;
  }

  async pruneExpired(): Promise<number> {
    const { rowCount } = await this.pool.query('DELETE FROM webauthn_challenges WHERE expires_at < now()');
    return rowCount ?? 0;
  }
}
