import type { SecurityEvents } from '../audit/security-events.sql.js';
import type { AttemptGuard } from '../auth/attempt-guard.js';
import type { Pool, Queryable } from '../db/pool.js';
import { AppError } from '../http/errors.js';
import type { SecretBox } from '../secrets/secret-box.js';
import { newRecoveryCodes, newSecret, readCode, recoveryHash, totpStep } from './totp.js';
import type { TwoFactorStore } from './two-factor.sql.js';

export class WrongCode extends AppError {
  constructor() {
    super(401, 'wrong_code', 'errors.wrong_code');
  }
}

export class TwoFactorRequired extends AppError {
  constructor() {
    super(401, 'two_factor_required', 'errors.two_factor_required');
  }
}

export class TwoFactorExpired extends AppError {
  constructor() {
    super(401, 'two_factor_expired', 'errors.two_factor_expired');
  }
}

/**
 * TOTP with recovery codes: enrolment, the check of a code, and turning it off. A code is accepted
 * for a time step later than the last one the user used (one atomic update, so racing uses of a code
 * cannot both pass) and a recovery code once. Every code typed by a person goes through the attempt
 * guard of that login and IP, reserved before it is checked.
 */
export class SecondFactor {
  constructor(private readonly deps: { pool: Pool; store: TwoFactorStore; box: SecretBox; guard: AttemptGuard; events: SecurityEvents; issuer: string }) {}

  async isOn(userId: number): Promise<boolean> {
    return (await this.deps.store.get(userId))?.enabled === true;
  }

  /** A new secret waiting for its first code. Resolves undefined when two-factor is already on. */
  async startEnrolment(user: { id: number; login: string }): Promise<{ secret: string; otpauthUrl: string } | undefined> {
    const fresh = newSecret(this.deps.issuer, user.login);
    return (await this.deps.store.startEnrolment(user.id, this.deps.box.seal(fresh.secret))) ? fresh : undefined;
  }

  /**
   * Checks a code without the guard (the caller holds a reservation already, as the token API's
   * sign-in does). `enrolling` accepts only a TOTP of the secret waiting for its first code and turns
   * two-factor on with it.
   */
  async verify(db: Queryable, userId: number, value: unknown, state: 'enrolling' | 'enabled' = 'enabled'): Promise<boolean> {
    const typed = readCode(value);
    if (typed.kind === 'malformed') return false;
    const row = await this.deps.store.get(userId, db);
    if (!row || row.enabled !== (state === 'enabled')) return false;
    if (typed.kind === 'recovery') return state === 'enabled' && this.deps.store.useRecoveryCode(db, userId, typed.hash);
    const secret = this.deps.box.open(row.secretEncrypted);
    if (!secret) return false;
    const step = await totpStep(secret, typed.code, row.lastStep);
    if (step === undefined || !(await this.deps.store.useStep(db, userId, step, state))) return false;
    if (this.deps.box.needsReseal(row.secretEncrypted)) await this.deps.store.reseal(userId, this.deps.box.seal(secret));
    return true;
  }

  /** A code typed by the user for `purpose`, through the guard (TooManyAttempts); a wrong one is audited. */
  async check(user: { id: number; login: string }, ip: string, value: unknown, purpose: string, options: { db?: Queryable; state?: 'enrolling' | 'enabled' } = {}): Promise<boolean> {
    const { db = this.deps.pool, state = 'enabled' } = options;
    const right = await this.deps.guard.attempt({ subject: user.login, ip }, () => this.verify(db, user.id, value, state));
    if (!right) await this.deps.events.record({ type: 'two_factor_failed', userId: user.id, login: user.login, ip, detail: { for: purpose } });
    return Boolean(right);
  }

  /** Ten new recovery codes (the old ones die), stored hashed; the plain codes are shown once. */
  async newRecoveryCodes(db: Queryable, userId: number): Promise<string[]> {
    const codes = newRecoveryCodes();
    await this.deps.store.replaceRecoveryCodes(db, userId, codes.map(recoveryHash));
    return codes;
  }

  remove(db: Queryable, userId: number): Promise<void> {
    return this.deps.store.remove(db, userId);
  }

  remainingRecoveryCodes(userId: number): Promise<number> {
    return this.deps.store.remainingRecoveryCodes(userId);
  }
}
