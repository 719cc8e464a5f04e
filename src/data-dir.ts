import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * A secret generated on first start and kept in DATA_DIR (mode 0600), so development needs no
 * setup and sessions survive restarts. Production sets its secrets explicitly.
 */
export async function readOrCreateSecret(dataDir: string, name: string): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  const file = path.join(dataDir, name);
  if (existsSync(file)) {
    const value = (await readFile(file, 'utf8')).trim();
    if (value.length >= 32) return value;
  }
  const value = randomBytes(32).toString('base64url');
  await writeFile(file, value + '\n', { mode: 0o600 });
  return value;
}
