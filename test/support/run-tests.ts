/**
 * `npm test`: prepares one migrated template database, then runs every test file with node's test
 * runner; each file clones the template into a database of its own. Uses TEST_DATABASE_URL or
 * DATABASE_URL when set, else an embedded PostgreSQL under .data/test-postgres.
 * `npm run test:startup` runs the tests that start the real server with `npm start` instead.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded-postgres.js';
import { runMigrations } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';
import { freePort } from './app-process.js';

const args = process.argv.slice(2);
const startup = args.includes('--startup');
const explicit = args.filter((a) => !a.startsWith('--'));
const dir = startup ? 'test/startup' : 'test';
const files = explicit.length
  ? explicit
  : readdirSync(dir)
      .filter((f) => f.endsWith('.test.ts'))
      .sort()
      .map((f) => path.join(dir, f));


async function prepareDatabase(): Promise<{ env: Record<string, string>; cleanup(): Promise<void> }> {
  const logger = createLogger({ level: 'warn' });
  let embedded: EmbeddedDatabase | undefined;
  let adminUrl = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
  if (!adminUrl) {
    console.log('# no TEST_DATABASE_URL or DATABASE_URL: starting an embedded PostgreSQL for the tests');
    embedded = await startEmbeddedPostgres({ dataDir: path.resolve('.data/test-postgres'), port: await freePort(), logger });
    adminUrl = embedded.adminUrl;
  }
  const template = `eac_template_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${template}`);
  const templateUrl = new URL(adminUrl);
  templateUrl.pathname = `/${template}`;
  await runMigrations(templateUrl.toString(), logger);
  console.log(`# migrated template database ${template}; ${files.length} test file(s)`);
  return {
    env: { TEST_ADMIN_URL: adminUrl, TEST_TEMPLATE_DB: template },
    async cleanup() {
      await admin.query(`DROP DATABASE IF EXISTS ${template}`).catch(() => {});
      await admin.end();
      await embedded?.stop();
    },
  };
}

const db = startup ? { env: {}, cleanup: async () => {} } : await prepareDatabase();
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=' + (process.env.TEST_TIMEOUT_MS ?? '180000'), '--test-reporter=spec', ...files],
  { stdio: 'inherit', env: { ...process.env, ...db.env, NODE_ENV: 'test' } },
);
const code = await new Promise<number>((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
await db.cleanup();
process.exit(code);
