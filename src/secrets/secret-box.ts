import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { derivedKeys } from './derived-keys.js';

/**
 * AES-256-GCM for secrets kept at rest (TOTP secrets), under a key derived from each SESSION_SECRET for
 * this purpose. A sealed value names its key, so after a rotation (`new,old`) values sealed under the
 * old secret still open; `needsReseal` tells the caller to seal them again under the newest key before
 * the old secret is removed from the list.
 */
export class SecretBox {
  private readonly keys: { id: string; key: Buffer }[];

  constructor(sessionSecrets: readonly string[], purpose: string) {
    this.keys = derivedKeys(sessionSecrets, purpose).map((k) => {
      const key = createHash('sha256').update(k).digest();
      return { id: createHash('sha256').update(key).digest('hex').slice(0, 8), key };
    });
  }

  seal(plain: string): string {
    const { id, key } = this.keys[0]!;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return ['v1', id, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  /** The plain value, or undefined when no key in the list opens it (its secret was removed) or it was tampered with. */
  open(sealed: string): string | undefined {
    const [version, id, iv, body, tag] = sealed.split('.');
    const entry = this.keys.find((k) => k.id === id);
    if (version !== 'v1' || !entry || !iv || !body || !tag) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', entry.key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }

  /** Sealed under an older key: seal it again while that key is still in the list. */
  needsReseal(sealed: string): boolean {
    return sealed.split('.')[1] !== this.keys[0]!.id;
  }
}
