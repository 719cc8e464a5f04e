import { ConfigError, loadConfig, loadDotEnv } from '../config.js';
import { openDatabase } from '../db/database.js';
import { createLogger } from '../logger.js';

/** npm run migrate: applies pending migrations to DATABASE_URL (or the embedded database) and exits. */
loadDotEnv();
try {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel });
  const db = await openDatabase(config, logger);
  await db.close();
  console.log('Migrations are up to date.');
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : `Migration failed: ${(err as Error).message}`);
  process.exitCode = 1;
}
