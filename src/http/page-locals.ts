import type { Request, RequestHandler, Response } from 'express';
import { languageLocals } from '../i18n/language.js';
import type { Csrf } from './csrf.js';

/**
 * What every page template can use: the signed-in user, a CSRF token, `t`/`lang`/`fmt` in the page's
 * language, and where the language switch comes back to; each computed only when rendered.
 */
export function pageLocalsOf(req: Request, csrfToken: () => string) {
  return {
    currentUser: () => req.user,
    csrfToken,
    // A page answered to a POST (a form shown again) has no URL of its own to come back to.
    pagePath: () => (req.method === 'GET' ? req.originalUrl : ''),
    ...languageLocals(req),
  };
}

export function pageLocals(csrf: Csrf): RequestHandler {
  return (req: Request, res: Response, next) => {
    Object.assign(res.locals, pageLocalsOf(req, () => csrf.token(req, res)));
    next();
  };
}
