import passportModule from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { activeRoles } from '../roles/role-grants.js';
import type { SessionUser, StoredUser } from '../types.js';
import type { PasswordHasher } from './passwords.js';
import type { UserStore, UserWithHash } from './users.sql.js';

export type Passport = InstanceType<typeof passportModule.Authenticator>;

/** What the local strategy resolves: the user with the state of their credentials. */
export type CheckedUser = UserWithHash;

/**
 * The user a sign-in attempt already looked up for its throttle subject (undefined: no such login),
 * so the strategy does not read the same row again. A password changed since is caught where the
 * session or token family is written (the credentials version).
 */
const lookedUp = new WeakMap<object, UserWithHash | undefined>();
export function lookedUpForSignIn(req: object, user: UserWithHash | undefined): void {
  lookedUp.set(req, user);
}

/**
 * A Passport instance of our own (not the global singleton), so several apps can live in one
 * process (tests). The session keeps the small StoredUser with its role grants; the roles active
 * now are judged at each request, with no query.
 */
export function createPassport(deps: { users: UserStore; hasher: PasswordHasher; onRehashError?: (err: unknown) => void }): Passport {
  const passport = new passportModule.Authenticator();

  passport.use(
    new LocalStrategy({ usernameField: 'login', passwordField: 'password', passReqToCallback: true }, (req, login, password, done) => {
      (async () => {
        const found = lookedUp.has(req) ? lookedUp.get(req) : await deps.users.findForSignIn(login);
        lookedUp.delete(req);
        // An unknown login still costs one bcrypt comparison: timing does not tell who exists.
        if (!found) return deps.hasher.verifyNothing(password);
        if (!(await deps.hasher.verify(password, found.passwordHash))) return false;
        // A hash made at another cost is redone now, so sign-in times converge on the setting.
        if (deps.hasher.needsRehash(found.passwordHash)) {
          await deps.users.rehash(found.user.id, found.passwordHash, await deps.hasher.hash(password)).catch((err) => deps.onRehashError?.(err));
        }
        return found;
      })().then((user) => done(null, (user || false) as unknown as Express.User | false), done);
    }),
  );

  passport.serializeUser((user, done) => done(null, (user as unknown as { stored?: StoredUser }).stored ?? user));
  passport.deserializeUser((stored: StoredUser & { roles?: string[] }, done) => {
    // Sessions written before grants were kept hold plain role names: they count as undated grants.
    const grants = stored.grants ?? (stored.roles ?? []).map((role) => ({ role, startsAt: null, endsAt: null }));
    const user: SessionUser = { id: stored.id, login: stored.login, name: stored.name, email: stored.email, roles: activeRoles(grants) };
    done(null, user);
  });

  return passport;
}
