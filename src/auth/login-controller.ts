import type { Request, Response } from 'express';
import type { SecurityEvents } from '../audit/security-events.sql.js';
import { formValues, rerenderForm } from '../http/forms.js';
import { wantsJson } from '../http/negotiation.js';
import { WrongCredentials, type Authentication } from './authentication.js';
import { TooManyAttempts, type LoginThrottle } from './login-throttle.js';
import { parseSignIn, safeReturnTo } from './user-rules.js';
import type { UserStore } from './users.sql.js';

/**
 * Sign-in: validate the form, check the failed-attempt counters (a throttled attempt checks no
 * password), run Passport's local strategy, count the outcome, then start a fresh session.
 */
export class LoginController {
  constructor(private readonly deps: { auth: Authentication; throttle: LoginThrottle; users: UserStore; events: SecurityEvents }) {}

  show = (req: Request, res: Response) => {
    if (req.user) return res.redirect(303, '/');
    res.render('login', { error: undefined, fields: {}, values: { returnTo: safeReturnTo(req.query.returnTo) ?? '' } });
  };

  submit = async (req: Request, res: Response) => {
    const values = formValues(req.body, ['login', 'returnTo']);
    try {
      const input = parseSignIn(req.body);
      const ip = req.ip ?? 'unknown';
      const subject = await this.deps.users.throttleSubject(input.login);
      try {
        await this.deps.throttle.check(subject, ip);
      } catch (err) {
        if (err instanceof TooManyAttempts) await this.deps.events.record({ type: 'sign_in_throttled', login: subject, ip });
        throw err;
      }

      req.body = { login: input.login, password: input.password };
      const user = await this.deps.auth.checkCredentials(req, res);
      if (!user) {
        await this.deps.throttle.recordFailure(subject, ip);
        await this.deps.events.record({ type: 'sign_in_failed', login: subject, ip });
        throw new WrongCredentials();
      }
      await this.deps.throttle.recordSuccess(subject, ip);
      await this.deps.auth.startSessionFor(req, res, user, { passwordExpired: user.passwordExpired });

      const { passwordExpired: _omit, ...publicUser } = user;
      if (wantsJson(req)) return res.status(200).json({ user: publicUser });
      res.redirect(303, user.passwordExpired ? '/account/password' : (safeReturnTo(values.returnTo) ?? '/'));
    } catch (err) {
      if (!rerenderForm(req, res, err, 'login', values)) throw err;
    }
  };
}
