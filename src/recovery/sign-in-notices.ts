import type { KnownDevices } from '../auth/known-devices.sql.js';
import type { AccountMail, Circumstances } from '../mail/account-mail.js';
import type { Language } from '../i18n/i18n.js';
import type { Change } from '../sessions/sign-ins.js';
import type { AccountLinks } from './account-links.sql.js';

/**
 * "New sign-in" notices: a sign-in from a device the user never signed in from (a browser's `device`
 * cookie, an app's fingerprint) mails the time, IP and browser with a "this wasn't me" link, in the
 * sign-in's own transaction.
 */
export class SignInNotices {
  constructor(private readonly deps: { devices: KnownDevices; links: AccountLinks; mail: AccountMail }) {}

  /** Registration: the browser that made the account is its first device, which is not news. */
  firstDevice(userId: number, deviceHash: string): Change {
    return async (tx) => void (await this.deps.devices.remember(tx, userId, deviceHash));
  }

  /**
   * A completed sign-in from this device: remembered, and news when the device is new, in the
   * language the sign-in asks for (which becomes the user's), else the one they used last.
   */
  signedIn(checked: { user: { id: number; login: string; email: string }; credentialsVersion: number; disabled: boolean; language: Language }, deviceHash: string, where: Circumstances): Change {
    const { user, credentialsVersion, disabled } = checked;
    const language = where.language ?? checked.language;
    return async (tx) => {
      if (!(await this.deps.devices.remember(tx, user.id, deviceHash))) return;
      const token = await this.deps.links.issue(tx, 'not_me', user.id, credentialsVersion);
      await this.deps.mail.toUser(tx, { email: user.email, login: user.login, disabled, language }, 'new-sign-in', { ...where, notMeLink: this.deps.mail.url('/account/not-me', { token }) });
    };
  }
}
