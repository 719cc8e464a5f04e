import session from 'express-session';
import type { RequestHandler } from 'express';
import type { SessionStore } from './session-store.js';

export function sessionCookieName(https: boolean): string {
  // __Host- pins the cookie to this exact origin over https (no Domain, Path=/, Secure).
  return https ? '__Host-sid' : 'sid';
}

/**
 * The one session middleware instance: Express uses it, and the socket layer is handed the very
 * same one so both see the same session.
 */
export function createSessionMiddleware(options: { store: SessionStore; secrets: string[]; https: boolean; idleMs: number }): RequestHandler {
  const middleware = session({
    name: sessionCookieName(options.https),
    secret: options.secrets,
    store: options.store,
    resave: false,
    // Anonymous visitors get no row (and no cookie) until they sign in.
    saveUninitialized: false,
    // The cookie's idle deadline moves with each request; the row follows at most once per touch interval (session-store.ts).
    rolling: true,
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
  return middleware;
}
