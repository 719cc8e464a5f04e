import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { PasswordExpired } from '../auth/authentication.js';
import type { UserStore } from '../auth/users.sql.js';
import type { SessionUser } from '../types.js';
import { InvalidToken, type AccessTokens } from './access-tokens.js';
import type { RefreshTokens } from './refresh-tokens.sql.js';

export interface TokenHolder {
  user: SessionUser;
  familyId: string;
  /** ms since epoch: the access token's exp. */
  expiresAt: number;
}

/** RFC 6750: the scheme is case-insensitive. */
const BEARER = /^bearer +([A-Za-z0-9\-_.~+/]+=*)$/i;

/**
 * The credential check for access tokens, shared by /api requests and token sockets: a valid token
 * of a live sign-in whose user still exists and has no expired password.
 */
export class BearerCheck {
  constructor(private readonly deps: { access: AccessTokens; refresh: RefreshTokens; users: UserStore }) {}

  /** Throws InvalidToken (401) or PasswordExpired (403). */
  async check(token: unknown): Promise<TokenHolder> {
    const claims = await this.deps.access.verify(token);
    // Ending the sign-in (logout, revoke, password change...) ends its family, and its access tokens with it.
    const [found, live] = await Promise.all([this.deps.users.findById(claims.userId), this.deps.refresh.isFamilyLive(claims.familyId)]);
    if (!found || !live || found.disabled) throw new InvalidToken();
    if (found.passwordExpired) throw new PasswordExpired();
    return { user: found.user, familyId: claims.familyId, expiresAt: claims.expiresAt };
  }

  /** Guard for /api/* resources. */
  readonly requireBearer: RequestHandler = async (req: Request, res: Response, next: NextFunction) => {
    const match = BEARER.exec(req.get('authorization') ?? '');
    res.locals.apiUser = (await this.check(match?.[1])).user;
    next();
  };
}
