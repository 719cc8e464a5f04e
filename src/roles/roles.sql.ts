import type { Pool, PoolClient } from '../db/pool.js';
import { InvalidInput } from '../http/errors.js';

type Queryable = Pick<Pool | PoolClient, 'query'>;

/** roles and user_roles: grants with optional start and end dates. */
export class RoleStore {
  constructor(private readonly pool: Pool) {}

  /** Grants (or re-dates) a role. A role the app does not define is 400 invalid_input. */
  async grant(userId: number, role: string, period: { startsAt?: Date | null; endsAt?: Date | null } = {}, client: Queryable = this.pool): Promise<void> {
    try {
      await client.query(
        `INSERT INTO user_roles (user_id, role, starts_at, ends_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, role) DO UPDATE SET starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, granted_at = now()`,
        [userId, role, period.startsAt ?? null, period.endsAt ?? null],
      );
    } catch (err) {
      if ((err as { code?: string }).code === '23503') throw new InvalidInput({ role: 'validation.role_unknown' });
      throw err;
    }
  }

  /** Revokes a role; false when the user did not have it. */
  async revoke(client: Queryable, userId: number, role: string): Promise<boolean> {
    const { rowCount } = await client.query('DELETE FROM user_roles WHERE user_id = $1 AND role = $2', [userId, role]);
    return rowCount === 1;
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
