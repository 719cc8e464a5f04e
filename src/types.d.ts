import 'express-session';

/** What a signed-in session carries: enough to render pages without a query per request. Nothing secret. */
export interface SessionUser {
  id: number;
  login: string;
  name: string;
  email: string;
  roles: string[];
}

declare module 'express-session' {
  interface SessionData {
    passport?: { user?: SessionUser };
    /** ms since epoch: sign-in time, and the hard end of the session (SESSION_ABSOLUTE_HOURS). */
    startedAt?: number;
    absoluteExpiresAt?: number;
    /** Public id of this session (security.sessions.handle); never the session id. */
    handle?: string;
    /** Signed in with an expired password: only /account/password is reachable. */
    passwordExpired?: boolean;
  }
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    // eslint-disable-next-line @typescript-eslint/no-empty-object-type
    interface User extends SessionUser {}
  }
}
