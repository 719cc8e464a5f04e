import type { Request, Response } from 'express';
import { formValues, rerenderForm } from '../http/forms.js';
import { wantsJson } from '../http/negotiation.js';
import type { Authentication } from './authentication.js';
import type { PasswordHasher } from './passwords.js';
import { parseRegistration } from './user-rules.js';
import type { UserStore } from './users.sql.js';

export class RegistrationController {
  constructor(private readonly deps: { auth: Authentication; users: UserStore; hasher: PasswordHasher }) {}

  show = (req: Request, res: Response) => {
    if (req.user) return res.redirect(303, '/');
    res.render('register', { error: undefined, fields: {}, values: {} });
  };

  submit = async (req: Request, res: Response) => {
    try {
      const input = parseRegistration(req.body);
      const passwordHash = await this.deps.hasher.hash(input.password);
      const user = await this.deps.users.create({ login: input.login, email: input.email, name: input.name, passwordHash });
      await this.deps.auth.startSessionFor(req, res, user);
      if (wantsJson(req)) return res.status(201).json({ user });
      res.redirect(303, '/');
    } catch (err) {
      if (!rerenderForm(req, res, err, 'register', formValues(req.body, ['login', 'email', 'name']))) throw err;
    }
  };
}
