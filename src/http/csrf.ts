import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseCookies, serialize as serializeCookie, type CookieSerializeOptions } from 'cookie';
import { doubleCsrf } from 'csrf-csrf';
import type { Request, RequestHandler, Response } from 'express';
import { CsrfFailed } from './errors.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface Csrf {
  /** Refuses state-changing requests from other sites or without a valid token. */
  protect: RequestHandler;
  /** The token for this request's page or script; `rotate` after sign-in and sign-out. */
  token(req: Request, res: Response, options?: { rotate?: boolean }): string;
  /** The token of an anonymous page answered before Express (src/http/anonymous-pages.ts). */
  anonymousToken(req: IncomingMessage, res: ServerResponse): string;
}

/** A request that shows it comes from another site, whatever token it carries. */
export function isCrossSite(req: Request, appOrigin: string): boolean {
  const origin = req.get('origin');
  const fetchSite = req.get('sec-fetch-site');
  // A page served with Referrer-Policy: no-referrer (the reset form) posts `Origin: null`; the
  // browser's own Sec-Fetch-Site still says where it came from, and only same-origin is believed.
  if (origin === 'null') return fetchSite !== 'same-origin';
  if (origin !== undefined && origin !== appOrigin) return true;
  return fetchSite === 'cross-site';
}

/** How many (session, token cookie) pairs are remembered as valid; past that the memory starts again. */
const KNOWN_TOKENS_MAX = 50_000;

/**
 * Signed double-submit cookie (csrf-csrf): works before sign-in without storing anything, so an
 * anonymous visitor gets no session row. The token is bound to the session id once signed in, so it
 * changes at sign-in and sign-out.
 */
export function createCsrf(options: { secrets: string[]; appOrigin: string; https: boolean; exemptPrefix: string }): Csrf {
  const cookieName = options.https ? '__Host-csrf' : 'csrf';
  const identifierOf = (req: { user?: unknown; sessionID?: string }) => (req.user ? req.sessionID! : 'anonymous');
  const { generateCsrfToken, validateRequest } = doubleCsrf({
    // Newest first: tokens are made with the first key and accepted under any key still listed.
    getSecret: () => options.secrets,
    getSessionIdentifier: identifierOf,
    cookieName,
    cookieOptions: { sameSite: 'lax', path: '/', secure: options.https, httpOnly: true },
    getCsrfTokenFromRequest: (req) => {
      const header = req.get('x-csrf-token');
      if (header) return header;
      const field = (req.body as Record<string, unknown> | undefined)?._csrf;
      return typeof field === 'string' ? field : undefined;
    },
  });

  // One token per response: a page asking twice (meta tag and form) must not mint two.
  const issued = new WeakMap<Request, string>();
  /**
   * Token cookies already found valid for their session (or for anonymous visitors). A page shows
   * the browser the token its cookie already holds: csrf-csrf would check its HMAC again and send the
   * same cookie back on every page. The secrets are fixed for the life of the process, so a pair once
   * valid stays valid; rotation (sign-in, sign-out) makes a new token and never asks here.
   */
  const known = new Set<string>();
  const keyOf = (identifier: string, cookie: string) => `${identifier}\n${cookie}`;
  const remember = (key: string) => {
    if (known.size >= KNOWN_TOKENS_MAX) known.clear();
    known.add(key);
  };
  /** csrf-csrf's token for this request, through what was already found valid. */
  const tokenFor = (req: Request, res: Response, identifier: string): string => {
    const cookie = (req.cookies as Record<string, unknown> | undefined)?.[cookieName];
    const key = typeof cookie === 'string' ? keyOf(identifier, cookie) : undefined;
    if (key && known.has(key)) return cookie as string;
    const token = generateCsrfToken(req, res);
    // The cookie's own token came back: csrf-csrf found it valid for this identifier.
    if (key && token === cookie) remember(key);
    else remember(keyOf(identifier, token));
    return token;
  };

  return {
    protect(req, _res, next) {
      if (SAFE_METHODS.has(req.method)) return next();
      if (isCrossSite(req, options.appOrigin)) return next(new CsrfFailed());
      // The token API takes JSON only and sets no ambient credentials a form could ride on.
      if (req.path.startsWith(options.exemptPrefix)) return next();
      if (!validateRequest(req)) return next(new CsrfFailed());
      next();
    },
    token(req, res, { rotate = false } = {}) {
      const existing = issued.get(req);
      if (existing && !rotate) return existing;
      // After a rotation the session id may change later in the same request: the new token's key is
      // only remembered once a page finds it in its cookie.
      const token = rotate ? generateCsrfToken(req, res, { overwrite: true }) : tokenFor(req, res, identifierOf(req));
      issued.set(req, token);
      return token;
    },
    anonymousToken(req, res) {
      // csrf-csrf reads the cookies from req.cookies and sets its own with res.cookie: the two things
      // Express (cookie-parser, res.cookie) would have added, made here from the same cookie module.
      // No req.user: the token is bound to no session, as for any anonymous visitor.
      const request = { cookies: parseCookies(req.headers.cookie ?? '') } as unknown as Request;
      const response = {
        cookie: (name: string, value: string, cookieOptions: CookieSerializeOptions) => void res.appendHeader('Set-Cookie', serializeCookie(name, value, cookieOptions)),
      } as unknown as Response;
      return tokenFor(request, response, 'anonymous');
    },
  };
}
