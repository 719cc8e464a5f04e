import { randomBytes } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { SessionData } from 'express-session';
import type { SignedAssetCookies } from '../assets/cloudfront-cookies.js';
import type { Csrf } from '../http/csrf.js';
import { AppError, Unauthenticated } from '../http/errors.js';
import { wantsJson } from '../http/negotiation.js';
import { clearSessionCookie, detachSession } from '../sessions/session-lifetime.js';
import { CredentialsChanged, type Change, type EndCause, type SignIns } from '../sessions/sign-ins.js';
import type { CheckedUser, Passport } from './passport-setup.js';
import { statedLanguageOf } from '../i18n/language.js';
import { isPasswordExpired } from './password-expiry.js';

export class WrongCredentials extends AppError {
  constructor() {
    // One answer for an unknown login and a wrong password.
    super(401, 'wrong_credentials', 'errors.wrong_credentials');
  }
}

export class Forbidden extends AppError {
  constructor() {
    super(403, 'forbidden', 'errors.forbidden');
  }
}

export class PasswordExpired extends AppError {
  constructor() {
    super(403, 'password_expired', 'errors.password_expired');
  }
}

/**
 * The named steps of authentication for browser sessions (Rails' concern): check the credentials,
 * start a session for a user, terminate it, and the guards. Controllers call these and nothing
 * lower; the rows are the sign-in lifecycle's.
 */
export class Authentication {
  constructor(
    private readonly deps: {
      passport: Passport;
      csrf: Csrf;
      signIns: SignIns;
      cookieName: string;
      https: boolean;
      absoluteMs: number;
      passwordMaxAgeDays: number;
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

  /** Signed in with an expired password (marked, or past PASSWORD_MAX_AGE_DAYS now): only the password form. */
  readonly isRestricted = (session: SessionData): boolean =>
    isPasswordExpired({ marked: Boolean(session.passwordExpired), changedAt: session.passwordChangedAt ?? session.startedAt ?? Date.now() }, this.deps.passwordMaxAgeDays);

  /**
   * Signs the user in on a fresh session id (no fixation) with a fresh CSRF token and a new public
   * handle (a browser-session cookie unless `remember`); `within` commits with it. The session exists only if the credentials checked are still the user's when it is
   * written (a password changed meanwhile: 401 wrong_credentials, nothing kept).
   */
  async startSessionFor(req: Request, res: Response, user: CheckedUser, options: { remember?: boolean; within?: Change } = {}): Promise<void> {
    if (req.user) await this.deps.signIns.end({ sid: req.sessionID }, 'replaced', { ip: req.ip });
    await new Promise<void>((resolve, reject) => req.login(user as unknown as Express.User, (err) => (err ? reject(err) : resolve())));
    req.user = user.user;
    const now = Date.now();
    const handle = randomBytes(16).toString('base64url');
    const session = req.session;
    // "Keep me signed in": the cookie lasts the idle time, renewed with use. Without it the cookie
    // ends with the browser; the server's idle and absolute limits hold either way.
    if (!options.remember) session.cookie.maxAge = null as unknown as number;
    session.startedAt = now;
    session.absoluteExpiresAt = now + this.deps.absoluteMs;
    session.handle = handle;
    session.passwordChangedAt = user.passwordChangedAt;
    const language = statedLanguageOf(req);
    if (language) session.language = language;
    if (user.passwordMarkedExpired) session.passwordExpired = true;
    const restricted = this.isRestricted(session);
    // A restricted sign-in gets no CDN access.
    if (!restricted) this.deps.assetCookies?.issue(res, session);
    try {
      await this.deps.signIns.startBrowser({
        sid: req.sessionID,
        sess: session as SessionData & { handle: string },
        userId: user.user.id,
        credentialsVersion: user.credentialsVersion,
        ip: req.ip,
        userAgent: req.get('user-agent'),
        language: language === user.language ? undefined : language,
        within: options.within,
      });
    } catch (err) {
      if (!(err instanceof CredentialsChanged)) throw err;
      detachSession(req);
      this.deps.assetCookies?.clear(res);
      throw new WrongCredentials();
    }
    this.deps.csrf.token(req, res, { rotate: true });
  }

  /** Ends this request's session (or, with everywhere, every sign-in of the user) and leaves the request anonymous. */
  async terminateSession(req: Request, res: Response, reason: EndCause, options: { everywhere?: boolean } = {}): Promise<void> {
    if (req.user) {
      const target = options.everywhere ? { userId: req.user.id } : { sid: req.sessionID };
      await this.deps.signIns.end(target, reason, { ip: req.ip });
    }
    this.leaveAnonymous(req, res);
  }

  /** After this request's sign-in ended elsewhere in the same request: no session, no cookies, a fresh CSRF token. */
  leaveAnonymous(req: Request, res: Response): void {
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

  /** Guard for pages that need a role (judged now, from the grants the session keeps). */
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
    if (!req.user || !req.session || !this.isRestricted(req.session)) return next();
    const allowed =
      req.path === '/account/password' ||
      (req.method === 'POST' && (req.path === '/logout' || req.path === '/language')) ||
      req.path === '/csrf-token';
    if (allowed) return next();
    if (wantsJson(req)) return next(new PasswordExpired());
    res.redirect(303, '/account/password');
  };
}
