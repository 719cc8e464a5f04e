import type { Request } from 'express';
import { describeBrowser } from '../account/user-agent.js';
import type { Queryable } from '../db/pool.js';
import type { MailQueue } from './mail-queue.js';
import type { MailTemplate, MailTemplates } from './templates.js';

/** Where and how a change was made, for the notices: time, IP and browser. */
export interface Circumstances {
  at: string;
  ip: string;
  browser: string;
}

export function circumstancesOf(req: Request): Circumstances {
  return { at: new Date().toUTCString(), ip: req.ip ?? 'unknown', browser: describeBrowser(req.get('user-agent') ?? null) };
}

/** Who a message to a user goes to, read in the transaction that sends it. */
export interface MailRecipients {
  mailTarget(db: Queryable, userId: number): Promise<{ email: string; login: string; disabled: boolean } | undefined>;
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
   * To the user's current address, unless they are disabled or gone; resolves whether it was queued.
   * A caller that has just read the user (a sign-in) passes them, and no query is made.
   */
  async toUser(db: Queryable, user: number | { email: string; login: string; disabled: boolean }, template: MailTemplate, vars: Record<string, unknown>): Promise<boolean> {
    const target = typeof user === 'number' ? await this.deps.users.mailTarget(db, user) : user;
    if (!target || target.disabled) return false;
    await this.toAddress(db, target.email, template, { login: target.login, ...vars });
    return true;
  }

  /** To an address (a new one not yet confirmed, or an account still waiting for its code). */
  async toAddress(db: Queryable, to: string, template: MailTemplate, vars: Record<string, unknown>): Promise<void> {
    const { subject, text } = this.deps.templates.render(template, { forgotUrl: this.url('/password/forgot'), ...vars });
    await this.deps.queue.enqueue(db, { to, subject, text });
  }
}
