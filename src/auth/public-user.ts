import type { SessionUser } from '../types.js';

/**
 * The User of the contract, and all a session or a token response carries: exactly these fields,
 * whatever else the object in hand holds (password flags, hashes).
 */
export function publicUser({ id, login, name, email, roles }: SessionUser): SessionUser {
  return { id, login, name, email, roles };
}
