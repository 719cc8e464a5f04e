import type { Pool } from '../db/pool.js';
import { AppError } from '../http/errors.js';
import { ACTIVE_ROLES_SQL } from '../roles/roles.sql.js';
import type { SessionUser } from '../types.js';

export class AlreadyRegistered extends AppError {
  constructor() {
    super(409, 'already_registered', 'That login or email is already registered.');
  }
}

interface UserRow {
  id: number;
  login: string;
  email: string;
  name: string;
  password_hash: string;
  roles?: string[];
  password_expired?: boolean;
  email_confirmed?: boolean;
}

export interface UserWithHash {
  user: SessionUser;
  passwordHash: string;
  /** Marked expired by an administrator, or older than PASSWORD_MAX_AGE_DAYS. */
  passwordExpired: boolean;
  emailConfirmed: boolean;
}

export interface UserSummary extends SessionUser {
  passwordExpired: boolean;
  createdAt: Date;
}

/** An identifier containing @ is an email (compared case-insensitively), anything else a login. */
const whereIdentifier = (value: string) => (value.includes('@') ? 'lower(email) = lower($1)' : 'login = lower($1)');

const toUser = (row: UserRow): SessionUser => ({ id: row.id, login: row.login, name: row.name, email: row.email, roles: row.roles ?? [] });

/** The users table: its SQL, column names and row mapping live here and nowhere else. */
export class UserStore {
  constructor(private readonly pool: Pool) {}

  async create(input: { login: string; email: string; name: string; passwordHash: string; emailConfirmed?: boolean }, client: Pick<Pool, 'query'> = this.pool): Promise<SessionUser> {
    try {
      const { rows } = await client.query<UserRow>(
        `INSERT INTO users (login, email, name, password_hash, email_confirmed) VALUES ($1, $2, $3, $4, $5)
         RETURNING id, login, email, name, password_hash`,
        [input.login, input.email, input.name, input.passwordHash, input.emailConfirmed ?? true],
      );
      return toUser(rows[0]!);
    } catch (err) {
      // The unique indexes are the source of truth: two racing registrations cannot both win.
      if ((err as { code?: string }).code === '23505') throw new AlreadyRegistered();
      throw err;
    }
  }

  /** By login (stored lower-cased) or by email, case-insensitively, with the roles active now. */
  async findForSignIn(loginOrEmail: string, passwordMaxAgeDays = 0): Promise<UserWithHash | undefined> {
    const { rows } = await this.pool.query<UserRow>(
      `SELECT id, login, email, name, password_hash, ${ACTIVE_ROLES_SQL} AS roles,
              password_expired OR ($2 > 0 AND password_changed_at < now() - $2 * interval '1 day') AS password_expired, email_confirmed
         FROM users WHERE ${whereIdentifier(loginOrEmail)}`,
      [loginOrEmail.trim(), passwordMaxAgeDays],
    );
    const row = rows[0];
    return row && { user: toUser(row), passwordHash: row.password_hash, passwordExpired: Boolean(row.password_expired), emailConfirmed: row.email_confirmed !== false };
  }

  async findById(id: number): Promise<UserWithHash | undefined> {
    const { rows } = await this.pool.query<UserRow>(
      `SELECT id, login, email, name, password_hash, ${ACTIVE_ROLES_SQL} AS roles, password_expired, email_confirmed FROM users WHERE id = $1`,
      [id],
    );
    const row = rows[0];
    return row && { user: toUser(row), passwordHash: row.password_hash, passwordExpired: Boolean(row.password_expired), emailConfirmed: row.email_confirmed !== false };
  }

  /**
   * The subject failed attempts are counted under: the user's login when the identifier names a
   * user (by login or email), otherwise the identifier itself, normalised, so unknown logins count
   * exactly like known ones and typing the email instead of the login earns no extra attempts.
   */
  async throttleSubject(loginOrEmail: string): Promise<string> {
    const value = loginOrEmail.trim().toLowerCase();
    const { rows } = await this.pool.query<{ login: string }>(`SELECT login FROM users WHERE ${whereIdentifier(value)}`, [value]);
    return rows[0]?.login ?? value;
  }

  async updatePassword(id: number, passwordHash: string): Promise<void> {
    await this.pool.query(
      'UPDATE users SET password_hash = $2, password_changed_at = now(), password_expired = false, updated_at = now() WHERE id = $1',
      [id, passwordHash],
    );
  }

  async markPasswordExpired(id: number): Promise<boolean> {
    const { rowCount } = await this.pool.query('UPDATE users SET password_expired = true, updated_at = now() WHERE id = $1', [id]);
    return rowCount === 1;
  }

  async list(limit = 500): Promise<UserSummary[]> {
    const { rows } = await this.pool.query<UserRow & { created_at: Date }>(
      `SELECT id, login, email, name, password_hash, ${ACTIVE_ROLES_SQL} AS roles, password_expired, created_at
         FROM users ORDER BY id LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({ ...toUser(r), passwordExpired: Boolean(r.password_expired), createdAt: r.created_at }));
  }
}
