import type { Pool, PoolClient } from '../db/pool.js';
import { AppError } from '../http/errors.js';
import { activeRoles } from '../roles/role-grants.js';
import { ROLE_GRANTS_SQL } from '../roles/roles.sql.js';
import type { Language } from '../i18n/i18n.js';
import type { RoleGrant, SessionUser, StoredUser } from '../types.js';
import { isPasswordExpired } from './password-expiry.js';

export class AlreadyRegistered extends AppError {
  constructor() {
    super(409, 'already_registered', 'errors.already_registered');
  }
}

type Queryable = Pick<Pool | PoolClient, 'query'>;

interface UserRow {
  id: number;
  login: string;
  email: string;
  name: string;
  password_hash: string;
  grants?: RoleGrant[];
  password_expired?: boolean;
  password_changed_at?: Date;
  email_confirmed?: boolean;
  credentials_version?: number;
  disabled_at?: Date | null;
  two_factor?: boolean;
  language?: Language;
}

/** A user as sign-in and the token API need it: who, the hash to check, and the state of the credentials. */
export interface UserWithHash {
  /** With the roles active now. */
  user: SessionUser;
  /** Every grant that has not ended, for the session to judge at each request. */
  stored: StoredUser;
  passwordHash: string;
  /** Marked expired by an administrator, or older than PASSWORD_MAX_AGE_DAYS. */
  passwordExpired: boolean;
  /** Only the administrator's mark (the age is judged again at each request). */
  passwordMarkedExpired: boolean;
  passwordChangedAt: number;
  emailConfirmed: boolean;
  /** The version of the credentials checked: a sign-in completes only while it is still current. */
  credentialsVersion: number;
  /** Disabled by an administrator. */
  disabled: boolean;
  /** TOTP is on: a right password is only half a sign-in. */
  twoFactor: boolean;
  /** The language the user last used: their mail is written in it. */
  language: Language;
}

export interface UserSummary extends SessionUser {
  passwordExpired: boolean;
  disabled: boolean;
  createdAt: Date;
}

/** An identifier containing @ is an email (compared case-insensitively), anything else a login. */
const whereIdentifier = (value: string) => (value.includes('@') ? 'lower(email) = lower($1)' : 'login = lower($1)');

const COLUMNS = `id, login, email, name, password_hash, ${ROLE_GRANTS_SQL} AS grants, password_expired, password_changed_at, email_confirmed, credentials_version, disabled_at, language,
  EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = users.id AND t.enabled_at IS NOT NULL) AS two_factor`;

/** The users table: its SQL, column names and row mapping live here and nowhere else. */
export class UserStore {
  constructor(
    private readonly pool: Pool,
    /** PASSWORD_MAX_AGE_DAYS: every lookup applies it, so no path can forget it. */
    private readonly passwordMaxAgeDays = 0,
  ) {}

  private toFull(row: UserRow): UserWithHash {
    const grants = row.grants ?? [];
    const stored: StoredUser = { id: row.id, login: row.login, name: row.name, email: row.email, grants };
    const changedAt = row.password_changed_at?.getTime() ?? Date.now();
    const marked = Boolean(row.password_expired);
    return {
      user: { id: row.id, login: row.login, name: row.name, email: row.email, roles: activeRoles(grants) },
      stored,
      passwordHash: row.password_hash,
      passwordExpired: isPasswordExpired({ marked, changedAt }, this.passwordMaxAgeDays),
      passwordMarkedExpired: marked,
      passwordChangedAt: changedAt,
      emailConfirmed: row.email_confirmed !== false,
      credentialsVersion: row.credentials_version ?? 0,
      disabled: Boolean(row.disabled_at),
      twoFactor: Boolean(row.two_factor),
      language: row.language ?? 'en',
    };
  }

  /**
   * Creates a user. With `replaceUnconfirmed`, an unconfirmed account holding the login or the email
   * whose confirmation code has expired gives way (it holds neither once its code is dead).
   */
  async create(
    input: { login: string; email: string; name: string; passwordHash: string; emailConfirmed?: boolean; language?: Language },
    client: Queryable = this.pool,
    options: { replaceUnconfirmed?: boolean } = {},
  ): Promise<UserWithHash> {
    try {
      if (options.replaceUnconfirmed) {
        await client.query(
          `DELETE FROM users u
            WHERE (u.login = $1 OR lower(u.email) = lower($2)) AND NOT u.email_confirmed
              AND NOT EXISTS (SELECT 1 FROM email_confirmations c WHERE c.user_id = u.id AND c.expires_at > now())`,
          [input.login, input.email],
        );
      }
      const { rows } = await client.query<UserRow>(
        `INSERT INTO users (login, email, name, password_hash, email_confirmed, language) VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING ${COLUMNS}`,
        [input.login, input.email, input.name, input.passwordHash, input.emailConfirmed ?? true, input.language ?? 'en'],
      );
      return this.toFull(rows[0]!);
    } catch (err) {
      // The unique indexes are the source of truth: two racing registrations cannot both win.
      if ((err as { code?: string }).code === '23505') throw new AlreadyRegistered();
      throw err;
    }
  }

  /** By login (stored lower-cased) or by email, case-insensitively. */
  async findForSignIn(loginOrEmail: string): Promise<UserWithHash | undefined> {
    const { rows } = await this.pool.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE ${whereIdentifier(loginOrEmail)}`, [loginOrEmail.trim()]);
    return rows[0] && this.toFull(rows[0]);
  }

  async findById(id: number, client: Queryable = this.pool): Promise<UserWithHash | undefined> {
    const { rows } = await client.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id]);
    return rows[0] && this.toFull(rows[0]);
  }

  /**
   * Inside a transaction that starts a sign-in: true while `version` is still the user's credentials
   * version. FOR SHARE holds the row until commit, so a password change either waits for this sign-in
   * (and then ends it) or has already committed (and this sees the new version and refuses).
   */
  async holdCredentials(client: PoolClient, id: number, version: number): Promise<boolean> {
    const { rows } = await client.query<{ v: number }>('SELECT credentials_version AS v FROM users WHERE id = $1 FOR SHARE', [id]);
    return rows[0]?.v === version;
  }

  /** Sets a new password (a new credentials version): returns the user as it now is. */
  async updatePassword(client: Queryable, id: number, passwordHash: string): Promise<UserWithHash | undefined> {
    const { rows } = await client.query<UserRow>(
      `UPDATE users SET password_hash = $2, password_changed_at = now(), password_expired = false,
              credentials_version = credentials_version + 1, updated_at = now()
        WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, passwordHash],
    );
    return rows[0] && this.toFull(rows[0]);
  }

  /** The same password under a new hash (another cost): not a change of credentials. */
  async rehash(id: number, oldHash: string, newHash: string): Promise<void> {
    await this.pool.query('UPDATE users SET password_hash = $3, updated_at = now() WHERE id = $1 AND password_hash = $2', [id, oldHash, newHash]);
  }

  /**
   * Disables (a new credentials version, so a sign-in racing this is refused) or enables the user.
   * Returns whether the user exists.
   */
  async setDisabled(client: Queryable, id: number, disabled: boolean): Promise<boolean> {
    const { rowCount } = await client.query(
      disabled
        ? 'UPDATE users SET disabled_at = coalesce(disabled_at, now()), credentials_version = credentials_version + 1, updated_at = now() WHERE id = $1'
        : 'UPDATE users SET disabled_at = NULL, updated_at = now() WHERE id = $1',
      [id],
    );
    return rowCount === 1;
  }

  /** Deletes the user; their roles, devices, confirmations and presence go with them (foreign keys), their messages stay authorless. */
  /** The account a reset request names by its address, if any. */
  async byEmail(db: Queryable, email: string): Promise<{ id: number; login: string; email: string; credentialsVersion: number; disabled: boolean } | undefined> {
    const { rows } = await db.query<{ id: number; login: string; email: string; credentials_version: number; disabled: boolean }>(
      'SELECT id, login, email, credentials_version, disabled_at IS NOT NULL AS disabled FROM users WHERE lower(email) = lower($1)',
      [email.trim()],
    );
    const row = rows[0];
    return row && { id: row.id, login: row.login, email: row.email, credentialsVersion: row.credentials_version, disabled: row.disabled };
  }

  /** Whether another account holds this address (compared case-insensitively). */
  async emailTaken(email: string, exceptId: number): Promise<boolean> {
    const { rowCount } = await this.pool.query('SELECT 1 FROM users WHERE lower(email) = lower($1) AND id <> $2', [email.trim(), exceptId]);
    return (rowCount ?? 0) > 0;
  }

  /** A mailbox proven to be the user's (a reset link opened, a new address confirmed). */
  async confirmEmail(db: Queryable, id: number): Promise<void> {
    await db.query('UPDATE users SET email_confirmed = true, updated_at = now() WHERE id = $1 AND NOT email_confirmed', [id]);
  }

  /** The confirmed new address. A taken one: AlreadyRegistered (the unique index decides under races). */
  async changeEmail(db: Queryable, id: number, newEmail: string): Promise<UserWithHash | undefined> {
    try {
      const { rows } = await db.query<UserRow>(
        `UPDATE users SET email = $2, email_confirmed = true, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
        [id, newEmail],
      );
      return rows[0] && this.toFull(rows[0]);
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new AlreadyRegistered();
      throw err;
    }
  }

  /** The language the user now uses (a sign-in, the switch, a page in another language). */
  async setLanguage(id: number, language: Language, db: Queryable = this.pool): Promise<void> {
    await db.query('UPDATE users SET language = $2 WHERE id = $1 AND language <> $2', [id, language]);
  }

  /** Where a message to this user goes, in which language, and whether they may be sent one. */
  async mailTarget(db: Queryable, id: number): Promise<{ email: string; login: string; disabled: boolean; language: Language } | undefined> {
    const { rows } = await db.query<{ email: string; login: string; disabled: boolean; language: Language }>(
      'SELECT email, login, disabled_at IS NOT NULL AS disabled, language FROM users WHERE id = $1',
      [id],
    );
    return rows[0];
  }

  /**
   * Locks the user's row until the caller's transaction ends, before anything else it changes: a
   * sign-in being written (it holds the row FOR SHARE) commits first and is then seen, one not yet
   * written waits and then finds the change. The row first, then the attempt counters, as a sign-in
   * takes them, so the two never deadlock.
   */
  async lockForChange(client: Queryable, id: number): Promise<void> {
    await client.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [id]);
  }

  async delete(client: Queryable, id: number): Promise<boolean> {
    const { rowCount } = await client.query('DELETE FROM users WHERE id = $1', [id]);
    return rowCount === 1;
  }

  async markPasswordExpired(client: Queryable, id: number): Promise<boolean> {
    const { rowCount } = await client.query('UPDATE users SET password_expired = true, updated_at = now() WHERE id = $1', [id]);
    return rowCount === 1;
  }

  async list(limit = 500): Promise<UserSummary[]> {
    const { rows } = await this.pool.query<UserRow & { created_at: Date }>(`SELECT ${COLUMNS}, created_at FROM users ORDER BY id LIMIT $1`, [limit]);
    return rows.map((r) => {
      const full = this.toFull(r);
      return { ...full.user, passwordExpired: full.passwordExpired, disabled: full.disabled, createdAt: r.created_at };
    });
  }
}
