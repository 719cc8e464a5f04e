import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, RequestHandler } from 'express';
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

export interface AnonymousPages {
  /**
   * The request listener's first look, before Express: answers a page already kept and says so
   * (true), else leaves the request alone (false) for Express.
   */
  answer(req: IncomingMessage, res: ServerResponse): boolean;
  /** In Express, before the body parsers and the session: renders a page, keeps it, answers it. */
  middleware: RequestHandler;
}

/**
 * The pages most visitors without a session open first (home, sign-in, registration). A browser
 * `GET` of exactly that path (no query), with no session cookie, gets the page rendered once per
 * language (where views are cached, as in production) with a hole where the visitor's own CSRF token
 * goes. The first such request renders it inside Express; later ones are answered before Express is
 * even entered (its routing alone costs more than the rest of such an answer), with what every
 * response gets (`everyResponse`: the security headers, `no-store`, the log line). Anything else (a
 * query string, a session cookie, a script asking for JSON, another method) goes the usual way, so
 * what the page says is what its controller would render: the tests compare the two.
 */
export function anonymousPages(options: {
  pages: Record<string, AnonymousPage>;
  sessionCookie: string;
  csrf: Csrf;
  /**
   * The script's way to its first token (`GET /csrf-token`), which every sign-in from a script or
   * an app starts with: without a session cookie it is answered here too, as its route would.
   */
  tokenPath?: string;
  everyResponse: (req: IncomingMessage, res: ServerResponse) => void;
}): AnonymousPages {
  const pages = new Map(Object.entries(options.pages));
  const marker = `${options.sessionCookie}=`;
  // A string no template writes, split out of the rendered page: parts joined by the token.
  const hole = `csrf-hole-${randomBytes(12).toString('hex')}`;
  const rendered = new Map<string, string[]>();

  const pageFor = (req: IncomingMessage, url: string): AnonymousPage | undefined => {
    if (req.method !== 'GET') return undefined;
    const page = pages.get(url);
    if (!page || (req.headers.cookie ?? '').includes(marker) || wantsJson(req)) return undefined;
    return page;
  };
  const keyOf = (req: IncomingMessage, url: string) => `${url} ${languageOf(req)}`;

  return {
    answer(req, res) {
      const url = req.url ?? '';
      if (url === options.tokenPath && req.method === 'GET' && !(req.headers.cookie ?? '').includes(marker)) {
        options.everyResponse(req, res);
        const body = JSON.stringify({ csrfToken: options.csrf.anonymousToken(req, res) });
        send(res, body, 'application/json; charset=utf-8');
        return true;
      }
      if (!pageFor(req, url)) return false;
      const parts = rendered.get(keyOf(req, url));
      if (!parts) return false;
      options.everyResponse(req, res);
      send(res, parts.join(options.csrf.anonymousToken(req, res)));
      return true;
    },
    middleware(req, res, next) {
      const page = pageFor(req, req.originalUrl);
      if (!page) return next();
      const key = keyOf(req, req.originalUrl);
      const token = options.csrf.token(req, res);
      const parts = rendered.get(key);
      if (parts) return send(res, parts.join(token));
      req.app.render(page.view, { ...page.locals, ...pageLocalsOf(req as Request, () => hole) }, (err, html) => {
        if (err) return next(err);
        const split = html.split(hole);
        if (req.app.enabled('view cache')) rendered.set(key, split);
        send(res, split.join(token));
      });
    },
  };
}

function send(res: ServerResponse, body: string, type = 'text/html; charset=utf-8'): void {
  res.statusCode = 200;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}
