import type { Language } from '../i18n/i18n.js';
import { languageOf } from '../i18n/language.js';
import type { Request, Response } from 'express';
import type { SecurityEvents } from '../audit/security-events.sql.js';
import { withTransaction, type Pool, type PoolClient } from '../db/pool.js';
import { InvalidInput } from '../http/errors.js';
import { checked, formValues, rerenderForm } from '../http/forms.js';
import { wantsJson } from '../http/negotiation.js';
import type { AccountMail } from '../mail/account-mail.js';
import type { SignInNotices } from '../recovery/sign-in-notices.js';
import { TooManyAttempts, type AttemptGuard } from './attempt-guard.js';
import type { Authentication } from './authentication.js';
import type { DeviceCookie } from './device-cookie.js';
import type { EmailConfirmations } from './email-confirmations.sql.js';
import type { PasswordHasher } from './passwords.js';
import type { RateCounters } from './rate-counters.sql.js';
import { parseEmailConfirmation, parseRegistration, parseResend } from './user-rules.js';
import type { UserStore } from './users.sql.js';

/** Confirmation codes one address may be sent an hour (the registration's own included). */
export const CODES_PER_ADDRESS_HOURLY = 3;

/** The registration page as it first opens: nothing typed. */
export const BLANK_REGISTER = { error: undefined, fields: {}, values: {} };

/**
 * GET/POST /register, and with REQUIRE_EMAIL_CONFIRMATION the code step: GET/POST /register/confirm
 * and POST /register/confirm/resend. Without confirmation a new user is signed in at once.
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
      mail: AccountMail;
      notices: SignInNotices;
      guard: AttemptGuard;
      rates: RateCounters;
      /** REGISTER_IP_HOURLY; 0 = no limit. */
      ipHourly: number;
      devices: DeviceCookie;
      events: SecurityEvents;
    },
  ) {}

  show = (req: Request, res: Response) => {
    if (req.user) return res.redirect(303, '/');
    res.render('register', BLANK_REGISTER);
  };

  submit = async (req: Request, res: Response) => {
    try {
      const input = parseRegistration(req.body);
      const ip = req.ip ?? 'unknown';
      // Counted before any hash is made: anonymous requests cannot starve the hashing sign-ins need.
      if (this.deps.ipHourly > 0) {
        const wait = await this.deps.rates.hit(`register:${ip}`, this.deps.ipHourly, 3600);
        if (wait) {
          await this.deps.events.record({ type: 'registration_throttled', ip });
          throw new TooManyAttempts(wait, 'errors.too_many_registrations');
        }
      }
      const passwordHash = await this.deps.hasher.hash(input.password);
      const fields = { login: input.login, email: input.email, name: input.name, passwordHash, language: languageOf(req) };
      if (!this.deps.requireConfirmation) {
        const user = await this.deps.users.create(fields);
        // Registration counts as a sign-in from this browser: its first device, which is not news.
        const within = this.deps.notices.firstDevice(user.user.id, this.deps.devices.ensure(req, res));
        await this.deps.auth.startSessionFor(req, res, user, { remember: checked(req.body, 'remember'), within });
        if (wantsJson(req)) return res.status(201).json({ user: user.user });
        return res.redirect(303, '/');
      }

      // The user, their code and its message are written together, or none is. An unconfirmed
      // account whose code has expired holds neither its login nor its email: it gives way here.
      const device = this.deps.devices.ensure(req, res);
      const user = await withTransaction(this.deps.pool, async (tx) => {
        const created = await this.deps.users.create({ ...fields, emailConfirmed: false }, tx, { replaceUnconfirmed: true });
        const code = await this.deps.confirmations.issue(created.user.id, tx);
        await this.deps.rates.hit(`confirmation-codes:${created.user.email.toLowerCase()}`, CODES_PER_ADDRESS_HOURLY, 3600, tx);
        await this.deps.notices.firstDevice(created.user.id, device)(tx);
        await this.sendCode(tx, created.user.email, created.language, code);
        return created.user;
      });
      if (wantsJson(req)) return res.status(201).json({ user });
      res.redirect(303, `/register/confirm?email=${encodeURIComponent(user.email)}`);
    } catch (err) {
      if (!rerenderForm(req, res, err, 'register', formValues(req.body, ['login', 'email', 'name']))) throw err;
    }
  };

  showConfirm = (req: Request, res: Response) => {
    const email = typeof req.query.email === 'string' ? req.query.email.slice(0, 254) : '';
    res.render('register-confirm', { error: undefined, fields: {}, values: { email }, sent: req.query.sent === '1' });
  };

  /** POST /register/confirm (email, code): single-use codes, through the attempt guard. */
  confirm = async (req: Request, res: Response) => {
    const values = formValues(req.body, ['email']);
    try {
      const { email, code } = parseEmailConfirmation(req.body);
      const ip = req.ip ?? 'unknown';
      const userId = await this.deps.guard.attempt({ subject: `confirm:${email.toLowerCase()}`, ip }, () => this.deps.confirmations.confirm(email, code));
      if (userId === undefined) {
        await this.deps.events.record({ type: 'code_failed', login: email.toLowerCase(), ip });
        throw new InvalidInput({ code: 'validation.email_code_wrong' });
      }
      await this.deps.events.record({ type: 'email_confirmed', userId, ip });
      const found = await this.deps.users.findById(userId);
      if (wantsJson(req)) return res.status(200).json({ user: found!.user });
      res.redirect(303, '/login?confirmed=1');
    } catch (err) {
      if (!rerenderForm(req, res, err, 'register-confirm', values)) throw err;
    }
  };

  /**
   * POST /register/confirm/resend (email): a new code (the old one dies), at most three an address an
   * hour. The answer is the same whether or not the address waits for confirmation.
   */
  resend = async (req: Request, res: Response) => {
    const values = formValues(req.body, ['email']);
    try {
      const { email } = parseResend(req.body);
      if (this.deps.requireConfirmation) {
        await withTransaction(this.deps.pool, async (tx) => {
          const over = await this.deps.rates.hit(`confirmation-codes:${email.toLowerCase()}`, CODES_PER_ADDRESS_HOURLY, 3600, tx);
          const issued = over ? undefined : await this.deps.confirmations.reissue(email, tx);
          if (issued) await this.sendCode(tx, issued.email, languageOf(req), issued.code);
        });
      }
      if (wantsJson(req)) return res.status(202).json({});
      res.redirect(303, '/register/confirm?sent=1');
    } catch (err) {
      if (!rerenderForm(req, res, err, 'register-confirm', values)) throw err;
    }
  };

  /** Queued with the code it carries; the answer never waits for SMTP. */
  private sendCode(tx: PoolClient, to: string, language: Language, code: string): Promise<void> {
    const confirmUrl = this.deps.mail.url('/register/confirm', { email: to });
    return this.deps.mail.toAddress(tx, to, language, 'confirmation-code', { code, minutes: this.deps.confirmations.lifetimeMinutes, confirmUrl });
  }
}
