import type { Pool } from '../db/pool.js';
import { AppError } from '../http/errors.js';

/** roles and user_roles: grants with optional start and end dates. */
export class RoleStore {
  constructor(private readonly pool: Pool) {}

  async grant(userId: number, role: string, period: { startsAt?: Date | null; endsAt?: Date | null } = {}): Promise<void> {
    try {
      await this.pool.query(
        `INSERT INTO user_roles (user_id, role, starts_at, ends_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, role) DO UPDATE SET starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at`,
        [userId, role, period.startsAt ?? null, period.endsAt ?? null],
      );
    } catch (err) {
      if ((err as { code?: string }).code === '23503') throw new AppError(400, 'invalid_input', `There is no role named "${role}".`);
      throw err;
    }
  }
}

/**
 * SQL fragment: the user's grants that have not ended, with their dates as ms since epoch, as a json
 * array of RoleGrant (used where users are loaded). Which of them is active is judged at each request.
 */
export const ROLE_GRANTS_SQL = `COALESCE((
  SELECT json_agg(json_build_object(
           'role', ur.role,
           'startsAt', (extract(epoch FROM ur.starts_at) * 1000)::bigint,
           'endsAt', (extract(epoch FROM ur.ends_at) * 1000)::bigint) ORDER BY ur.role)
    FROM user_roles ur
   WHERE ur.user_id = users.id AND (ur.ends_at IS NULL OR ur.ends_at > now())
), '[]'::json)`;
