import { createHash, randomInt } from 'node:crypto';
import { generateSecret, generateURI, verify } from 'otplib';
import QRCode from 'qrcode';

/** RFC 6238 as authenticator apps expect it: SHA-1, 6 digits, 30-second steps. */
const PERIOD = 30;
/** The previous and the next step are accepted too (clock drift). */
const TOLERANCE_S = PERIOD;

const TOTP_SHAPE = /^\d{6}$/;
const RECOVERY_ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';
const RECOVERY_SHAPE = /^[a-z2-9]{5}-?[a-z2-9]{5}$/;
export const RECOVERY_CODE_COUNT = 10;

/** A code as typed: a 6-digit TOTP, a recovery code (`xxxxx-xxxxx`), or neither (a wrong code, never an error). */
export type TypedCode = { kind: 'totp'; code: string } | { kind: 'recovery'; hash: string } | { kind: 'malformed' };

export function readCode(value: unknown): TypedCode {
  if (typeof value !== 'string' || value.length > 64) return { kind: 'malformed' };
  const code = value.trim();
  if (TOTP_SHAPE.test(code)) return { kind: 'totp', code };
  const lower = code.toLowerCase();
  if (RECOVERY_SHAPE.test(lower)) return { kind: 'recovery', hash: recoveryHash(lower) };
  return { kind: 'malformed' };
}

/** Recovery codes carry 50 random bits each: a fast hash is enough to keep them unreadable at rest. */
export const recoveryHash = (code: string) => createHash('sha256').update(code.toLowerCase().replace('-', '')).digest('hex');

/** Ten fresh recovery codes, shown once. */
export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const chars = Array.from({ length: 10 }, () => RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)]).join('');
    return `${chars.slice(0, 5)}-${chars.slice(5)}`;
  });
}

/** A new base32 secret (160 bits) and the otpauth:// URL an authenticator app scans. */
export function newSecret(issuer: string, login: string): { secret: string; otpauthUrl: string } {
  const secret = generateSecret({ length: 20 });
  return { secret, otpauthUrl: generateURI({ issuer, label: login, secret, period: PERIOD, digits: 6, algorithm: 'sha1' }) };
}

/** The QR code of that URL as inline SVG, drawn here: nothing leaves the site, the CSP stays strict. */
export function qrSvg(otpauthUrl: string): Promise<string> {
  return QRCode.toString(otpauthUrl, { type: 'svg', errorCorrectionLevel: 'M', margin: 1 });
}

/**
 * The time step a TOTP code belongs to (this one, the previous or the next), if it is right and later
 * than `afterStep`; undefined otherwise.
 */
export async function totpStep(secret: string, code: string, afterStep: number | null): Promise<number | undefined> {
  try {
    const result = await verify({
      secret,
      token: code,
      algorithm: 'sha1',
      digits: 6,
      period: PERIOD,
      epochTolerance: TOLERANCE_S,
      ...(afterStep !== null ? { afterTimeStep: afterStep } : {}),
    });
    return result.valid && 'timeStep' in result ? (result.timeStep as number) : undefined;
  } catch {
    // otplib refuses an afterTimeStep past the window (a step used with a fast clock): no code is good.
    return undefined;
  }
}
