import type { Request, Response } from 'express';
import type { SecurityEvents } from '../audit/security-events.sql.js';
import type { Authentication } from '../auth/authentication.js';
import type { LoginThrottle } from '../auth/login-throttle.js';
import type { PasswordHasher } from '../auth/passwords.js';
import { parsePasswordChange } from '../auth/user-rules.js';
import type { UserStore } from '../auth/users.sql.js';
import { InvalidInput, Unauthenticated } from '../http/errors.js';
import { rerenderForm } from '../http/forms.js';
import { wantsJson } from '../http/negotiation.js';
import type { SessionEnding } from '../sessions/session-ending.js';

/**
 * GET/POST /account/password. Success: every session of the user ends (this one included), and a new
 * session with a new id starts here, no longer restricted.
 */
export class PasswordController {
  constructor(
    private readonly deps: {
      auth: Authentication;
      users: UserStore;
      hasher: PasswordHasher;
      ending: SessionEnding;
      throttle: LoginThrottle;
      events: SecurityEvents;
      /** Other things a password change revokes (refresh tokens). */
      onPasswordChanged?: (userId: number) => Promise<void>;
    },
  ) {}

  show = (req: Request, res: Response) => {
    res.render('account-password', { error: undefined, fields: {}, values: {}, expired: Boolean(req.session.passwordExpired) });
  };

  submit = async (req: Request, res: Response) => {
    try {
      const me = req.user;
      if (!me) throw new Unauthenticated();
      const { currentPassword, newPassword: next } = parsePasswordChange(req.body);
      const ip = req.ip ?? 'unknown';
      // Guessing the current password from a stolen session is throttled like signing in.
      await this.deps.throttle.check(me.login, ip);
      const stored = await this.deps.users.findById(me.id);
      if (!stored) throw new Unauthenticated();
      if (!(await this.deps.hasher.verify(currentPassword, stored.passwordHash))) {
        await this.deps.throttle.recordFailure(me.login, ip);
        throw new InvalidInput({ currentPassword: 'Your current password is not correct.' });
      }
      if (await this.deps.hasher.verify(next, stored.passwordHash)) {
        throw new InvalidInput({ newPassword: 'Choose a password different from the current one.' });
      }

      await this.deps.users.updatePassword(me.id, await this.deps.hasher.hash(next));
      await this.deps.events.record({ type: 'password_changed', userId: me.id, login: me.login, ip });
      await this.deps.ending.endAllForUser(me.id, 'password_changed', undefined, { ip });
      await this.deps.onPasswordChanged?.(me.id);
      await this.deps.auth.startSessionFor(req, res, stored.user);

      if (wantsJson(req)) return res.status(200).json({ user: stored.user });
      res.redirect(303, '/');
    } catch (err) {
      if (!rerenderForm(req, res, err, 'account-password', {})) throw err;
    }
  };
}
