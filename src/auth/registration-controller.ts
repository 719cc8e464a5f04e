import type { Request, Response } from 'express';
import type { SecurityEvents } from '../audit/security-events.sql.js';
import { withTransaction, type Pool } from '../db/pool.js';
import { InvalidInput } from '../http/errors.js';
import { formValues, rerenderForm } from '../http/forms.js';
import { wantsJson } from '../http/negotiation.js';
import type { Logger } from '../logger.js';
import type { Mailer } from '../mail/mailer.js';
import type { Authentication } from './authentication.js';
import { CODE_LIFETIME_MS, type EmailConfirmations } from './email-confirmations.sql.js';
import type { LoginThrottle } from './login-throttle.js';
import type { PasswordHasher } from './passwords.js';
import { parseEmailConfirmation, parseRegistration } from './user-rules.js';
import type { UserStore } from './users.sql.js';

/**
 * GET/POST /register, and with REQUIRE_EMAIL_CONFIRMATION the code step: GET/POST /register/confirm.
 * Without confirmation a new user is signed in at once.
 */
export class RegistrationController {
  constructor(
    private readonly deps: {
      auth: Authentication;
      users: UserStore;
      hasher: PasswordHasher;
      pool: Pool;
      requireConfirmation: boolean;
      confirmations: EmailConfirmations;
      mailer: Mailer;
      throttle: LoginThrottle;
      events: SecurityEvents;
      logger: Logger;
    },
  ) {}

  show = (req: Request, res: Response) => {
    if (req.user) return res.redirect(303, '/');
    res.render('register', { error: undefined, fields: {}, values: {} });
  };

  submit = async (req: Request, res: Response) => {
    try {
      const input = parseRegistration(req.body);
      const passwordHash = await this.deps.hasher.hash(input.password);
      const fields = { login: input.login, email: input.email, name: input.name, passwordHash };
      if (!this.deps.requireConfirmation) {
        const user = await this.deps.users.create(fields);
        await this.deps.auth.startSessionFor(req, res, user);
        if (wantsJson(req)) return res.status(201).json({ user });
        return res.redirect(303, '/');
      }

      // The user and their code are written together, or neither is.
      const { user, code } = await withTransaction(this.deps.pool, async (client) => {
        const created = await this.deps.users.create({ ...fields, emailConfirmed: false }, client);
        return { user: created, code: await this.deps.confirmations.issue(created.id, client) };
      });
      await this.sendCode(user.email, code);
      if (wantsJson(req)) return res.status(201).json({ user });
      res.redirect(303, `/register/confirm?email=${encodeURIComponent(user.email)}`);
    } catch (err) {
      if (!rerenderForm(req, res, err, 'register', formValues(req.body, ['login', 'email', 'name']))) throw err;
    }
  };

  showConfirm = (req: Request, res: Response) => {
    const email = typeof req.query.email === 'string' ? req.query.email.slice(0, 254) : '';
    res.render('register-confirm', { error: undefined, fields: {}, values: { email } });
  };

  /** POST /register/confirm (email, code): single-use codes, throttled like signing in. */
  confirm = async (req: Request, res: Response) => {
    const values = formValues(req.body, ['email']);
    try {
      const { email, code } = parseEmailConfirmation(req.body);
      const subject = `confirm:${email.toLowerCase()}`;
      const ip = req.ip ?? 'unknown';
      await this.deps.throttle.check(subject, ip);
      const userId = await this.deps.confirmations.confirm(email, code);
      if (userId === undefined) {
        await this.deps.throttle.recordFailure(subject, ip);
        throw new InvalidInput({ code: 'This code is wrong, used or expired.' });
      }
      await this.deps.throttle.recordSuccess(subject, ip);
      await this.deps.events.record({ type: 'email_confirmed', userId, ip });
      const found = await this.deps.users.findById(userId);
      if (wantsJson(req)) return res.status(200).json({ user: found!.user });
      res.redirect(303, '/login?confirmed=1');
    } catch (err) {
      if (!rerenderForm(req, res, err, 'register-confirm', values)) throw err;
    }
  };

  private async sendCode(to: string, code: string): Promise<void> {
    const minutes = CODE_LIFETIME_MS / 60_000;
    try {
      await this.deps.mailer.send({
        to,
        subject: 'Your confirmation code',
        text: `Your confirmation code is ${code}\n\nEnter it on the confirmation page within ${minutes} minutes. If you did not register, ignore this message.\n`,
      });
    } catch (err) {
      // The account exists either way; the operator sees why no code arrived.
      this.deps.logger.error({ err: (err as Error).message }, 'could not send the confirmation email');
    }
  }
}
