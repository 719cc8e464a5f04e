import type { Request } from 'express';
import { describeBrowser } from '../account/user-agent.js';
import type { Queryable } from '../db/pool.js';
import { translator, type Language } from '../i18n/i18n.js';
import { statedLanguageOf } from '../i18n/language.js';
import type { MailQueue } from './mail-queue.js';
import type { MailTemplate, MailTemplates } from './templates.js';

/**
 * Where and how a change was made, for the notices: time (ISO 8601) and browser (its User-Agent),
 * both written out in the reader's language, the IP, and the language the request asks for, if any.
 */
export interface Circumstances {
  at: string;
  ip: string;
  userAgent: string | null;
  /** The request's own language (a `lang` cookie, or Accept-Language naming one of ours), if it states one. */
  language: Language | undefined;
}

export function circumstancesOf(req: Request): Circumstances {
  return { at: new Date().toISOString(), ip: req.ip ?? 'unknown', userAgent: req.get('user-agent') ?? null, language: statedLanguageOf(req) };
}

type Recipient = { email: string; login: string; disabled: boolean; language: Language };

/** Who a message to a user goes to, read in the transaction that sends it. */
export interface MailRecipients {
  mailTarget(db: Queryable, userId: number): Promise<Recipient | undefined>;
}

/**
 * The messages of the account's life, queued in the caller's transaction. Links are absolute URLs on
 * APP_ORIGIN. Nothing is sent to a disabled (or deleted) user.
 */
export class AccountMail {
  constructor(private readonly deps: { queue: MailQueue; templates: MailTemplates; users: MailRecipients; appOrigin: string }) {}

  /** An absolute link on APP_ORIGIN. */
  url(pathname: string, query: Record<string, string> = {}): string {
    const url = new URL(pathname, this.deps.appOrigin);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return url.toString();
  }

  /**
   * To the user's current address, in the language they last used, unless they are disabled or
   * gone; resolves whether it was queued. A caller that has just read the user (a sign-in) passes
   * them, and no query is made.
   */
  async toUser(db: Queryable, user: number | Recipient, template: MailTemplate, vars: Record<string, unknown>): Promise<boolean> {
    const target = typeof user === 'number' ? await this.deps.users.mailTarget(db, user) : user;
    if (!target || target.disabled) return false;
    await this.toAddress(db, target.email, target.language, template, { login: target.login, ...vars });
    return true;
  }

  /** To an address (a new one not yet confirmed, or an account still waiting for its code), in `language`. */
  async toAddress(db: Queryable, to: string, language: Language, template: MailTemplate, vars: Record<string, unknown>): Promise<void> {
    const browser = 'userAgent' in vars ? describeBrowser(vars.userAgent as string | null, translator(language)) : undefined;
    const { subject, text } = this.deps.templates.render(template, { forgotUrl: this.url('/password/forgot'), browser, ...vars }, language);
    await this.deps.queue.enqueue(db, { to, subject, text });
  }
}
