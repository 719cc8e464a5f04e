import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Passport } from './passport-setup.js';
import type { Csrf } from '../http/csrf.js';
import { AppError, Unauthenticated } from '../http/errors.js';
import { wantsJson } from '../http/negotiation.js';
import type { EndReason, SessionEnding } from '../sessions/session-ending.js';
import { clearSessionCookie, detachSession } from '../sessions/session-lifetime.js';
import type { SessionUser } from '../types.js';

export class WrongCredentials extends AppError {
  constructor() {
    // One answer for an unknown login and a wrong password.
    super(401, 'wrong_credentials', 'Invalid login or password');
  }
}

/** The named steps of authentication; controllers call these and nothing lower. */
export class Authentication {
  constructor(
    private readonly deps: {
      passport: Passport;
      csrf: Csrf;
      ending: SessionEnding;
      cookieName: string;
      https: boolean;
      absoluteMs: number;
    },
  ) {}

  /** Runs Passport's local strategy on req.body; resolves the user or undefined. */
  checkCredentials(req: Request, res: Response): Promise<SessionUser | undefined> {
    return new Promise((resolve, reject) => {
      this.deps.passport.authenticate('local', { session: false }, (err: unknown, user: SessionUser | false) =>
        err ? reject(err) : resolve(user || undefined),
      )(req, res, (err: unknown) => reject(err));
    });
  }

  /** Signs the user in on a fresh session id (no fixation) with a fresh CSRF token. */
  async startSessionFor(req: Request, res: Response, user: SessionUser): Promise<void> {
    await new Promise<void>((resolve, reject) => req.login(user, (err) => (err ? reject(err) : resolve())));
    const now = Date.now();
    req.session.startedAt = now;
    req.session.absoluteExpiresAt = now + this.deps.absoluteMs;
    this.deps.csrf.token(req, res, { rotate: true });
  }

  /** Ends this request's session (row, cookie, announcement) and leaves the request anonymous. */
  async terminateSession(req: Request, res: Response, reason: EndReason): Promise<void> {
    if (req.user) await this.deps.ending.end(req.sessionID, reason);
    detachSession(req);
    clearSessionCookie(res, this.deps.cookieName, this.deps.https);
    this.deps.csrf.token(req, res, { rotate: true });
  }

  /** Guard for pages that need a signed-in user. */
  readonly requireUser: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    if (req.user) return next();
    if (wantsJson(req)) return next(new Unauthenticated());
    res.redirect(303, `/login?returnTo=${encodeURIComponent(req.originalUrl)}`);
  };
}
