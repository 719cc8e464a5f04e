import { createHash, randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';

const YEAR_MS = 365 * 86_400_000;
const VALUE = /^[A-Za-z0-9_-]{43}$/;

export const deviceCookieName = (https: boolean) => (https ? '__Host-device' : 'device');

const hashOf = (value: string) => createHash('sha256').update(value).digest('hex');

/**
 * The `device` cookie: a random id a browser keeps for a year once it has signed in, so the per-login
 * delay spares a browser that has signed in to that login before (OWASP's device cookies), and a new
 * device can be told apart. Only its hash is stored.
 */
export class DeviceCookie {
  private readonly name: string;

  constructor(private readonly https: boolean) {
    this.name = deviceCookieName(https);
  }

  /** The hash of this browser's device cookie, if it has a well-formed one. */
  hashFrom(req: Request): string | undefined {
    const value = req.cookies?.[this.name];
    return typeof value === 'string' && VALUE.test(value) ? hashOf(value) : undefined;
  }

  /** The device hash of this browser, giving it a cookie first if it has none. */
  ensure(req: Request, res: Response): string {
    const existing = this.hashFrom(req);
    if (existing) return existing;
    const value = randomBytes(32).toString('base64url');
    res.cookie(this.name, value, { httpOnly: true, sameSite: 'lax', secure: this.https, path: '/', maxAge: YEAR_MS });
    return hashOf(value);
  }
}

/** An app's fingerprint stands for its device in the token API. */
export const fingerprintDevice = (fingerprint: string) => hashOf(`fingerprint:${fingerprint}`);
