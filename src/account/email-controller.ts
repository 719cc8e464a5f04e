import type { NextFunction, Request, Response } from 'express';
import type { SecurityEvents } from '../audit/security-events.sql.js';
import { WrongCredentials } from '../auth/authentication.js';
import type { CurrentPassword } from '../auth/current-password.js';
import { parseEmailChange } from '../auth/user-rules.js';
import { AlreadyRegistered, type UserStore } from '../auth/users.sql.js';
import { withTransaction, type Pool } from '../db/pool.js';
import { InvalidInput } from '../http/errors.js';
import { formValues, rerenderForm } from '../http/forms.js';
import { wantsJson } from '../http/negotiation.js';
import { publicUser } from '../auth/public-user.js';
import { circumstancesOf, type AccountMail } from '../mail/account-mail.js';
import { LinkInvalid, tokenFrom, type AccountLinks } from '../recovery/account-links.sql.js';
import type { SignIns } from '../sessions/sign-ins.js';

/**
 * Changing the email address with re-confirmation: POST /account/email (current password, through
 * the attempt guard) mails a link to the new address and a notice to the old one; the address
 * changes only when that link is confirmed (GET shows a button, POST applies it).
 */
export class EmailController {
  constructor(
    private readonly deps: {
      pool: Pool;
      users: UserStore;
      currentPassword: CurrentPassword;
      links: AccountLinks;
      mail: AccountMail;
      signIns: SignIns;
      events: SecurityEvents;
    },
  ) {}

  request = async (req: Request, res: Response) => {
    try {
      await this.requestChange(req, res);
    } catch (err) {
      if (!rerenderForm(req, res, err, 'account', formValues(req.body, ['newEmail']))) throw err;
    }
  };

  private async requestChange(req: Request, res: Response): Promise<void> {
    const me = req.user!;
    const { currentPassword, newEmail } = parseEmailChange(req.body);
    if (newEmail.toLowerCase() === me.email.toLowerCase()) throw new InvalidInput({ newEmail: 'validation.same_email' });
    const where = circumstancesOf(req);
    const stored = await this.deps.currentPassword.verify(me, currentPassword, where.ip, 'email');
    if (!stored) throw new WrongCredentials();
    if (await this.deps.users.emailTaken(newEmail, me.id)) throw new AlreadyRegistered();
    await withTransaction(this.deps.pool, async (tx) => {
      const token = await this.deps.links.issue(tx, 'email_change', me.id, stored.credentialsVersion, newEmail);
      await this.deps.mail.toAddress(tx, newEmail, stored.language, 'email-change-confirm', { login: me.login, link: this.deps.mail.url('/account/email/confirm', { token }) });
      await this.deps.mail.toUser(tx, me.id, 'email-change-notice', { newEmail, ...where });
      await this.deps.events.record({ type: 'email_change_requested', userId: me.id, ip: where.ip }, tx);
    });
    if (wantsJson(req)) return void res.status(202).json({});
    res.redirect(303, '/account?emailSent=1');
  }

  showConfirm = async (req: Request, res: Response, next: NextFunction) => {
    const target = await this.deps.links.peek('email_change', req.query.token);
    if (!target) return this.invalid(req, res, next);
    res.render('email-confirm', { token: tokenFrom(req.query.token), newEmail: target.newEmail });
  };

  /** Applies the change and refreshes the address every live session of the user keeps. */
  confirm = async (req: Request, res: Response, next: NextFunction) => {
    let changed: Awaited<ReturnType<UserStore['changeEmail']>>;
    const target = await this.deps.links.peek('email_change', req.body?.token);
    if (!target) return this.invalid(req, res, next);
    try {
      await this.deps.signIns.refreshProfile(target.userId, async (tx) => {
        const used = await this.deps.links.use(tx, 'email_change', req.body?.token);
        if (used?.userId !== target.userId || !used.newEmail) throw new LinkInvalid('email_change');
        changed = await this.deps.users.changeEmail(tx, used.userId, used.newEmail);
        if (!changed) throw new LinkInvalid('email_change');
        await this.deps.events.record({ type: 'email_changed', userId: used.userId, ip: req.ip ?? null }, tx);
      });
    } catch (err) {
      if (err instanceof LinkInvalid) return this.invalid(req, res, next);
      throw err;
    }
    if (wantsJson(req)) return res.status(200).json({ user: publicUser(changed!.user) });
    res.redirect(303, '/account?emailChanged=1');
  };

  private invalid(req: Request, res: Response, next: NextFunction): void {
    const err = new LinkInvalid('email_change');
    if (wantsJson(req)) return next(err);
    res.status(400).render('link-invalid', { message: err.message });
  }
}
