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

/** SQL fragment: the user's roles active right now, as a text[] (used where users are loaded). */
export const ACTIVE_ROLES_SQL = `COALESCE((
  SELECT array_agg(ur.role ORDER BY ur.role) FROM user_roles ur
  WHERE ur.user_id = users.id
    AND (ur.starts_at IS NULL OR ur.starts_at <= now())
    AND (ur.ends_at IS NULL OR ur.ends_at > now())
), '{}')`;
