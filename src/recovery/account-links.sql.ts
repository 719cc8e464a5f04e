import { createHash, randomBytes } from 'node:crypto';
import type { Pool, Queryable } from '../db/pool.js';
import { AppError } from '../http/errors.js';

export type LinkKind = 'password_reset' | 'not_me' | 'email_change';

export const LINK_LIFETIME_MS: Record<LinkKind, number> = {
  password_reset: 60 * 60_000,
  not_me: 7 * 86_400_000,
  email_change: 24 * 3_600_000,
};

/** 32 random bytes, base64url: 256 bits. Anything else is not a token of ours. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** A token that is malformed, unknown, used, expired, of another kind or dead (for a reset link: `reset_link_invalid`). */
export class LinkInvalid extends AppError {
  constructor(kind: LinkKind) {
    super(
      400,
      kind === 'password_reset' ? 'reset_link_invalid' : 'link_invalid',
      kind === 'password_reset' ? 'errors.reset_link_invalid' : 'errors.link_invalid',
    );
  }
}

/** The token a request carries, if it has the shape of one (strings only: no arrays, objects or NUL bytes). */
export function tokenFrom(value: unknown): string | undefined {
  return typeof value === 'string' && TOKEN_SHAPE.test(value) ? value : undefined;
}

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

export interface LinkTarget {
  userId: number;
  newEmail: string | null;
}

/**
 * account_links: the links mailed to act on an account, stored only as SHA-256 hashes of 256-bit
 * tokens. A link is used by deleting its row, so of many concurrent uses exactly one succeeds. A reset
 * link also dies when the password changes by any means (it names the credentials version it was
 * sent for); a newer reset link or email change replaces the older one.
 */
export class AccountLinks {
  constructor(private readonly pool: Pool) {}

  /** A new link of `kind` for the user; resolves the token (to be mailed, never stored or logged). */
  async issue(db: Queryable, kind: LinkKind, userId: number, credentialsVersion: number, newEmail: string | null = null): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await db.query(
      `INSERT INTO account_links (token_hash, kind, user_id, credentials_version, new_email, expires_at)
       VALUES ($1, $2, $3, $4, $5, now() + $6 * interval '1 millisecond')
       ON CONFLICT (user_id, kind) WHERE kind IN ('password_reset', 'email_change')
       DO UPDATE SET token_hash = EXCLUDED.token_hash, credentials_version = EXCLUDED.credentials_version,
                     new_email = EXCLUDED.new_email, created_at = now(), expires_at = EXCLUDED.expires_at`,
      [hashOf(token), kind, userId, credentialsVersion, newEmail, LINK_LIFETIME_MS[kind]],
    );
    return token;
  }

  private static readonly LIVE = `l.token_hash = $1 AND l.kind = $2 AND l.expires_at > now() AND u.id = l.user_id
    AND u.disabled_at IS NULL AND (l.kind <> 'password_reset' OR u.credentials_version = l.credentials_version)`;

  /** Whom a live link acts on, without using it (to show its form). */
  async peek(kind: LinkKind, value: unknown, db: Queryable = this.pool): Promise<LinkTarget | undefined> {
    const token = tokenFrom(value);
    if (!token) return undefined;
    const { rows } = await db.query<{ user_id: number; new_email: string | null }>(
      `SELECT l.user_id, l.new_email FROM account_links l, users u WHERE ${AccountLinks.LIVE}`,
      [hashOf(token), kind],
    );
    return rows[0] && { userId: rows[0].user_id, newEmail: rows[0].new_email };
  }

  /** Uses a live link (once: its row goes with the caller's transaction); undefined when it is not live. */
  async use(db: Queryable, kind: LinkKind, value: unknown): Promise<LinkTarget | undefined> {
    const token = tokenFrom(value);
    if (!token) return undefined;
    const { rows } = await db.query<{ user_id: number; new_email: string | null }>(
      `DELETE FROM account_links l USING users u WHERE ${AccountLinks.LIVE} RETURNING l.user_id, l.new_email`,
      [hashOf(token), kind],
    );
    return rows[0] && { userId: rows[0].user_id, newEmail: rows[0].new_email };
  }

  /** Forgets links that can no longer be used. */
  async pruneExpired(): Promise<number> {
    const { rowCount } = await this.pool.query('DELETE FROM account_links WHERE expires_at < now()');
    return rowCount ?? 0;
  }
}
