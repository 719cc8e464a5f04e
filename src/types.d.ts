import 'express-session';

/** A role grant as the session keeps it: judged at each request, so an end date takes effect in live sign-ins. */
export interface RoleGrant {
  role: string;
  /** ms since epoch, or null for "always". */
  startsAt: number | null;
  endsAt: number | null;
}

/** What a request sees as req.user: the roles are the ones active now. */
export interface SessionUser {
  id: number;
  login: string;
  name: string;
  email: string;
  roles: string[];
}

/** What the session row stores about its user (passport's serializeUser). Nothing secret. */
export interface StoredUser {
  id: number;
  login: string;
  name: string;
  email: string;
  grants: RoleGrant[];
}

declare module 'express-session' {
  interface SessionData {
    passport?: { user?: StoredUser };
    /** ms since epoch: sign-in time, and the hard end of the session (SESSION_ABSOLUTE_HOURS). */
    startedAt?: number;
    absoluteExpiresAt?: number;
    /** Public id of this session (security.sessions.handle); never the session id. */
    handle?: string;
    /** Marked expired by an administrator (or already expired at sign-in): restricted to the password form. */
    passwordExpired?: boolean;
    /** ms since epoch: when the password was last set, for PASSWORD_MAX_AGE_DAYS judged at each request. */
    passwordChangedAt?: number;
    /** ms since epoch: when the CloudFront cookies handed out last end. */
    assetCookiesUntil?: number;
    /** When they were issued (a refresh comes once less than half of their time is left). */
    assetCookiesIssuedAt?: number;
    /** The language this sign-in last used ('en' or 'ru'); a change is written to the user. */
    language?: 'en' | 'ru';
  }
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    // eslint-disable-next-line @typescript-eslint/no-empty-object-type
    interface User extends SessionUser {}
  }
}
