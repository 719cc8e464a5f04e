import type { Request, Response } from 'express';
import type { SecurityEvents } from '../audit/security-events.sql.js';
import { AppError } from '../http/errors.js';
import { TooManyAttempts, type AttemptGuard } from './attempt-guard.js';
import { WrongCredentials, type Authentication } from './authentication.js';
import { lookedUpForSignIn, type CheckedUser } from './passport-setup.js';
import type { SignIn as SignInInput } from './user-rules.js';
import type { UserStore } from './users.sql.js';
import type { Pool } from '../db/pool.js';
import type { Change } from '../sessions/sign-ins.js';
import { TwoFactorRequired, WrongCode, type SecondFactor } from '../two-factor/second-factor.js';

/**
 * What a right password leads to for a user with two-factor on: a pending half sign-in (the form),
 * or the code checked in the same guarded attempt (the token API's `code`).
 */
export type SecondStep = 'pending' | { code: unknown };

/**
 * A checked sign-in: the user, whether it still waits for its second factor, and, when the caller
 * asked to release the attempt itself, the step that does it in the transaction that starts the sign-in.
 */
export type VerifiedSignIn = CheckedUser & { pendingSecondFactor: boolean; release?: Change };

type Outcome = { user: CheckedUser; step: 'done' | 'pending' | 'code_required' | 'wrong_code' };

export class AccountDisabled extends AppError {
  constructor() {
    super(403, 'account_disabled', 'errors.account_disabled');
  }
}

export class EmailUnconfirmed extends AppError {
  constructor() {
    super(403, 'email_unconfirmed', 'errors.email_unconfirmed');
  }
}

/**
 * One sign-in attempt, for the form and for the token API alike: the attempt guard reserves the
 * attempt first (a throttled attempt checks no password), then Passport's local strategy checks it,
 * then the outcome is audited.
 */
export class SignInAttempts {
  constructor(private readonly deps: { auth: Authentication; guard: AttemptGuard; users: UserStore; events: SecurityEvents; secondFactor: SecondFactor; pool: Pool }) {}

  /**
   * A right password is a success that clears the login+IP count only when it completes the sign-in:
   * with two-factor on it is given back instead (not a failure, not yet a success), and a right
   * password with a wrong code is a failure.
   */
  async verify(req: Request, res: Response, input: SignInInput, deviceHash: string | undefined, second: SecondStep = 'pending', options: { releaseInSignIn?: boolean } = {}): Promise<VerifiedSignIn> {
    const ip = req.ip ?? 'unknown';
    // The subject failed attempts are counted under: the user's login when the identifier names a
    // user (by login or email), otherwise the identifier itself, normalised, so unknown logins count
    // exactly like known ones and typing the email instead of the login earns no extra attempts. The
    // row read for it is the one the strategy checks the password against (one lookup).
    const found = await this.deps.users.findForSignIn(input.login);
    const subject = found?.user.login ?? input.login.trim().toLowerCase();
    lookedUpForSignIn(req, found);
    let outcome: Outcome | undefined;
    try {
      outcome = await this.deps.guard.attempt<Outcome>(
        { subject, ip, deviceHash },
        async () => {
          req.body = { login: input.login, password: input.password };
          const user = await this.deps.auth.checkCredentials(req, res);
          if (!user) return undefined;
          if (!user.twoFactor || user.disabled || !user.emailConfirmed) return { user, step: 'done' };
          if (second === 'pending') return { user, step: 'pending' };
          if (second.code === undefined) return { user, step: 'code_required' };
          return { user, step: (await this.deps.secondFactor.verify(this.deps.pool, user.user.id, second.code)) ? 'done' : 'wrong_code' };
        },
        (o) => {
          if (o.step === 'wrong_code') return 'fail';
          if (o.step !== 'done') return 'giveBack';
          // A sign-in about to start releases its attempt in its own transaction; one refused below
          // (disabled, unconfirmed) releases it now, as any right password does.
          return options.releaseInSignIn && !o.user.disabled && o.user.emailConfirmed ? 'caller' : 'release';
        },
      );
    } catch (err) {
      if (err instanceof TooManyAttempts) await this.deps.events.record({ type: 'sign_in_throttled', login: subject, ip });
      throw err;
    }
    if (!outcome) {
      await this.deps.events.record({ type: 'sign_in_failed', login: subject, ip });
      throw new WrongCredentials();
    }
    const { user, step } = outcome;
    // Only after the right password: a wrong one gets the usual answer, so this says nothing to a guesser.
    if (user.disabled) throw new AccountDisabled();
    if (!user.emailConfirmed) throw new EmailUnconfirmed();
    if (step === 'code_required') throw new TwoFactorRequired();
    if (step === 'wrong_code') {
      await this.deps.events.record({ type: 'two_factor_failed', userId: user.user.id, login: subject, ip, detail: { for: 'sign_in' } });
      throw new WrongCode();
    }
    const release = options.releaseInSignIn && step === 'done' ? this.deps.guard.releaseIn({ subject, ip, deviceHash }) : undefined;
    return { ...user, pendingSecondFactor: step === 'pending', release };
  }
}
