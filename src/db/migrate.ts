import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import type { Logger } from '../logger.js';
import { installMailQueue } from '../mail/mail-queue.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

/** Applies pending migrations. Several processes starting at once wait on node-pg-migrate's advisory lock. */
export async function runMigrations(databaseUrl: string, logger: Logger): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    count: Infinity,
    checkOrder: true,
    advisoryLockMode: 'wait',
    log: () => {},
    logger: { debug: () => {}, info: () => {}, warn: (m: string) => logger.warn(m), error: (m: string) => logger.error(m) },
  });
  // The mail queue's tables are pg-boss's own, installed and upgraded by pg-boss (it takes its own lock).
  await installMailQueue(databaseUrl);
  const names = applied.map((m) => m.name);
  if (names.length) logger.info({ migrations: names }, 'database migrated');
  return names;
}
