import { readFileSync } from 'node:fs';
import { getSignedCookies } from '@aws-sdk/cloudfront-signer';
import type { CookieOptions, Response } from 'express';

const NAMES = ['CloudFront-Policy', 'CloudFront-Signature', 'CloudFront-Key-Pair-Id'] as const;

/**
 * CloudFront signed cookies for CLOUDFRONT_RESOURCE, handed to a browser at sign-in and lasting as
 * long as its session (the policy ends at the session's absolute end); cleared at logout.
 */
export class SignedAssetCookies {
  private readonly privateKey: string;

  constructor(
    private readonly settings: { keyPairId: string; privateKeyPath: string; resource: string; cookieDomain: string | undefined },
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

  set(res: Response, until: Date): void {
    const policy = JSON.stringify({
      Statement: [{ Resource: this.settings.resource, Condition: { DateLessThan: { 'AWS:EpochTime': Math.floor(until.getTime() / 1000) } } }],
    });
    const cookies = getSignedCookies({ policy, keyPairId: this.settings.keyPairId, privateKey: this.privateKey });
    for (const name of NAMES) {
      const value = cookies[name];
      if (value !== undefined) res.cookie(name, String(value), this.options(until));
    }
  }

  clear(res: Response): void {
    for (const name of NAMES) res.clearCookie(name, this.options());
  }
}
