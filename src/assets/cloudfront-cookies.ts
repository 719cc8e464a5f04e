import { readFileSync } from 'node:fs';
import { getSignedCookies } from '@aws-sdk/cloudfront-signer';
import type { CookieOptions, RequestHandler, Response } from 'express';
import type { SessionData } from 'express-session';

const NAMES = ['CloudFront-Policy', 'CloudFront-Signature', 'CloudFront-Key-Pair-Id'] as const;

/**
 * CloudFront signed cookies for CLOUDFRONT_RESOURCE. They cannot be revoked, so their policy is
 * short (CLOUDFRONT_COOKIE_MINUTES, never past the session's absolute end) and renewed by signed-in
 * requests once less than half is left: a sign-in ended elsewhere loses CDN access within minutes.
 */
export class SignedAssetCookies {
  private readonly privateKey: string;

  constructor(
    private readonly settings: { keyPairId: string; privateKeyPath: string; resource: string; cookieDomain: string | undefined; cookieMinutes: number },
    private readonly https: boolean,
  ) {
    try {
      this.privateKey = readFileSync(settings.privateKeyPath, 'utf8');
    } catch {
      throw new Error(`Invalid setting CLOUDFRONT_PRIVATE_KEY_PATH: cannot read ${settings.privateKeyPath}`);
    }
  }

  private options(expires?: Date): CookieOptions {
    return { httpOnly: true, secure: this.https, sameSite: 'lax', path: '/', ...(this.settings.cookieDomain ? { domain: this.settings.cookieDomain } : {}), ...(expires ? { expires } : {}) };
  }

  /** Hands out fresh cookies for this session and notes in it until when they last. */
  issue(res: Response, session: SessionData): void {
    const now = Date.now();
    const until = Math.min(now + this.settings.cookieMinutes * 60_000, session.absoluteExpiresAt ?? Infinity);
    const policy = JSON.stringify({
      Statement: [{ Resource: this.settings.resource, Condition: { DateLessThan: { 'AWS:EpochTime': Math.floor(until / 1000) } } }],
    });
    const cookies = getSignedCookies({ policy, keyPairId: this.settings.keyPairId, privateKey: this.privateKey });
    for (const name of NAMES) {
      const value = cookies[name];
      if (value !== undefined) res.cookie(name, String(value), this.options(new Date(until)));
    }
    session.assetCookiesIssuedAt = now;
    session.assetCookiesUntil = until;
  }

  clear(res: Response): void {
    for (const name of NAMES) res.clearCookie(name, this.options());
  }

  /** Renews the cookies of a signed-in, unrestricted request that finds less than half of their time left. */
  refresh(isRestricted: (session: SessionData) => boolean): RequestHandler {
    return (req, res, next) => {
      const session = req.session;
      if (!req.user || !session || isRestricted(session)) return next();
      const { assetCookiesIssuedAt: issued, assetCookiesUntil: until } = session;
      const now = Date.now();
      const due = issued === undefined || until === undefined || until - now < (until - issued) / 2;
      if (due && (session.absoluteExpiresAt ?? Infinity) > now) this.issue(res, session);
      next();
    };
  }
}
