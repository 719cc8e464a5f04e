import passportModule from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import type { SessionUser } from '../types.js';
import { publicUser } from './public-user.js';
import type { PasswordHasher } from './passwords.js';
import type { UserStore } from './users.sql.js';

export type Passport = InstanceType<typeof passportModule.Authenticator>;

/**
 * A Passport instance of our own (not the global singleton), so several apps can live in one
 * process (tests). The session keeps the small SessionUser, so no query is needed per request.
 */
/** What the local strategy resolves: the session user, plus whether the password must be changed first. */
export type CheckedUser = SessionUser & { passwordExpired: boolean; emailConfirmed: boolean };

export function createPassport(deps: { users: UserStore; hasher: PasswordHasher; passwordMaxAgeDays: number }): Passport {
  const passport = new passportModule.Authenticator();

  passport.use(
    new LocalStrategy({ usernameField: 'login', passwordField: 'password', passReqToCallback: true }, (_req, login, password, done) => {
      (async () => {
        const found = await deps.users.findForSignIn(login, deps.passwordMaxAgeDays);
        // An unknown login still costs one bcrypt comparison: timing does not tell who exists.
        if (!found) return deps.hasher.verifyNothing(password);
        const ok = await deps.hasher.verify(password, found.passwordHash);
        return ok && ({ ...found.user, passwordExpired: found.passwordExpired, emailConfirmed: found.emailConfirmed } satisfies CheckedUser);
      })().then((user) => done(null, user || false), done);
    }),
  );

  passport.serializeUser((user, done) => done(null, publicUser(user)));
  passport.deserializeUser((stored: SessionUser, done) => done(null, stored));

  return passport;
}
