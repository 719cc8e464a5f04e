import type { Request, Response } from 'express';
import { formValues, rerenderForm } from '../http/forms.js';
import { wantsJson } from '../http/negotiation.js';
import type { Authentication } from './authentication.js';
import { publicUser } from './public-user.js';
import type { SignInAttempts } from './sign-in.js';
import { parseSignIn, safeReturnTo } from './user-rules.js';

/** GET/POST /login: validate the form, one sign-in attempt, then a fresh session. */
export class LoginController {
  constructor(
    private readonly deps: {
      auth: Authentication;
      attempts: SignInAttempts;
    },
  ) {}

  show = (req: Request, res: Response) => {
    if (req.user) return res.redirect(303, '/');
    res.render('login', { error: undefined, fields: {}, values: { returnTo: safeReturnTo(req.query.returnTo) ?? '' }, confirmed: req.query.confirmed === '1' });
  };

  submit = async (req: Request, res: Response) => {
    const values = formValues(req.body, ['login', 'returnTo']);
    try {
      const user = await this.deps.attempts.verify(req, res, parseSignIn(req.body));
      await this.deps.auth.startSessionFor(req, res, user, { passwordExpired: user.passwordExpired });

      if (wantsJson(req)) return res.status(200).json({ user: publicUser(user) });
      res.redirect(303, user.passwordExpired ? '/account/password' : (safeReturnTo(values.returnTo) ?? '/'));
    } catch (err) {
      if (!rerenderForm(req, res, err, 'login', values)) throw err;
    }
  };
}
