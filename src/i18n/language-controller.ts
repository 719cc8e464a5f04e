import type { Request, Response } from 'express';
import { safeReturnTo } from '../auth/user-rules.js';
import type { UserStore } from '../auth/users.sql.js';
import { InvalidInput } from '../http/errors.js';
import { wantsJson } from '../http/negotiation.js';
import { isLanguage, type Language } from './i18n.js';
import { LANGUAGE_COOKIE, statedLanguageOf } from './language.js';

const YEAR_MS = 365 * 24 * 3_600_000;

/**
 * POST /language (`lang`): the switch in every page's header. Sets the `lang` cookie and, for a
 * signed-in user, the language their mail is written in; 303 back to the page it came from (JSON 204).
 */
export class LanguageController {
  constructor(private readonly deps: { users: Pick<UserStore, 'setLanguage'>; appOrigin: string; https: boolean }) {}

  readonly submit = async (req: Request, res: Response): Promise<void> => {
    const lang: unknown = (req.body as Record<string, unknown> | undefined)?.lang;
    if (!isLanguage(lang)) throw new InvalidInput({ lang: 'validation.language' });
    await this.remember(req, lang);
    res.cookie(LANGUAGE_COOKIE, lang, { maxAge: YEAR_MS, path: '/', sameSite: 'lax', httpOnly: true, secure: this.deps.https });
    if (wantsJson(req)) {
      res.status(204).end();
      return;
    }
    res.redirect(303, this.backTo(req));
  };

  /**
   * A signed-in request in another language than its session last saw: the user now uses it (their
   * mail follows). Costs nothing while the language stays the same.
   */
  readonly rememberLanguage = async (req: Request, _res: Response, next: (err?: unknown) => void): Promise<void> => {
    try {
      const stated = req.user && req.session ? statedLanguageOf(req) : undefined;
      if (stated && req.session.language !== stated) await this.remember(req, stated);
      next();
    } catch (err) {
      next(err);
    }
  };

  private async remember(req: Request, lang: Language): Promise<void> {
    if (!req.user || !req.session) return;
    await this.deps.users.setLanguage(req.user.id, lang);
    req.session.language = lang;
  }

  /** The form's `returnTo` (the page's path), else a same-origin Referer, else the home page. */
  private backTo(req: Request): string {
    const field = safeReturnTo((req.body as Record<string, unknown>).returnTo, this.deps.appOrigin);
    if (field) return field;
    const referer = req.get('referer');
    if (referer) {
      try {
        const url = new URL(referer);
        const path = url.origin === this.deps.appOrigin ? safeReturnTo(url.pathname + url.search, this.deps.appOrigin) : undefined;
        if (path) return path;
      } catch {
        // not a URL: home
      }
    }
    return '/';
  }
}
