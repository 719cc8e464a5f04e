import type { SecurityEvents } from '../audit/security-events.sql.js';
import type { AttemptGuard } from './attempt-guard.js';
import type { PasswordHasher } from './passwords.js';
import type { UserStore, UserWithHash } from './users.sql.js';

/**
 * The current password asked again on an account form (password change, deletion): through the
 * attempt guard like a sign-in, so a stolen session cannot guess it faster, and each failure audited.
 */
export class CurrentPassword {
  constructor(private readonly deps: { guard: AttemptGuard; users: UserStore; hasher: PasswordHasher; events: SecurityEvents }) {}

  /** The user when `password` is theirs; undefined (audited as `password_change_failed`) when not. Throws TooManyAttempts. */
  async verify(me: { id: number; login: string }, password: string, ip: string, purpose: 'change' | 'delete' | 'email' | 'two-factor'): Promise<UserWithHash | undefined> {
    const found = await this.deps.guard.attempt({ subject: me.login, ip }, async () => {
      const user = await this.deps.users.findById(me.id);
      return user && (await this.deps.hasher.verify(password, user.passwordHash)) ? user : undefined;
    });
    if (!found) await this.deps.events.record({ type: 'password_change_failed', userId: me.id, login: me.login, ip, ...(purpose === 'change' ? {} : { detail: { for: purpose } }) });
    return found;
  }
}
