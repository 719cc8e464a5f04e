import { createHmac } from 'node:crypto';
import bcrypt from 'bcrypt';

/**
 * bcrypt reads at most 72 bytes and stops at a NUL byte. Every password is first reduced to an
 * HMAC-SHA-256 (keyed with the optional server-side pepper), base64-encoded: 44 ASCII bytes, so all of
 * a password counts, however long or whatever its script.
 */
const DEFAULT_PEPPER = 'express-auth-chat/password-prehash/v1';

export class PasswordHasher {
  /** Compared against when the login is unknown, so that costs one bcrypt comparison at the configured cost. */
  private dummyHash: Promise<string>;

  constructor(
    private readonly cost: number,
    private readonly pepper: string = DEFAULT_PEPPER,
  ) {
    this.dummyHash = bcrypt.hash(this.prehash('not a real password'), cost);
  }

  private prehash(password: string): string {
    return createHmac('sha256', this.pepper).update(password.normalize('NFC'), 'utf8').digest('base64');
  }

  hash(password: string): Promise<string> {
    return bcrypt.hash(this.prehash(password), this.cost);
  }

  verify(password: string, hash: string): Promise<boolean> {
    return bcrypt.compare(this.prehash(password), hash);
  }

  /** A stored hash made at another cost (or not by this scheme) is redone at the next successful sign-in. */
  needsRehash(hash: string): boolean {
    if (!/^\$2[aby]\$\d{2}\$/.test(hash)) return true;
    try {
      return bcrypt.getRounds(hash) !== this.cost;
    } catch {
      return true;
    }
  }

  /** Spends the same time as a real comparison and always fails. */
  async verifyNothing(password: string): Promise<false> {
    await bcrypt.compare(this.prehash(password), await this.dummyHash);
    return false;
  }
}
