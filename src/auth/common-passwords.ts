import { dictionary } from '@zxcvbn-ts/language-common';

/** The ~49,000 most common passwords (zxcvbn-ts's maintained list), compared case-insensitively. */
const COMMON = new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));

/** Longest block that counts as "short" when repeated (`12341234`, `abcabcabc`). */
const MAX_BLOCK = 6;

/** Every step between neighbouring characters is +1 (`123456789`, `abcdefgh`) or every one is -1 (`987654321`). */
function isRun(points: number[]): boolean {
  if (points.length < 3) return false;
  const step = points[1]! - points[0]!;
  if (step !== 1 && step !== -1) return false;
  return points.every((p, i) => i === 0 || p - points[i - 1]! === step);
}

/** One character repeated (`00000000`), or a short block repeated (`123123123`, `12341234`). */
function isRepeatedBlock(chars: string[]): boolean {
  for (let size = 1; size <= Math.min(MAX_BLOCK, chars.length / 2); size++) {
    if (chars.length % size !== 0) continue;
    if (chars.every((c, i) => c === chars[i % size])) return true;
  }
  return false;
}

export function isCommonPassword(password: string): boolean {
  const lower = password.normalize('NFC').toLowerCase();
  if (COMMON.has(lower)) return true;
  const chars = [...lower];
  return isRepeatedBlock(chars) || isRun(chars.map((c) => c.codePointAt(0)!));
}
