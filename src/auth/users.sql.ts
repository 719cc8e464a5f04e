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
}

export interface UserWithHash {
  user: SessionUser;
  passwordHash: string;
}

const toUser = (row: UserRow): SessionUser => ({ id: row.id, login: row.login, name: row.name, email: row.email, roles: row.roles ?? [] });

/** The users table: its SQL, column names and row mapping live here and nowhere else. */
export class UserStore {
  constructor(private readonly pool: Pool) {}

  async create(input: { login: string; email: string; name: string; passwordHash: string }): Promise<SessionUser> {
    try {
      const { rows } = await this.pool.query<UserRow>(
        `INSERT INTO users (login, email, name, password_hash) VALUES ($1, $2, $3, $4)
         RETURNING id, login, email, name, password_hash`,
        [input.login, input.email, input.name, input.passwordHash],
      );
      return toUser(rows[0]!);
    } catch (err) {
      // The unique indexes are the source of truth: two racing registrations cannot both win.
      if ((err as { code?: string }).code === '23505') throw new AlreadyRegistered();
      throw err;
    }
  }

  /** By login (stored lower-cased) or by email, case-insensitively, with the roles active now. */
  async findForSignIn(loginOrEmail: string): Promise<UserWithHash | undefined> {
    const value = loginOrEmail.trim();
    const where = value.includes('@') ? 'lower(email) = lower($1)' : 'login = lower($1)';
    const { rows } = await this.pool.query<UserRow>(
      `SELECT id, login, email, name, password_hash, ${ACTIVE_ROLES_SQL} AS roles FROM users WHERE ${where}`,
      [value],
    );
    const row = rows[0];
    return row && { user: toUser(row), passwordHash: row.password_hash };
  }
}
