import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The catalogues (locales/<lang>.json) against the code: every key a view, a controller or a mail
 * template uses is in every catalogue (with every plural form that language needs), no catalogue holds
 * a key nothing uses, and the languages agree on their keys and on the values each key interpolates.
 * Keys are written whole in the code (`t('login.title')`, `'errors.wrong_credentials'`), never built,
 * so reading the sources finds them all.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
const localesDir = path.join(root, 'locales');
const languages = readdirSync(localesDir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -'.json'.length))
  .sort();

function flatten(value: unknown, prefix = '', into = new Map<string, string>()): Map<string, string> {
  if (typeof value === 'string') into.set(prefix, value);
  else if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, into);
  } else throw new Error(`${prefix}: a catalogue holds strings and objects only`);
  return into;
}
const catalogues = new Map(languages.map((lang) => [lang, flatten(JSON.parse(readFileSync(path.join(localesDir, `${lang}.json`), 'utf8')))]));
const namespaces = new Set([...catalogues.values()].flatMap((c) => [...c.keys()].map((k) => k.split('.')[0]!)));

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? files(full, ext) : ext.test(entry.name) ? [full] : [];
  });
}
const sources = [...files(path.join(root, 'src'), /\.ts$/), ...files(path.join(root, 'views'), /\.ejs$/), ...files(path.join(root, 'public'), /\.js$/)];

/** Every quoted `namespace.key` in the sources whose namespace is one of the catalogues'. */
function usedKeys(): Map<string, string[]> {
  const used = new Map<string, string[]>();
  const literal = /(['"`])([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+)\1/g;
  for (const file of sources) {
    const text = readFileSync(file, 'utf8');
    for (const [, , key] of text.matchAll(literal)) {
      if (!namespaces.has(key!.split('.')[0]!)) continue;
      used.set(key!, [...(used.get(key!) ?? []), path.relative(root, file)]);
    }
  }
  return used;
}
const used = usedKeys();

const pluralForms = (lang: string) => new Intl.PluralRules(lang).resolvedOptions().pluralCategories as string[];
const PLURAL_SUFFIX = /_(zero|one|two|few|many|other)$/;
/** A catalogue's keys as the code names them: `x_one`, `x_few`, ... are the one key `x`. */
function baseKeys(catalogue: Map<string, string>): Set<string> {
  return new Set([...catalogue.keys()].map((k) => (catalogue.has(k.replace(PLURAL_SUFFIX, '')) ? k : k.replace(PLURAL_SUFFIX, ''))));
}
const variables = (text: string) => [...text.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]!);

describe('the catalogues', () => {
  test('there is one per language, English and Russian, and the reading of the sources finds the keys', () => {
    assert.deepEqual(languages, ['en', 'ru']);
    // The scan itself works: keys from a view, a controller, an error, a mail template, the chat page.
    for (const key of ['login.title', 'errors.wrong_credentials', 'validation.password_common', 'mail.password_reset.subject', 'chat.error_rate_limited']) {
      assert.ok(used.has(key), `the scan finds ${key}`);
    }
    assert.ok(used.size > 300, `found ${used.size} keys`);
  });

  for (const lang of languages) {
    test(`${lang}: every key used in a view, a controller or a mail template is there, with the plural forms ${lang} needs`, () => {
      const catalogue = catalogues.get(lang)!;
      const missing: string[] = [];
      for (const [key, where] of used) {
        if (catalogue.has(key)) continue;
        const forms = pluralForms(lang).map((form) => `${key}_${form}`);
        const present = forms.filter((k) => catalogue.has(k));
        if (present.length === forms.length) continue;
        missing.push(present.length ? `${key} (plural: missing ${forms.filter((k) => !catalogue.has(k)).join(', ')})` : `${key} (used in ${[...new Set(where)].join(', ')})`);
      }
      assert.deepEqual(missing, [], `missing from locales/${lang}.json`);
    });

    test(`${lang}: no key that nothing uses`, () => {
      const unused = [...baseKeys(catalogues.get(lang)!)].filter((key) => !used.has(key));
      assert.deepEqual(unused, [], `unused in locales/${lang}.json`);
    });
  }

  test('the languages have the same keys, and each key the same {{values}}', () => {
    const [first, ...others] = languages;
    const reference = catalogues.get(first!)!;
    const groups = (catalogue: Map<string, string>) => {
      const byBase = new Map<string, Set<string>>();
      for (const [key, text] of catalogue) {
        const base = catalogue.has(key.replace(PLURAL_SUFFIX, '')) ? key : key.replace(PLURAL_SUFFIX, '');
        const vars = byBase.get(base) ?? new Set<string>();
        for (const v of variables(text)) vars.add(v);
        byBase.set(base, vars);
      }
      return byBase;
    };
    const expected = groups(reference);
    for (const lang of others) {
      const actual = groups(catalogues.get(lang)!);
      assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort(), `${lang} and ${first} name the same keys`);
      for (const [key, vars] of expected) assert.deepEqual([...actual.get(key)!].sort(), [...vars].sort(), `${lang}: ${key} interpolates the same values`);
    }
  });

  test('no value is empty, and no Russian value is left in English', () => {
    for (const [lang, catalogue] of catalogues) {
      for (const [key, text] of catalogue) assert.ok(text.trim(), `${lang}: ${key} is empty`);
    }
    const ru = catalogues.get('ru')!;
    const en = catalogues.get('en')!;
    // Names and symbols that read the same in both (a language's own name).
    const same = [...ru].filter(([key, text]) => text === en.get(key) && /[a-z]{4,}/i.test(text.replace(/\{\{\w+\}\}/g, '')));
    assert.deepEqual(
      same.map(([key]) => key).filter((key) => key !== 'language.en'),
      [],
      'Russian values still in English',
    );
  });
});
