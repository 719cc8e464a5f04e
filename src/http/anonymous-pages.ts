import { randomBytes } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { languageOf } from '../i18n/language.js';
import type { Csrf } from './csrf.js';
import { wantsJson } from './negotiation.js';
import { pageLocalsOf } from './page-locals.js';

/** A page a visitor without a session sees as it is for everyone, but for the CSRF token. */
export interface AnonymousPage {
  view: string;
  /** What its controller renders it with when nothing was typed and the URL has no query. */
  locals?: Record<string, unknown>;
}

/**
 * The pages most visitors without a session open first (home, sign-in, registration), answered
 * before the body parsers, the session and the router: a browser `GET` of exactly that path (no
 * query), with no session cookie, gets the page rendered once per language (where views are cached,
 * as in production) with a hole where the visitor's own CSRF token goes. Anything else (a query
 * string, a session cookie, a script asking for JSON, another method) goes the usual way, so what
 * the page says is what its controller would render: the tests compare the two.
 */
export function anonymousPages(options: { pages: Record<string, AnonymousPage>; sessionCookie: string; csrf: Csrf }): RequestHandler {
  const pages = new Map(Object.entries(options.pages));
  const marker = `${options.sessionCookie}=`;
  // A string no template writes, split out of the rendered page: parts joined by the token.
  const hole = `csrf-hole-${randomBytes(12).toString('hex')}`;
  const rendered = new Map<string, string[]>();

  return (req, res, next) => {
    if (req.method !== 'GET') return next();
    const page = pages.get(req.originalUrl);
    if (!page || (req.headers.cookie ?? '').includes(marker) || wantsJson(req)) return next();
    const key = `${req.originalUrl} ${languageOf(req)}`;
    const token = options.csrf.token(req, res);
    const parts = rendered.get(key);
    if (parts) return send(res, parts.join(token));
    req.app.render(page.view, { ...page.locals, ...pageLocalsOf(req, () => hole) }, (err, html) => {
      if (err) return next(err);
      const split = html.split(hole);
      if (req.app.enabled('view cache')) rendered.set(key, split);
      send(res, split.join(token));
    });
  };
}

function send(res: Response, html: string): void {
  res.statusCode = 200;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(html));
  res.end(html);
}
