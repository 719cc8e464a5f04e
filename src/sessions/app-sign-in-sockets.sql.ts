import type { Pool } from '../db/pool.js';

/** app_sign_in_sockets: the live sockets of token sign-ins (a browser session's are on its row). */
export class AppSignInSockets {
  constructor(private readonly pool: Pool) {}

  /** Records the socket while its family is live; false when the sign-in has ended. */
  async attach(familyId: string, userId: number, socketId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO app_sign_in_sockets (socket_id, user_id, family_id)
       SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = $3 AND revoked_at IS NULL AND expires_at > now())
       ON CONFLICT DO NOTHING`,
      [socketId, userId, familyId],
    );
    return rowCount === 1;
  }

  async detach(socketId: string): Promise<void> {
    await this.pool.query('DELETE FROM app_sign_in_sockets WHERE socket_id = $1', [socketId]);
  }

  async countByFamily(familyIds: string[]): Promise<Map<string, number>> {
    if (!familyIds.length) return new Map();
    const { rows } = await this.pool.query<{ family_id: string; n: number }>(
      'SELECT family_id, count(*)::int AS n FROM app_sign_in_sockets WHERE family_id = ANY($1::uuid[]) GROUP BY family_id',
      [familyIds],
    );
    return new Map(rows.map((r) => [r.family_id, r.n]));
  }

  async recordedSocketIds(): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>('SELECT socket_id AS id FROM app_sign_in_sockets');
    return rows.map((r) => r.id);
  }

  async forget(socketIds: string[]): Promise<void> {
    if (socketIds.length) await this.pool.query('DELETE FROM app_sign_in_sockets WHERE socket_id = ANY($1::text[])', [socketIds]);
  }
}
