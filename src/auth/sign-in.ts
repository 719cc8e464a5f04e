import type { Request, Response } from 'express';
import type { SecurityEvents } from '../audit/security-events.sql.js';
import { AppError } from '../http/errors.js';
import { WrongCredentials, type Authentication } from './authentication.js';
import { TooManyAttempts, type LoginThrottle } from './login-throttle.js';
import type { CheckedUser } from './passport-setup.js';
import type { SignIn as SignInInput } from './user-rules.js';
import type { UserStore } from './users.sql.js';

export class EmailUnconfirmed extends AppError {
  constructor() {
    super(403, 'email_unconfirmed', 'Please confirm your email address first: enter the code we sent you.');
  }
}

/**
 * One sign-in attempt, for the form and for the token API alike: the failed-attempt counters first
 * (a throttled attempt checks no password), then Passport's local strategy, then the outcome is
 * counted and audited.
 */
export class SignInAttempts {
  constructor(private readonly deps: { auth: Authentication; throttle: LoginThrottle; users: UserStore; events: SecurityEvents }) {}

  async verify(req: Request, res: Response, input: SignInInput): Promise<CheckedUser> {
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
    if (!user.emailConfirmed) throw new EmailUnconfirmed();
    return user;
  }
}
