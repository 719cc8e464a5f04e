import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import type { SecurityEvents } from '../audit/security-events.sql.js';
import { PasswordExpired } from '../auth/authentication.js';
import { publicUser } from '../auth/public-user.js';
import type { SignInAttempts } from '../auth/sign-in.js';
import { parseSignIn } from '../auth/user-rules.js';
import type { UserStore } from '../auth/users.sql.js';
import { isCrossSite } from '../http/csrf.js';
import { AppError, CsrfFailed, InvalidInput } from '../http/errors.js';
import type { SessionRecords } from '../sessions/session-records.sql.js';
import { InvalidToken, type AccessTokens } from './access-tokens.js';
import type { RefreshTokens } from './refresh-tokens.sql.js';

export const REFRESH_COOKIE = 'refreshToken';

const fingerprintOf = (body: unknown): string => {
  const parsed = z.object({ fingerprint: z.string().min(1).max(512) }).safeParse(body ?? {});
  if (!parsed.success) throw new InvalidInput({ fingerprint: 'A fingerprint (1 to 512 characters) is required.' });
  return parsed.data.fingerprint;
};

/**
 * /api/auth/*: JSON only, and no ambient cookie but the Strict, /api/auth-scoped refresh cookie, so
 * it needs no CSRF token; a request that shows another site's Origin is still refused.
 */
export function apiAuthGuard(appOrigin: string): RequestHandler {
  return (req, _res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    if (isCrossSite(req, appOrigin)) return next(new CsrfFailed());
    if (!req.is('application/json')) return next(new AppError(415, 'unsupported_media_type', 'Send a JSON body (Content-Type: application/json).'));
    next();
  };
}

/** The token API for scripts and mobile apps: sign in, rotate, sign out, and who am I. */
export class TokenController {
  constructor(
    private readonly deps: {
      attempts: SignInAttempts;
      access: AccessTokens;
      refresh: RefreshTokens;
      users: UserStore;
      records: SessionRecords;
      events: SecurityEvents;
      https: boolean;
      refreshMs: number;
    },
  ) {}

  private setRefreshCookie(res: Response, token: string) {
    res.cookie(REFRESH_COOKIE, token, { httpOnly: true, sameSite: 'strict', path: '/api/auth', secure: this.deps.https, maxAge: this.deps.refreshMs });
  }

  private clearRefreshCookie(res: Response) {
    res.clearCookie(REFRESH_COOKIE, { httpOnly: true, sameSite: 'strict', path: '/api/auth', secure: this.deps.https });
  }

  login = async (req: Request, res: Response) => {
    const input = parseSignIn(req.body);
    const fingerprint = fingerprintOf(req.body);
    const user = await this.deps.attempts.verify(req, res, input);
    if (user.passwordExpired) throw new PasswordExpired();
    const { token, familyId } = await this.deps.refresh.create(user.id, fingerprint);
    await this.deps.records.start({ handle: `token:${familyId}`, userId: user.id, ip: req.ip, userAgent: req.get('user-agent') });
    const { accessToken, expiresIn } = await this.deps.access.issue(user, familyId);
    this.setRefreshCookie(res, token);
    res.json({ accessToken, tokenType: 'Bearer', expiresIn, user: publicUser(user) });
  };

  refreshTokens = async (req: Request, res: Response) => {
    const fingerprint = fingerprintOf(req.body);
    const presented = req.cookies?.[REFRESH_COOKIE];
    if (typeof presented !== 'string' || !presented) throw new InvalidToken();
    try {
      const rotated = await this.deps.refresh.rotate(presented, fingerprint);
      const found = await this.deps.users.findById(rotated.userId);
      if (!found || found.passwordExpired) throw new InvalidToken();
      const { accessToken, expiresIn } = await this.deps.access.issue(found.user, rotated.familyId);
      this.setRefreshCookie(res, rotated.token);
      res.json({ accessToken, tokenType: 'Bearer', expiresIn, user: found.user });
    } catch (err) {
      if (err instanceof InvalidToken) this.clearRefreshCookie(res);
      throw err;
    }
  };

  logout = async (req: Request, res: Response) => {
    const presented = req.cookies?.[REFRESH_COOKIE];
    const family = typeof presented === 'string' && presented ? await this.deps.refresh.familyOf(presented) : undefined;
    if (family) {
      await this.deps.refresh.revokeFamily(family.familyId, 'logout');
      await this.deps.events.record({ type: 'logout', userId: family.userId, ip: req.ip, sessionHandle: `token:${family.familyId}` });
    }
    this.clearRefreshCookie(res);
    res.status(204).end();
  };

  me = async (req: Request, res: Response) => {
    res.json({ user: res.locals.apiUser });
  };

  /** Guard for /api/* resources: a valid access token of a live sign-in, or 401 invalid_token. */
  readonly requireBearer: RequestHandler = async (req: Request, res: Response, next: NextFunction) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer ([A-Za-z0-9\-_.~+/]+=*)$/.exec(header);
    const claims = await this.deps.access.verify(match?.[1]);
    // Logging out (or being logged out everywhere) ends the family, and its access tokens with it.
    const [found, live] = await Promise.all([this.deps.users.findById(claims.userId), this.deps.refresh.isFamilyLive(claims.familyId)]);
    if (!found || !live) throw new InvalidToken();
    res.locals.apiUser = found.user;
    next();
  };
}
