import type { Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { PasswordExpired, WrongCredentials } from '../auth/authentication.js';
import { fingerprintDevice } from '../auth/device-cookie.js';
import type { SignInAttempts } from '../auth/sign-in.js';
import { parseSignIn } from '../auth/user-rules.js';
import { circumstancesOf } from '../mail/account-mail.js';
import { statedLanguageOf } from '../i18n/language.js';
import type { SignInNotices } from '../recovery/sign-in-notices.js';
import type { UserStore } from '../auth/users.sql.js';
import { isCrossSite } from '../http/csrf.js';
import { AppError, CsrfFailed, InvalidInput } from '../http/errors.js';
import { CredentialsChanged, type SignIns } from '../sessions/sign-ins.js';
import { InvalidToken, type AccessTokens } from './access-tokens.js';
import type { RefreshTokens } from './refresh-tokens.sql.js';

export const REFRESH_COOKIE = 'refreshToken';

const fingerprintOf = (body: unknown): string => {
  const parsed = z.object({ fingerprint: z.string().min(1).max(512) }).safeParse(body ?? {});
  if (!parsed.success) throw new InvalidInput({ fingerprint: 'validation.fingerprint' });
  return parsed.data.fingerprint;
};

/**
 * /api/auth/*: JSON only, and no ambient cookie but the Strict, /api/auth-scoped refresh cookie, so
 * it needs no CSRF token; a request that shows another site's Origin is still refused.
 */
export function apiAuthGuard(appOrigin: string): RequestHandler {
  return (req, _res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    if (isCrossSite(req, appOrigin)) return next(new CsrfFailed());
    if (!req.is('application/json')) return next(new AppError(415, 'unsupported_media_type', 'errors.unsupported_media_type'));
    next();
  };
}

/** The token API for scripts and mobile apps: sign in, rotate, sign out, and who am I. Sign-ins start and end through the lifecycle. */
export class TokenController {
  constructor(
    private readonly deps: {
      attempts: SignInAttempts;
      access: AccessTokens;
      refresh: RefreshTokens;
      signIns: SignIns;
      users: UserStore;
      notices: SignInNotices;
      https: boolean;
      refreshMs: number;
    },
  ) {}

  private setRefreshCookie(res: Response, token: string) {
    res.cookie(REFRESH_COOKIE, token, { httpOnly: true, sameSite: 'strict', path: '/api/auth', secure: this.deps.https, maxAge: this.deps.refreshMs });
  }

  private clearRefreshCookie(res: Response) {
    res.clearCookie(REFRESH_COOKIE, { httpOnly: true, sameSite: 'strict', path: '/api/auth', secure: this.deps.https });
  }

  login = async (req: Request, res: Response) => {
    const input = parseSignIn(req.body);
    const fingerprint = fingerprintOf(req.body);
    const device = fingerprintDevice(fingerprint);
    // With two-factor on, the code comes in the same body and is checked in the same guarded attempt.
    const user = await this.deps.attempts.verify(req, res, input, device, { code: (req.body as Record<string, unknown>).code });
    if (user.passwordExpired) throw new PasswordExpired();
    let started;
    try {
      started = await this.deps.signIns.startFamily({
        userId: user.user.id,
        credentialsVersion: user.credentialsVersion,
        fingerprint,
        ip: req.ip,
        userAgent: req.get('user-agent'),
        language: statedLanguageOf(req) === user.language ? undefined : statedLanguageOf(req),
        // For the token API the fingerprint is the device: a new one is news to the user.
        within: this.deps.notices.signedIn(user, device, circumstancesOf(req)),
      });
    } catch (err) {
      // The password changed while this sign-in was being checked: nothing made from it survives.
      if (err instanceof CredentialsChanged) throw new WrongCredentials();
      throw err;
    }
    const { accessToken, expiresIn } = await this.deps.access.issue(user.user, started.familyId);
    this.setRefreshCookie(res, started.token);
    res.json({ accessToken, tokenType: 'Bearer', expiresIn, user: user.user });
  };

  refreshTokens = async (req: Request, res: Response) => {
    const fingerprint = fingerprintOf(req.body);
    const presented = req.cookies?.[REFRESH_COOKIE];
    try {
      if (typeof presented !== 'string' || !presented) throw new InvalidToken();
      // An expired password restricts the sign-in: no rotation until it is changed.
      const family = await this.deps.refresh.familyOf(presented);
      const owner = family && (await this.deps.users.findById(family.userId));
      if (owner?.passwordExpired) throw new PasswordExpired();
      const rotated = await this.deps.refresh.rotate(presented, fingerprint);
      if (rotated.kind === 'reused' || rotated.kind === 'mismatch') {
        // A spent token again (stolen or raced) or another client: the whole sign-in ends.
        await this.deps.signIns.end({ family: rotated.familyId }, 'revoked', { ip: req.ip, detail: { why: rotated.kind === 'reused' ? 'token_reused' : 'fingerprint_mismatch' } });
        if (rotated.kind === 'reused') throw new InvalidToken('token_reused', 'errors.token_reused');
        throw new InvalidToken();
      }
      if (rotated.kind !== 'rotated') throw new InvalidToken();
      const found = owner?.user.id === rotated.userId ? owner : await this.deps.users.findById(rotated.userId);
      if (!found || found.disabled) throw new InvalidToken();
      const { accessToken, expiresIn } = await this.deps.access.issue(found.user, rotated.familyId);
      this.setRefreshCookie(res, rotated.token);
      res.json({ accessToken, tokenType: 'Bearer', expiresIn, user: found.user });
    } catch (err) {
      if (err instanceof InvalidToken) this.clearRefreshCookie(res);
      throw err;
    }
  };

  logout = async (req: Request, res: Response) => {
    const presented = req.cookies?.[REFRESH_COOKIE];
    const family = typeof presented === 'string' && presented ? await this.deps.refresh.familyOf(presented) : undefined;
    if (family) await this.deps.signIns.end({ family: family.familyId }, 'logout', { ip: req.ip });
    this.clearRefreshCookie(res);
    res.status(204).end();
  };

  me = async (_req: Request, res: Response) => {
    res.json({ user: res.locals.apiUser });
  };
}
