import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { Request, Response } from 'express';
import type { SecurityEvents } from '../audit/security-events.sql.js';
import type { AttemptGuard } from '../auth/attempt-guard.js';
import { WrongCredentials, type Authentication } from '../auth/authentication.js';
import type { DeviceCookie } from '../auth/device-cookie.js';
import { publicUser } from '../auth/public-user.js';
import { AccountDisabled } from '../auth/sign-in.js';
import type { UserStore, UserWithHash } from '../auth/users.sql.js';
import { InvalidInput } from '../http/errors.js';
import { circumstancesOf } from '../mail/account-mail.js';
import type { SignInNotices } from '../recovery/sign-in-notices.js';
import type { RelyingParty } from './passkeys-controller.js';
import type { PasskeyStore } from './passkeys.sql.js';
import { authenticationShape, challengeOf, webauthn } from './webauthn-response.js';
import type { WebAuthnChallenges } from './webauthn-challenges.sql.js';

/**
 * Signing in with a passkey (a discoverable credential, user verification required): it counts as
 * both factors and starts the sign-in as a password sign-in does. The challenge is single use; an
 * unknown credential, a bad signature or a used challenge is 401 wrong_credentials and counts
 * against the IP (never against a login: nobody can slow another user's passkey this way).
 */
export class PasskeySignInController {
  constructor(
    private readonly deps: {
      auth: Authentication;
      passkeys: PasskeyStore;
      challenges: WebAuthnChallenges;
      rp: RelyingParty;
      users: UserStore;
      guard: AttemptGuard;
      notices: SignInNotices;
      devices: DeviceCookie;
      events: SecurityEvents;
    },
  ) {}

  options = async (_req: Request, res: Response) => {
    const options = await (await webauthn()).generateAuthenticationOptions({ rpID: this.deps.rp.id, userVerification: 'required', allowCredentials: [] });
    await this.deps.challenges.remember(options.challenge, 'sign_in', null);
    res.json(options);
  };

  submit = async (req: Request, res: Response) => {
    const parsed = authenticationShape.safeParse(req.body);
    if (!parsed.success) throw new InvalidInput({ credential: 'validation.passkey_response' });
    const ip = req.ip ?? 'unknown';
    const user = await this.deps.guard.attempt({ subject: `passkey@${ip}`, ip }, () => this.check(parsed.data as unknown as AuthenticationResponseJSON));
    if (!user) {
      await this.deps.events.record({ type: 'passkey_failed', ip });
      throw new WrongCredentials();
    }
    if (user.disabled) throw new AccountDisabled();
    const device = this.deps.devices.ensure(req, res);
    const notice = this.deps.notices.signedIn(user, device, circumstancesOf(req));
    await this.deps.auth.startSessionFor(req, res, user, { within: notice });
    res.status(200).json({ user: publicUser(user.user) });
  };

  /** The user whose passkey signed this challenge, or undefined. */
  private async check(response: AuthenticationResponseJSON): Promise<UserWithHash | undefined> {
    const challenge = challengeOf(response.response.clientDataJSON);
    if (!challenge || !(await this.deps.challenges.use(challenge, 'sign_in', null))) return undefined;
    const passkey = await this.deps.passkeys.byCredentialId(response.id);
    if (!passkey) return undefined;
    let verified;
    try {
      verified = await (await webauthn()).verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: this.deps.rp.origin,
        expectedRPID: this.deps.rp.id,
        credential: { id: passkey.credentialId, publicKey: passkey.publicKey as Uint8Array<ArrayBuffer>, counter: passkey.counter, transports: passkey.transports as never },
        requireUserVerification: true,
      });
    } catch {
      return undefined;
    }
    if (!verified.verified) return undefined;
    if (!(await this.deps.passkeys.recordUse(passkey.id, passkey.counter, verified.authenticationInfo.newCounter))) return undefined;
    return this.deps.users.findById(passkey.userId);
  }
}
