import { createHmac } from 'node:crypto';

/**
 * One key per SESSION_SECRET for a purpose (CSRF tokens, emailed codes), newest first: creation uses
 * the first, verification tries them all, so rotating the secret (`new,old`) keeps what the old one
 * made working until it is removed from the list.
 */
export function derivedKeys(sessionSecrets: readonly string[], purpose: string): string[] {
  return sessionSecrets.map((secret) => createHmac('sha256', secret).update(purpose).digest('base64url'));
}
