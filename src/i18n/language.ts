import type { IncomingMessage } from 'node:http';
import accepts from 'accepts';
import type { Request, RequestHandler } from 'express';
import { DEFAULT_LANGUAGE, LANGUAGES, dateFormats, isLanguage, translator, type Language } from './i18n.js';

export const LANGUAGE_COOKIE = 'lang';
const COOKIE_VALUE = /(?:^|;\s*)lang=([^;]*)/;
const chosen = new WeakMap<IncomingMessage, Language>();

/**
 * The language of a request: the `lang` cookie when it names one we have, else the best match of
 * Accept-Language (negotiator, through accepts, as Express's req.acceptsLanguages), else English.
 * Worked out once per request, and only when something asks (a static file or /health never does).
 */
export function languageOf(req: IncomingMessage): Language {
  const known = chosen.get(req);
  if (known) return known;
  const cookie = COOKIE_VALUE.exec(req.headers.cookie ?? '')?.[1]?.trim();
  let lang: Language = DEFAULT_LANGUAGE;
  if (isLanguage(cookie)) lang = cookie;
  else if (req.headers['accept-language']) {
    const best = accepts(req).languages([...LANGUAGES]);
    if (isLanguage(best)) lang = best;
  }
  chosen.set(req, lang);
  return lang;
}

const NAMES_ONE_OF_OURS = /(?:^|,)\s*(?:en|ru)(?:-[^,;]*)?\s*(?:,|;|$)/i;

/**
 * The language a request asks for, when it asks for one of ours (a `lang` cookie, or Accept-Language
 * naming en or ru): a script that says nothing, or only `*` (what fetch sends by default), does not
 * change the language a user's mail is written in.
 */
export function statedLanguageOf(req: Request): Language | undefined {
  if (isLanguage(COOKIE_VALUE.exec(req.headers.cookie ?? '')?.[1]?.trim())) return languageOf(req);
  const header = req.headers['accept-language'];
  if (!header || !NAMES_ONE_OF_OURS.test(header)) return undefined;
  return languageOf(req);
}

/** `t`, `lang` and `fmt` (dates) for the templates, in the request's language, worked out on first use. */
export function languageLocals(req: Request) {
  return {
    lang: () => languageOf(req),
    t: (key: string, options?: Record<string, unknown>) => translator(languageOf(req))(key, options),
    fmt: {
      dateTime: (value: Date | string | number) => dateFormats(languageOf(req)).dateTime(value),
      time: (value: Date | string | number) => dateFormats(languageOf(req)).time(value),
    },
  };
}

export const pageLanguage: RequestHandler = (req, res, next) => {
  Object.assign(res.locals, languageLocals(req));
  next();
};
