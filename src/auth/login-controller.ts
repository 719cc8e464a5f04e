import type { Request, Response } from 'express';
import { formValues, rerenderForm } from '../http/forms.js';
import { wantsJson } from '../http/negotiation.js';
import { WrongCredentials, type Authentication } from './authentication.js';
import { parseSignIn, safeReturnTo } from './user-rules.js';

/**
 * Sign-in: validate the form, (later: check the failed-attempt counters), run Passport's local
 * strategy, then start a fresh session.
 */
export class LoginController {
  constructor(private readonly auth: Authentication) {}

  show = (req: Request, res: Response) => {
    if (req.user) return res.redirect(303, '/');
    res.render('login', { error: undefined, fields: {}, values: { returnTo: safeReturnTo(req.query.returnTo) ?? '' } });
  };

  submit = async (req: Request, res: Response) => {
    const values = formValues(req.body, ['login', 'returnTo']);
    try {
      const input = parseSignIn(req.body);
      req.body = { login: input.login, password: input.password };
      const user = await this.auth.checkCredentials(req, res);
      if (!user) throw new WrongCredentials();
      await this.auth.startSessionFor(req, res, user);
      if (wantsJson(req)) return res.status(200).json({ user });
      res.redirect(303, safeReturnTo(values.returnTo) ?? '/');
    } catch (err) {
      if (!rerenderForm(req, res, err, 'login', values)) throw err;
    }
  };
}
