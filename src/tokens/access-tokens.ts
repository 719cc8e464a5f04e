import { randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { AppError } from '../http/errors.js';
import type { SessionUser } from '../types.js';
import type { SigningKey } from './signing-key.js';

const TYPE = 'at+jwt'; // RFC 9068: an access token cannot pass for another kind of JWT

export class InvalidToken extends AppError {
  constructor(code: 'invalid_token' | 'token_reused' = 'invalid_token', message = 'errors.invalid_token') {
    super(401, code, message, undefined, { 'WWW-Authenticate': `Bearer realm="api", error="invalid_token"` });
  }
}

export interface AccessClaims {
  userId: number;
  roles: string[];
  /** The refresh-token family (one sign-in) this token belongs to. */
  familyId: string;
  expiresAt: number;
}

/** Short-lived JWTs signed with the asymmetric key; verified against an algorithm allowlist. */
export class AccessTokens {
  constructor(
    private readonly key: SigningKey,
    private readonly issuer: string,
    /** ACCESS_TOKEN_SECONDS (1800 by default). */
    private readonly lifetimeSeconds = 1800,
  ) {}

  get audience(): string {
    return `${this.issuer}/api`;
  }

  async issue(user: SessionUser, familyId: string): Promise<{ accessToken: string; expiresIn: number }> {
    const accessToken = await new SignJWT({ roles: user.roles, fid: familyId })
      .setProtectedHeader({ alg: this.key.alg, kid: this.key.kid, typ: TYPE })
      .setSubject(String(user.id))
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setIssuedAt()
      .setExpirationTime(`${this.lifetimeSeconds}s`)
      .setJti(randomUUID())
      .sign(this.key.privateKey);
    return { accessToken, expiresIn: this.lifetimeSeconds };
  }

  /** Throws InvalidToken for anything but a well-formed, unexpired token we signed. */
  async verify(token: unknown): Promise<AccessClaims> {
    if (typeof token !== 'string' || token.length > 4096) throw new InvalidToken();
    try {
      const { payload } = await jwtVerify(token, this.key.publicKey, {
        algorithms: [this.key.alg], // never 'none', never an HMAC keyed with the public key
        issuer: this.issuer,
        audience: this.audience,
        typ: TYPE,
        requiredClaims: ['sub', 'exp', 'iat', 'fid'],
      });
      const userId = Number(payload.sub);
      if (!Number.isSafeInteger(userId) || typeof payload.fid !== 'string') throw new Error('bad claims');
      const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === 'string') : [];
      return { userId, roles, familyId: payload.fid, expiresAt: payload.exp! * 1000 };
    } catch {
      throw new InvalidToken();
    }
  }
}
