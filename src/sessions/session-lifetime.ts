import type { Request, RequestHandler, Response } from 'express';
import type { SignIns } from './sign-ins.js';

/** Drops the session object from this request so express-session neither saves nor re-creates its row. */
export function detachSession(req: Request): void {
  delete (req as { session?: unknown }).session;
  req.user = undefined;
}

export function clearSessionCookie(res: Response, name: string, https: boolean): void {
  res.clearCookie(name, { path: '/', httpOnly: true, sameSite: 'lax', secure: https });
}

/**
 * Runs after passport's session: ends a session past its absolute lifetime, and clears a cookie
 * that named no live session (unknown, tampered or expired), treating the request as anonymous.
 */
export function enforceSessionLifetime(options: { signIns: SignIns; cookieName: string; https: boolean }): RequestHandler {
  return async (req, res, next) => {
    const signedIn = Boolean(req.session?.passport?.user);
    const absoluteEnd = req.session?.absoluteExpiresAt;
    if (signedIn && absoluteEnd !== undefined && absoluteEnd <= Date.now()) {
      await options.signIns.end({ sid: req.sessionID }, 'expired');
      detachSession(req);
      clearSessionCookie(res, options.cookieName, options.https);
    } else if (!signedIn && req.cookies?.[options.cookieName] !== undefined) {
      clearSessionCookie(res, options.cookieName, options.https);
    }
    next();
  };
}
