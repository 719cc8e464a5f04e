import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import { dateFormats, translator, type Language } from '../i18n/i18n.js';

export const MAIL_TEMPLATES_DIR = fileURLToPath(new URL('../../views/mail', import.meta.url));

/** The messages the app sends; each is views/mail/<name>.txt.ejs. */
export type MailTemplate =
  | 'confirmation-code'
  | 'password-reset'
  | 'password-changed'
  | 'new-sign-in'
  | 'email-change-confirm'
  | 'email-change-notice'
  | 'two-factor-on'
  | 'two-factor-off'
  | 'passkey-added'
  | 'passkey-removed';

type Render = (vars: Record<string, unknown>) => string;

/**
 * Plain-text templates, compiled once. The first line is `Subject: ...`, then a blank line, then the
 * body. Text is not HTML: `<%= %>` inserts values as they are (no entity escaping). Each is written
 * once, with `t(key)` from the catalogues and `fmt` for dates, and rendered in the reader's language.
 */
export class MailTemplates {
  private readonly compiled = new Map<string, Render>();

  constructor(dir = MAIL_TEMPLATES_DIR) {
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.txt.ejs'))) {
      const source = readFileSync(path.join(dir, file), 'utf8');
      this.compiled.set(file.slice(0, -'.txt.ejs'.length), ejs.compile(source, { escape: (v: unknown) => String(v ?? ''), filename: file }) as Render);
    }
  }

  render(name: MailTemplate, vars: Record<string, unknown>, language: Language): { subject: string; text: string } {
    const render = this.compiled.get(name);
    if (!render) throw new Error(`no mail template ${name}`);
    const out = render({ ...vars, t: translator(language), fmt: dateFormats(language) }).replace(/\r\n/g, '\n');
    const match = /^Subject: (.*)\n\n([\s\S]*)$/.exec(out);
    if (!match) throw new Error(`mail template ${name} must start with "Subject: ..." and a blank line`);
    return { subject: match[1]!.trim(), text: match[2]! };
  }
}
