import { randomBytes } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { SignedAssetCookies } from '../assets/cloudfront-cookies.js';
import type { Csrf } from '../http/csrf.js';
import { AppError, Unauthenticated } from '../http/errors.js';
import { wantsJson } from '../http/negotiation.js';
import type { EndReason, SessionEnding } from '../sessions/session-ending.js';
import { clearSessionCookie, detachSession } from '../sessions/session-lifetime.js';
import type { SessionRecords } from '../sessions/session-records.sql.js';
import type { SessionUser } from '../types.js';
import type { CheckedUser, Passport } from './passport-setup.js';
import { publicUser } from './public-user.js';

export class WrongCredentials extends AppError {
  constructor() {
    // One answer for an unknown login and a wrong password.
    super(401, 'wrong_credentials', 'Invalid login or password');
  }
}

export class Forbidden extends AppError {
  constructor() {
    super(403, 'forbidden', 'You do not have access to this page.');
  }
}

export class PasswordExpired extends AppError {
  constructor() {
    super(403, 'password_expired', 'Your password has expired. Please choose a new one.');
  }
}

/** The named steps of authentication; controllers call these and nothing lower. */
export class Authentication {
  constructor(
    private readonly deps: {
      passport: Passport;
      csrf: Csrf;
      ending: SessionEnding;
      records: SessionRecords;
      cookieName: string;
      https: boolean;
      absoluteMs: number;
      /** CloudFront signed cookies, when configured. */
      assetCookies?: SignedAssetCookies;
    },
  ) {}

  /** Runs Passport's local strategy on req.body; resolves the user or undefined. */
  checkCredentials(req: Request, res: Response): Promise<CheckedUser | undefined> {
    return new Promise((resolve, reject) => {
      this.deps.passport.authenticate('local', { session: false }, (err: unknown, user: CheckedUser | false) =>
        err ? reject(err) : resolve(user || undefined),
      )(req, res, (err: unknown) => reject(err));
    });
  }

  /**
   * Signs the user in on a fresh session id (no fixation) with a fresh CSRF token and a new public
   * handle, recorded in security.sessions. An expired password gives a restricted session.
   */
  async startSessionFor(req: Request, res: Response, user: SessionUser, options: { passwordExpired?: boolean } = {}): Promise<void> {
    if (req.user) await this.deps.ending.end(req.sessionID, 'replaced');
    await new Promise<void>((resolve, reject) => req.login(publicUser(user), (err) => (err ? reject(err) : resolve())));
    const now = Date.now();
    const handle = randomBytes(16).toString('base64url');
    req.session.startedAt = now;
    req.session.absoluteExpiresAt = now + this.deps.absoluteMs;
    req.session.handle = handle;
    if (options.passwordExpired) req.session.passwordExpired = true;
    await this.deps.records.start({ handle, userId: user.id, ip: req.ip, userAgent: req.get('user-agent') });
    this.deps.csrf.token(req, res, { rotate: true });
    this.deps.assetCookies?.set(res, new Date(req.session.absoluteExpiresAt));
  }

  /** Ends this request's session (row, cookie, announcement) and leaves the request anonymous. */
  async terminateSession(req: Request, res: Response, reason: EndReason): Promise<void> {
    if (req.user) await this.deps.ending.end(req.sessionID, reason, { ip: req.ip });
    detachSession(req);
    clearSessionCookie(res, this.deps.cookieName, this.deps.https);
    this.deps.assetCookies?.clear(res);
    this.deps.csrf.token(req, res, { rotate: true });
  }

  /** Guard for pages that need a signed-in user. */
  readonly requireUser: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    if (req.user) return next();
    if (wantsJson(req)) return next(new Unauthenticated());
    res.redirect(303, `/login?returnTo=${encodeURIComponent(req.originalUrl)}`);
  };

  /** Guard for pages that need a role (roles are loaded into the session at sign-in). */
  requireRole(role: string): RequestHandler {
    return (req, res, next) => {
      if (!req.user) return this.requireUser(req, res, next);
      if (!req.user.roles.includes(role)) return next(new Forbidden());
      next();
    };
  }

  /**
   * A session signed in with an expired password reaches only the password form (and logout): pages
   * redirect there, scripts get 403 password_expired.
   */
  readonly restrictExpiredPassword: RequestHandler = (req, res, next) => {
    if (!req.user || !req.session?.passwordExpired) return next();
    const allowed = req.path === '/account/password' || (req.method === 'POST' && req.path === '/logout') || req.path === '/csrf-token';
    if (allowed) return next();
    if (wantsJson(req)) return next(new PasswordExpired());
    res.redirect(303, '/account/password');
  };
}
