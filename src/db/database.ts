import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { runMigrations } from './migrate.js';
import { createPool, type Pool } from './pool.js';

export interface Database {
  pool: Pool;
  /** The connection string in use (the embedded server's when DATABASE_URL is unset). */
  url: string;
  /** True when this process started (and will stop) an embedded PostgreSQL. */
  embedded: boolean;
  close(): Promise<void>;
}

/** DATABASE_URL when set; otherwise an embedded PostgreSQL kept under DATA_DIR. Migrations run first. */
export async function openDatabase(config: Config, logger: Logger, options: { migrate?: boolean } = {}): Promise<Database> {
  const embedded = config.databaseUrl
    ? undefined
    : await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort, logger });
  const databaseUrl = config.databaseUrl ?? embedded!.databaseUrl;
  try {
    if (options.migrate !== false) await runMigrations(databaseUrl, logger);
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
  const pool = createPool(databaseUrl, { max: config.dbPoolMax, logger });
  return {
    pool,
    url: databaseUrl,
    embedded: Boolean(embedded),
    async close() {
      await pool.end().catch((err) => logger.warn({ err: String(err) }, 'closing the database pool failed'));
      await embedded?.stop();
    },
  };
}
