/**
 * npm run bench: prints figures, asserts nothing. Uses BENCH_DATABASE_URL / DATABASE_URL (a server
 * where it may create a database) or an embedded PostgreSQL.
 *  1. sign-in timing: wrong password for a known login vs an unknown login (should match: one bcrypt each)
 *  2. signed-in page requests per second, and how many session-row writes they caused (touch throttling)
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.js';
import { runMigrations } from '../src/db/migrate.js';
import { createPool } from '../src/db/pool.js';
import { createLogger } from '../src/logger.js';
import { loadSigningKey } from '../src/tokens/signing-key.js';
import { Client, registeredScript } from '../test/support/client.js';

const cost = Number(process.env.BENCH_BCRYPT_COST ?? 10);
const samples = Number(process.env.BENCH_SAMPLES ?? 30);
const logger = createLogger({ level: 'error' });

const embedded = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres({ dataDir: path.resolve('.data/bench-postgres'), port: 54399, logger });
const adminUrl = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL || embedded!.adminUrl;
const name = `eac_bench_${randomBytes(4).toString('hex')}`;
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
const url = new URL(adminUrl);
url.pathname = `/${name}`;
await runMigrations(url.toString(), logger);

const server = http.createServer();
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
// High limits: this measures timing, not throttling.
const config = loadConfig({ DATABASE_URL: url.toString(), APP_ORIGIN: base, BCRYPT_COST: String(cost), LOGIN_MAX_FAILURES: '1000', LOGIN_IP_DAILY_FAILURES: '1000000' });
const pool = createPool(url.toString(), { max: 10, logger });
const signingKey = await loadSigningKey({ dataDir: '.data/bench-keys', privateKeyPath: undefined });
server.on('request', createApp({ config, pool, logger, sessionSecrets: ['b'.repeat(40)], signingKey, databaseUrl: url.toString() }).app);

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { mean: s.reduce((a, b) => a + b, 0) / s.length, p50: q(0.5), p95: q(0.95) };
};
const fmt = (x: { mean: number; p50: number; p95: number }) => `mean ${x.mean.toFixed(1)} ms  p50 ${x.p50.toFixed(1)} ms  p95 ${x.p95.toFixed(1)} ms`;

try {
  console.log(`# bench: bcrypt cost ${cost}, ${samples} samples per case`);
  const { user, client } = await registeredScript(base);
  const probe = new Client(base, 'script');
  await probe.fetchCsrf();
  const known: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < samples; i++) {
    for (const [login, into] of [[user.login, known], [`nobody_${i}`, unknown]] as const) {
      const t0 = performance.now();
      const reply = await probe.postJson('/login', { login, password: 'definitely wrong 1' });
      into.push(performance.now() - t0);
      if (reply.status !== 401) throw new Error(`expected 401, got ${reply.status}`);
    }
  }
  const k = stats(known);
  const u = stats(unknown);
  console.log(`sign-in, known login, wrong password: ${fmt(k)}`);
  console.log(`sign-in, unknown login:               ${fmt(u)}`);
  console.log(`difference of means: ${(Math.abs(k.mean - u.mean) / k.mean * 100).toFixed(1)} %`);

  const before = (await pool.query("SELECT n_tup_upd + n_tup_hot_upd AS n FROM pg_stat_user_tables WHERE relname = 'express_sessions'")).rows[0].n;
  const requests = 500;
  const t0 = performance.now();
  for (let i = 0; i < requests; i++) await client.get('/');
  const seconds = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 600)); // statistics are flushed asynchronously
  const after = (await pool.query("SELECT n_tup_upd + n_tup_hot_upd AS n FROM pg_stat_user_tables WHERE relname = 'express_sessions'")).rows[0].n;
  console.log(`signed-in GET /: ${(requests / seconds).toFixed(0)} requests/s sequential; session row updates during ${requests} requests: ${Number(after) - Number(before)}`);
  console.log(`memory: rss ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`);
} finally {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await pool.end();
  await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
  await admin.end();
  await embedded?.stop();
}
