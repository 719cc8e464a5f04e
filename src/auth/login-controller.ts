import type { Request, Response } from 'express';
import { checked, formValues, rerenderForm } from '../http/forms.js';
import { wantsJson } from '../http/negotiation.js';
import { circumstancesOf } from '../mail/account-mail.js';
import type { SignInNotices } from '../recovery/sign-in-notices.js';
import type { Authentication } from './authentication.js';
import type { DeviceCookie } from './device-cookie.js';
import { publicUser } from './public-user.js';
import type { SignInAttempts } from './sign-in.js';
import { parseSignIn, safeReturnTo } from './user-rules.js';

/** The sign-in page as it first opens: nothing typed, no notice. */
export const BLANK_LOGIN = { error: undefined, fields: {}, values: { returnTo: '' }, confirmed: false, reset: false };

/** GET/POST /login: validate the form, one guarded sign-in attempt, then a fresh session. */
export class LoginController {
  constructor(
    private readonly deps: {
      auth: Authentication;
      attempts: SignInAttempts;
      devices: DeviceCookie;
      notices: SignInNotices;
      /** Starts the half sign-in of a user with two-factor on (the code form). */
      beginSecondFactor: (req: Request, res: Response, user: { id: number; credentialsVersion: number }, options: { remember: boolean; returnTo: string | undefined }) => Promise<void>;
      appOrigin: string;
    },
  ) {}

  show = (req: Request, res: Response) => {
    if (req.user) return res.redirect(303, '/');
    const returnTo = safeReturnTo(req.query.returnTo, this.deps.appOrigin) ?? '';
    res.render('login', { ...BLANK_LOGIN, values: { returnTo }, confirmed: req.query.confirmed === '1', reset: req.query.reset === '1' });
  };

  submit = async (req: Request, res: Response) => {
    const values = formValues(req.body, ['login', 'returnTo', 'remember']);
    try {
      const knownDevice = this.deps.devices.hashFrom(req);
      const remember = checked(req.body, 'remember');
      const user = await this.deps.attempts.verify(req, res, parseSignIn(req.body), knownDevice, 'pending', { releaseInSignIn: true });
      if (user.pendingSecondFactor) {
        // Half a sign-in: nothing is signed in until the code completes it.
        const returnTo = safeReturnTo(values.returnTo, this.deps.appOrigin);
        return await this.deps.beginSecondFactor(req, res, { id: user.user.id, credentialsVersion: user.credentialsVersion }, { remember, returnTo });
      }
      // A browser that signs in keeps a device cookie; a device new to this user is news to them.
      const device = this.deps.devices.ensure(req, res);
      const notice = this.deps.notices.signedIn(user, device, circumstancesOf(req));
      const release = user.release;
      // The attempt's release last: the shared counters (the IP's) stay locked only until the commit.
      const within = release ? async (tx: Parameters<typeof notice>[0]) => (await notice(tx), await release(tx)) : notice;
      await this.deps.auth.startSessionFor(req, res, user, { remember, within });

      if (wantsJson(req)) return res.status(200).json({ user: publicUser(user.user) });
      res.redirect(303, user.passwordExpired ? '/account/password' : (safeReturnTo(values.returnTo, this.deps.appOrigin) ?? '/'));
    } catch (err) {
      if (!rerenderForm(req, res, err, 'login', values)) throw err;
    }
  };
}
