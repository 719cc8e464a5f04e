import type { Request, Response } from 'express';
import type { Authentication } from '../auth/authentication.js';
import type { CurrentPassword } from '../auth/current-password.js';
import type { PasswordHasher } from '../auth/passwords.js';
import { parsePasswordChange } from '../auth/user-rules.js';
import type { UserStore, UserWithHash } from '../auth/users.sql.js';
import { InvalidInput, Unauthenticated } from '../http/errors.js';
import { rerenderForm } from '../http/forms.js';
import { wantsJson } from '../http/negotiation.js';
import type { SignIns } from '../sessions/sign-ins.js';
import { circumstancesOf, type AccountMail } from '../mail/account-mail.js';

/**
 * GET/POST /account/password. The current password is checked through CurrentPassword (the
 * attempt guard). Success: in one transaction the password is
 * set and every sign-in of the user ends; then a new session with a new id starts here.
 */
export class PasswordController {
  constructor(
    private readonly deps: {
      auth: Authentication;
      users: UserStore;
      hasher: PasswordHasher;
      currentPassword: CurrentPassword;
      signIns: SignIns;
      mail: AccountMail;
    },
  ) {}

  show = (req: Request, res: Response) => {
    res.render('account-password', { error: undefined, fields: {}, values: {}, expired: this.deps.auth.isRestricted(req.session) });
  };

  submit = async (req: Request, res: Response) => {
    try {
      const me = req.user;
      if (!me) throw new Unauthenticated();
      const { currentPassword, newPassword: next } = parsePasswordChange(req.body);
      const ip = req.ip ?? 'unknown';
      const stored = await this.deps.currentPassword.verify(me, currentPassword, ip, 'change');
      if (!stored) throw new InvalidInput({ currentPassword: 'validation.current_password_wrong' });
      if (await this.deps.hasher.verify(next, stored.passwordHash)) {
        throw new InvalidInput({ newPassword: 'validation.password_same' });
      }

      const hash = await this.deps.hasher.hash(next);
      // The new session keeps this one's "keep me signed in".
      const remember = typeof req.session.cookie.originalMaxAge === 'number';
      let updated: UserWithHash | undefined;
      await this.deps.signIns.end({ userId: me.id }, 'password_changed', { ip }, async (tx) => {
        updated = await this.deps.users.updatePassword(tx, me.id, hash);
        if (updated) await this.deps.mail.toUser(tx, me.id, 'password-changed', { how: 'change', ...circumstancesOf(req) });
      });
      if (!updated) throw new Unauthenticated();
      await this.deps.auth.startSessionFor(req, res, updated, { remember });

      if (wantsJson(req)) return res.status(200).json({ user: updated.user });
      res.redirect(303, '/');
    } catch (err) {
      if (!rerenderForm(req, res, err, 'account-password', {})) throw err;
    }
  };
}
