import type { Request, Response } from 'express';
import type { Authentication } from '../auth/authentication.js';
import type { DeviceCookie } from '../auth/device-cookie.js';
import { publicUser } from '../auth/public-user.js';
import { safeReturnTo } from '../auth/user-rules.js';
import type { UserStore } from '../auth/users.sql.js';
import { InvalidInput } from '../http/errors.js';
import { rerenderForm } from '../http/forms.js';
import { wantsJson } from '../http/negotiation.js';
import { circumstancesOf } from '../mail/account-mail.js';
import type { SignInNotices } from '../recovery/sign-in-notices.js';
import { PENDING_MAX_CODES, PENDING_MS, type PendingSignIns } from './pending-sign-ins.sql.js';
import { TwoFactorExpired, WrongCode, type SecondFactor } from './second-factor.js';

export const pendingCookieName = (https: boolean) => (https ? '__Host-two_factor' : 'two_factor');

/**
 * The second half of a sign-in with two-factor on: the password was right, and POST /login/two-factor
 * with a TOTP or recovery code completes the sign-in exactly as a password alone would for others
 * (new session id, roles, audit, device notice, returnTo). Five wrong codes drop it.
 */
export class LoginTwoFactorController {
  private readonly cookie: string;

  constructor(
    private readonly deps: {
      auth: Authentication;
      pendings: PendingSignIns;
      users: UserStore;
      secondFactor: SecondFactor;
      notices: SignInNotices;
      devices: DeviceCookie;
      appOrigin: string;
      https: boolean;
    },
  ) {
    this.cookie = pendingCookieName(deps.https);
  }

  /** After the right password: the pending state and its cookie (5 minutes); answers 303 to the code form or 200 {twoFactorRequired}. */
  readonly begin = async (req: Request, res: Response, user: { id: number; credentialsVersion: number }, options: { remember: boolean; returnTo: string | undefined }): Promise<void> => {
    const token = await this.deps.pendings.create({ userId: user.id, credentialsVersion: user.credentialsVersion, ...options });
    res.cookie(this.cookie, token, { httpOnly: true, sameSite: 'lax', secure: this.deps.https, path: '/', maxAge: PENDING_MS });
    if (wantsJson(req)) return void res.status(200).json({ twoFactorRequired: true });
    res.redirect(303, '/login/two-factor');
  };

  show = async (req: Request, res: Response) => {
    if (!(await this.deps.pendings.find(req.cookies?.[this.cookie]))) return res.redirect(303, '/login');
    res.render('login-two-factor', { error: undefined, fields: {} });
  };

  submit = async (req: Request, res: Response) => {
    try {
      await this.complete(req, res);
    } catch (err) {
      if (err instanceof TwoFactorExpired && !wantsJson(req)) return res.redirect(303, '/login');
      if (!rerenderForm(req, res, err, 'login-two-factor', {})) throw err;
    }
  };

  private async complete(req: Request, res: Response): Promise<void> {
    const value = req.cookies?.[this.cookie];
    const code = (req.body as Record<string, unknown> | undefined)?.code;
    if (code === undefined || code === '') throw new InvalidInput({ code: 'validation.totp_or_recovery' });
    // One of its five attempts is taken before the code is checked.
    const pending = await this.deps.pendings.takeAttempt(value);
    const found = pending && (await this.deps.users.findById(pending.userId));
    if (!pending || !found || found.disabled) return this.expire(res);
    const ip = req.ip ?? 'unknown';
    if (!(await this.deps.secondFactor.check(found.user, ip, code, 'sign_in'))) {
      if (pending.attempts >= PENDING_MAX_CODES) await this.deps.pendings.drop(value);
      throw new WrongCode();
    }
    // Of racing completions of one pending sign-in, one goes on.
    if (!(await this.deps.pendings.drop(value))) return this.expire(res);
    res.clearCookie(this.cookie, { httpOnly: true, sameSite: 'lax', secure: this.deps.https, path: '/' });
    // The credentials checked at the password step must still be the user's (a reset meanwhile: refused).
    const user = { ...found, credentialsVersion: pending.credentialsVersion };
    const device = this.deps.devices.ensure(req, res);
    const notice = this.deps.notices.signedIn(user, device, circumstancesOf(req));
    await this.deps.auth.startSessionFor(req, res, user, { remember: pending.remember, within: notice });
    if (wantsJson(req)) return void res.status(200).json({ user: publicUser(user.user) });
    res.redirect(303, user.passwordExpired ? '/account/password' : (safeReturnTo(pending.returnTo, this.deps.appOrigin) ?? '/'));
  }

  private expire(res: Response): never {
    res.clearCookie(this.cookie, { httpOnly: true, sameSite: 'lax', secure: this.deps.https, path: '/' });
    throw new TwoFactorExpired();
  }
}
