import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { SecurityEvents } from '../audit/security-events.sql.js';
import { TooManyAttempts, type AttemptGuard } from '../auth/attempt-guard.js';
import type { Authentication } from '../auth/authentication.js';
import type { PasswordHasher } from '../auth/passwords.js';
import type { RateCounters } from '../auth/rate-counters.sql.js';
import { parseForgotPassword, parseResetPassword } from '../auth/user-rules.js';
import type { UserStore } from '../auth/users.sql.js';
import { withTransaction, type Pool, type Queryable } from '../db/pool.js';
import { formValues, rerenderForm } from '../http/forms.js';
import { wantsJson } from '../http/negotiation.js';
import { circumstancesOf, type AccountMail } from '../mail/account-mail.js';
import type { SignIns } from '../sessions/sign-ins.js';
import { LINK_LIFETIME_MS, LinkInvalid, tokenFrom, type AccountLinks } from './account-links.sql.js';

/** Reset messages one address may be sent an hour; later requests get the same answer and send nothing. */
export const RESET_MAILS_PER_ADDRESS_HOURLY = 3;
/** POST /password/forgot one IP may make an hour before 429. */
export const RESET_REQUESTS_PER_IP_HOURLY = 20;

/** The reset pages hold a token in their URL: it must never leave in a Referer header. */
export const noReferrer: RequestHandler = (_req, res, next) => {
  res.set('Referrer-Policy', 'no-referrer');
  next();
};

/** The forgot-password page as it first opens: nothing typed, nothing sent. */
export const BLANK_FORGOT = { error: undefined, fields: {}, values: {}, sent: false };

/**
 * /password/forgot and /password/reset. A request answers the same, and does the same work, whether
 * or not the address has an account; the link (a 256-bit token kept only hashed, 60 minutes, single
 * use) is queued in the request's transaction, so the answer never waits for mail. A reset ends every
 * sign-in of the user through the lifecycle (cause `password_reset`) in the transaction that sets the
 * password, and does not sign in.
 */
export class PasswordResetController {
  constructor(
    private readonly deps: {
      pool: Pool;
      auth: Authentication;
      users: UserStore;
      hasher: PasswordHasher;
      links: AccountLinks;
      mail: AccountMail;
      rates: RateCounters;
      guard: AttemptGuard;
      signIns: SignIns;
      events: SecurityEvents;
    },
  ) {}

  showForgot = (req: Request, res: Response) => {
    res.render('password-forgot', { ...BLANK_FORGOT, sent: req.query.sent === '1' });
  };

  forgot = async (req: Request, res: Response) => {
    try {
      const ip = req.ip ?? 'unknown';
      const wait = await this.deps.rates.hit(`reset-ip:${ip}`, RESET_REQUESTS_PER_IP_HOURLY, 3600);
      if (wait) throw new TooManyAttempts(wait, 'errors.too_many_reset_requests');
      const { email } = parseForgotPassword(req.body);
      await withTransaction(this.deps.pool, async (tx) => {
        // Counted for every address, known or not, so both cost the same.
        const over = await this.deps.rates.hit(`reset-mail:${email}`, RESET_MAILS_PER_ADDRESS_HOURLY, 3600, tx);
        const user = await this.deps.users.byEmail(tx, email);
        if (!user || user.disabled || over) return;
        await this.sendLink(tx, user);
        await this.deps.events.record({ type: 'password_reset_requested', userId: user.id, ip }, tx);
      });
      if (wantsJson(req)) return res.status(202).json({});
      res.redirect(303, '/password/forgot?sent=1');
    } catch (err) {
      if (!rerenderForm(req, res, err, 'password-forgot', { ...formValues(req.body, ['email']), sent: '' })) throw err;
    }
  };

  /** A new reset link for the user (the older one dies), queued with `tx`. Also what "this wasn't me" sends. */
  async sendLink(tx: Queryable, user: { id: number; credentialsVersion: number }): Promise<void> {
    const token = await this.deps.links.issue(tx, 'password_reset', user.id, user.credentialsVersion);
    await this.deps.mail.toUser(tx, user.id, 'password-reset', { link: this.deps.mail.url('/password/reset', { token }), minutes: LINK_LIFETIME_MS.password_reset / 60_000 });
  }

  /** GET /password/reset?token=: the form, for a live link. Opening it proves the mailbox: the address counts as confirmed. */
  showReset = async (req: Request, res: Response, next: NextFunction) => {
    const target = await this.deps.links.peek('password_reset', req.query.token);
    if (!target) return this.invalid(req, res, next);
    await this.deps.users.confirmEmail(this.deps.pool, target.userId);
    res.render('password-reset', { error: undefined, fields: {}, values: { token: tokenFrom(req.query.token) } });
  };

  reset = async (req: Request, res: Response, next: NextFunction) => {
    const token = tokenFrom(req.body?.token);
    const values = { token: token ?? '' };
    try {
      // A refused password leaves the link usable: the rules are judged before the link is used.
      const { newPassword } = parseResetPassword(req.body);
      const target = await this.deps.links.peek('password_reset', token);
      if (!target) return this.invalid(req, res, next);
      const hash = await this.deps.hasher.hash(newPassword);
      const where = circumstancesOf(req);
      await this.deps.signIns.end({ userId: target.userId }, 'password_reset', { ip: where.ip }, async (tx) => {
        // Used in the transaction that sets the password: of racing uses exactly one gets here.
        const used = await this.deps.links.use(tx, 'password_reset', token);
        if (used?.userId !== target.userId) throw new LinkInvalid('password_reset');
        const updated = await this.deps.users.updatePassword(tx, target.userId, hash);
        if (!updated) throw new LinkInvalid('password_reset');
        await this.deps.users.confirmEmail(tx, target.userId);
        await this.deps.guard.unlock([updated.user.login, updated.user.email.toLowerCase()], tx);
        await this.deps.mail.toUser(tx, { email: updated.user.email, login: updated.user.login, disabled: updated.disabled, language: updated.language }, 'password-changed', { how: 'reset', ...where });
      });
      if (req.user?.id === target.userId) this.deps.auth.leaveAnonymous(req, res);
      if (wantsJson(req)) return res.status(204).end();
      res.redirect(303, '/login?reset=1');
    } catch (err) {
      // Used meanwhile by a racing request: nothing of this one was kept.
      if (err instanceof LinkInvalid) return this.invalid(req, res, next);
      if (!rerenderForm(req, res, err, 'password-reset', values)) throw err;
    }
  };

  /** A bad, used or expired link: a 400 page that offers a new one (JSON reset_link_invalid). */
  private invalid(req: Request, res: Response, next: NextFunction): void {
    if (wantsJson(req)) return next(new LinkInvalid('password_reset'));
    const err = new LinkInvalid('password_reset');
    res.status(400).render('link-invalid', { message: err.message, again: { href: '/password/forgot', label: 'link_invalid.ask_again' } });
  }
}
