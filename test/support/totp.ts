import { createHmac } from 'node:crypto';

/** RFC 4648 base32 decoding, for the secret the app hands out. */
function base32(secret: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(ch);
    if (v < 0) throw new Error(`not base32: ${ch}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/**
 * The tests' own RFC 6238 generator (SHA-1, 6 digits, 30 s), independent of the library under test:
 * the code of the step `offset` steps from now.
 */
export function totp(secret: string, offset = 0, now = Date.now()): string {
  const step = Math.floor(now / 1000 / 30) + offset;
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const at = mac[mac.length - 1]! & 0x0f;
  const value = ((mac[at]! & 0x7f) << 24) | (mac[at + 1]! << 16) | (mac[at + 2]! << 8) | mac[at + 3]!;
  return String(value % 1_000_000).padStart(6, '0');
}

/** Seconds left in the current 30-second step. */
export const secondsLeftInStep = (now = Date.now()) => 30 - Math.floor(now / 1000) % 30;
