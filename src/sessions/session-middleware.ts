import { createHmac } from 'node:crypto';
import { serialize } from 'cookie';
import session from 'express-session';
import type { Request, RequestHandler } from 'express';
import onHeaders from 'on-headers';
import type { SessionStore } from './session-store.js';

export function sessionCookieName(https: boolean): string {
  // __Host- pins the cookie to this exact origin over https (no Domain, Path=/, Secure).
  return https ? '__Host-sid' : 'sid';
}

export interface SessionMiddleware {
  /** The one express-session instance: Express and the socket handshake both run it. */
  middleware: RequestHandler;
  /**
   * Express only, just before `middleware`: a "keep me signed in" cookie (it has an expiry) is sent
   * again with each response, its expiry moved to the idle time from now.
   */
  renewRemembered: RequestHandler;
}

/**
 * The one session middleware instance: Express uses it, and the socket layer is handed the very
 * same one so both see the same session.
 *
 * express-session's `rolling` would send the cookie again with every response. For a browser-session
 * cookie (no "keep me signed in": no Max-Age or Expires) that is the very same cookie each time, and
 * signing and sending it again cost a few per cent of a signed-in page; so `rolling` is off, and only a
 * cookie with an expiry is renewed (renewRemembered).
 */
export function createSessionMiddleware(options: { store: SessionStore; secrets: string[]; https: boolean; idleMs: number }): SessionMiddleware {
  const name = sessionCookieName(options.https);
  const middleware = session({
    name,
    secret: options.secrets,
    store: options.store,
    resave: false,
    // Anonymous visitors get no row (and no cookie) until they sign in.
    saveUninitialized: false,
    rolling: false,
    cookie: { httpOnly: true, sameSite: 'lax', secure: options.https, path: '/', maxAge: options.idleMs },
  });
  // express-session sets store.generate when the middleware is made: every id it makes up is known
  // to the store as one that no row holds (the sign-in's regenerate then skips a DELETE).
  const store = options.store as SessionStore & { generate: (req: Express.Request & { sessionID: string }) => void };
  const generate = store.generate.bind(store);
  store.generate = (req) => {
    generate(req);
    store.markGenerated(req.sessionID);
  };

  const marker = `${name}=`;
  const renewRemembered: RequestHandler = (req, res, next) => {
    // Registered before express-session's own listener, so it runs after it: what express-session
    // sent (a new or regenerated session, a changed one) is not sent twice.
    onHeaders(res, () => {
      const current = req.session;
      if (!current || current.cookie.expires == null) return;
      // Only the session the request's own cookie named: a new one is express-session's to send.
      if (req.sessionID !== sidInCookie(req, name)) return;
      if (current.cookie.secure && !(req as Request).secure) return;
      const sent = res.getHeader('Set-Cookie');
      const already = Array.isArray(sent) ? sent : sent === undefined ? [] : [String(sent)];
      if (already.some((c) => c.startsWith(marker))) return;
      // The idle deadline moves with each request (the row follows at most once per touch interval, session-store.ts).
      current.touch();
      const { expires, httpOnly, path, sameSite, secure } = current.cookie;
      const cookie = serialize(name, signedValue(req.sessionID, options.secrets[0]!), { expires: expires ?? undefined, httpOnly, path, sameSite, secure: secure === true });
      res.setHeader('Set-Cookie', [...already, cookie]);
    });
    next();
  };
  return { middleware, renewRemembered };
}

/** The session id a request's cookie names (not verified: it is only compared with the id express-session accepted). */
function sidInCookie(req: Request, name: string): string | undefined {
  const value = (req.cookies as Record<string, unknown> | undefined)?.[name];
  if (typeof value !== 'string' || !value.startsWith('s:')) return undefined;
  const dot = value.lastIndexOf('.');
  return dot > 2 ? value.slice(2, dot) : undefined;
}

/** express-session's cookie value (cookie-signature's format): `s:` + id + `.` + HMAC-SHA256 in base64 without padding. */
function signedValue(sid: string, secret: string): string {
  return `s:${sid}.${createHmac('sha256', secret).update(sid).digest('base64').replace(/=+$/, '')}`;
}
