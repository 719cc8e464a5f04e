import { dictionary } from '@zxcvbn-ts/language-common';

/** The ~49,000 most common passwords (zxcvbn's maintained list), compared case-insensitively. */
const COMMON = new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));

export function isCommonPassword(password: string): boolean {
  return COMMON.has(password.toLowerCase());
}
