import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';

export interface SigningKey {
  alg: 'EdDSA' | 'ES256';
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The public key as published at /.well-known/jwks.json. */
  publicJwk: JWK;
}

/** The access-token key: an Ed25519 key generated once into DATA_DIR, or JWT_PRIVATE_KEY_PATH (Ed25519 or P-256). */
export async function loadSigningKey(options: { dataDir: string; privateKeyPath: string | undefined }): Promise<SigningKey> {
  let pem: string;
  if (options.privateKeyPath) {
    pem = await readFile(options.privateKeyPath, 'utf8').catch(() => {
      throw new Error(`Invalid setting JWT_PRIVATE_KEY_PATH: cannot read ${options.privateKeyPath}`);
    });
  } else {
    const file = path.join(options.dataDir, 'jwt-signing-key.pem');
    await mkdir(options.dataDir, { recursive: true });
    const generated = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    // 'wx': two processes starting at once on one DATA_DIR end up with the same key.
    await writeFile(file, generated, { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    pem = await readFile(file, 'utf8');
  }

  const privateKey = createPrivateKey(pem);
  const alg =
    privateKey.asymmetricKeyType === 'ed25519' ? 'EdDSA'
    : privateKey.asymmetricKeyType === 'ec' && privateKey.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 'ES256'
    : undefined;
  if (!alg) throw new Error('Invalid setting JWT_PRIVATE_KEY_PATH: expected an Ed25519 or P-256 (ES256) private key');
  const publicKey = createPublicKey(privateKey);
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { alg, kid, privateKey, publicKey, publicJwk: { ...jwk, kid, alg, use: 'sig' } };
}
