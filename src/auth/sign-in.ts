import type { Request, Response } from 'express';
import type { SecurityEvents } from '../audit/security-events.sql.js';
import { AppError } from '../http/errors.js';
import { TooManyAttempts, type AttemptGuard } from './attempt-guard.js';
import { WrongCredentials, type Authentication } from './authentication.js';
import type { CheckedUser } from './passport-setup.js';
import type { SignIn as SignInInput } from './user-rules.js';
import type { UserStore } from './users.sql.js';

export class AccountDisabled extends AppError {
  constructor() {
    super(403, 'account_disabled', 'This account has been disabled. Please contact the administrator.');
  }
}

export class EmailUnconfirmed extends AppError {
  constructor() {
    super(403, 'email_unconfirmed', 'Please confirm your email address first: enter the code we sent you.');
  }
}

/**
 * One sign-in attempt, for the form and for the token API alike: the attempt guard reserves the
 * attempt first (a throttled attempt checks no password), then Passport's local strategy checks it,
 * then the outcome is audited.
 */
export class SignInAttempts {
  constructor(private readonly deps: { auth: Authentication; guard: AttemptGuard; users: UserStore; events: SecurityEvents }) {}

  async verify(req: Request, res: Response, input: SignInInput, deviceHash: string | undefined): Promise<CheckedUser> {
    const ip = req.ip ?? 'unknown';
    const subject = await this.deps.users.throttleSubject(input.login);
    let user: CheckedUser | undefined;
    try {
      user = await this.deps.guard.attempt({ subject, ip, deviceHash }, () => {
        req.body = { login: input.login, password: input.password };
        return this.deps.auth.checkCredentials(req, res);
      });
    } catch (err) {
      if (err instanceof TooManyAttempts) await this.deps.events.record({ type: 'sign_in_throttled', login: subject, ip });
      throw err;
    }
    if (!user) {
      await this.deps.events.record({ type: 'sign_in_failed', login: subject, ip });
      throw new WrongCredentials();
    }
    // Only after the right password: a wrong one gets the usual answer, so this says nothing to a guesser.
    if (user.disabled) throw new AccountDisabled();
    if (!user.emailConfirmed) throw new EmailUnconfirmed();
    return user;
  }
}
