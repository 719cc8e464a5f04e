import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import i18next, { type TFunction } from 'i18next';

/** The languages the pages, errors and mail come in; the first is the fallback. */
export const LANGUAGES = ['en', 'ru'] as const;
export type Language = (typeof LANGUAGES)[number];
export const DEFAULT_LANGUAGE: Language = 'en';

const LOCALES_DIR = fileURLToPath(new URL('../../locales', import.meta.url));

export function isLanguage(value: unknown): value is Language {
  return value === 'en' || value === 'ru';
}

/** One catalogue per language, locales/<lang>.json, keys named by meaning (`login.title`). */
function loadCatalogue(lang: Language): Record<string, unknown> {
  return JSON.parse(readFileSync(`${LOCALES_DIR}/${lang}.json`, 'utf8')) as Record<string, unknown>;
}

const i18n = i18next.createInstance();
void i18n.init({
  resources: Object.fromEntries(LANGUAGES.map((lang) => [lang, { translation: loadCatalogue(lang) }])),
  lng: DEFAULT_LANGUAGE,
  fallbackLng: DEFAULT_LANGUAGE,
  supportedLngs: [...LANGUAGES],
  // The catalogues are in memory: initialised before the first request, synchronously.
  initAsync: false,
  // Values are escaped where they are written: EJS escapes `<%= %>`, JSON is JSON, mail is plain text.
  interpolation: { escapeValue: false },
  returnNull: false,
} as Parameters<typeof i18n.init>[0]);

export type Translate = (key: string, options?: Record<string, unknown>) => string;

/**
 * `t` of one language; plurals by `count`, the i18next way (Russian has one, few and many). A key
 * without options always gives the same text (the catalogues never change while the app runs), so
 * it is looked up once: i18next's own lookup costs ~15 µs a call, and a page makes dozens.
 */
function memoised(t: TFunction): Translate {
  const plain = new Map<string, string>();
  return (key, options) => {
    if (options !== undefined) return t(key, options) as string;
    let text = plain.get(key);
    if (text === undefined) {
      text = t(key) as string;
      // Keys come from the code; the cap only guards against one ever coming from elsewhere.
      if (plain.size < 10_000) plain.set(key, text);
    }
    return text;
  };
}

const translators = Object.fromEntries(LANGUAGES.map((lang) => [lang, memoised(i18n.getFixedT(lang) as TFunction)])) as Record<Language, Translate>;

export function translator(lang: Language): Translate {
  return translators[lang];
}

/** Dates and times in the page's language, in UTC (the server does not know the reader's zone). */
export interface DateFormats {
  dateTime(value: Date | string | number): string;
  time(value: Date | string | number): string;
}

const formats = Object.fromEntries(
  LANGUAGES.map((lang) => {
    const dateTime = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
    const time = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit', timeZone: 'UTC' });
    const when = (v: Date | string | number) => (v instanceof Date ? v : new Date(v));
    return [lang, { dateTime: (v) => `${dateTime.format(when(v))} UTC`, time: (v) => time.format(when(v)) } satisfies DateFormats];
  }),
) as Record<Language, DateFormats>;

export function dateFormats(lang: Language): DateFormats {
  return formats[lang];
}
