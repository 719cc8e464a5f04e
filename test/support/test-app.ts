import { randomBytes } from 'node:crypto';
import { createAppServer } from '../../src/http/app-server.js';
import type { AddressInfo } from 'node:net';
import { createApp, type Application } from '../../src/app.js';
import { createSocketLayer, type SocketLayer } from '../../src/chat/socket-server.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createPool, type Pool } from '../../src/db/pool.js';
import { loadSigningKey } from '../../src/tokens/signing-key.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase } from './test-database.js';
import { TcpProxy } from './tcp-proxy.js';

export interface TestApp {
  url: string;
  /** The database this app runs on (to start another app on it). */
  databaseUrl: string;
  config: Config;
  /** The app's own pool (to count the queries a request makes). */
  appPool: Pool;
  /** A pool of the test's own on the same database, for looking at rows directly. */
  db: Pool;
  application: Application;
  /** Present when started with { proxy: true }: cut() takes the database away from the app. */
  proxy?: TcpProxy;
  sockets: SocketLayer;
  /** Stops the app; its database goes too unless kept for another app. */
  close(options?: { keepDatabase?: boolean }): Promise<void>;
}

/** The real app on a real HTTP server on port 0, over a database of this test file's own. */
export async function startTestApp(options: {
    env?: Record<string, string>;
    proxy?: boolean;
    keyDir?: string;
    sessionSecrets?: string[];
    /** Another app's database, kept when this one closes (a restart with other settings). */
    databaseUrl?: string;
    /** The host name browsers use (APP_ORIGIN); `localhost` for WebAuthn, which refuses IP addresses. */
    host?: string;
    /** Collects every log line (at debug level) instead of discarding them. */
    logLines?: string[];
  } = {},
): Promise<TestApp> {
  const database = options.databaseUrl ? { url: options.databaseUrl, drop: async () => {} } : await createTestDatabase();
  let appUrl = database.url;
  let proxy: TcpProxy | undefined;
  if (options.proxy) {
    const target = new URL(database.url);
    proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const viaProxy = new URL(database.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(await proxy.start());
    appUrl = viaProxy.toString();
  }

  const { server, adopt } = createAppServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://${options.host ?? '127.0.0.1'}:${(server.address() as AddressInfo).port}`;
  // Suites register many users from one address: no registration limit unless a test asks for one.
  const config = loadConfig({ BCRYPT_COST: '4', LOG_LEVEL: 'silent', APP_ORIGIN: url, DATABASE_URL: appUrl, REGISTER_IP_HOURLY: '0', ...options.env });
  const lines = options.logLines;
  const logger = lines
    ? createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(line) } })
    : createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const pool = createPool(appUrl, { max: 5, logger });
  // One signing key per run (under .data/test-keys), as DATA_DIR would hold one per deployment.
  const signingKey = await loadSigningKey({ dataDir: options.keyDir ?? '.data/test-keys', privateKeyPath: config.jwtPrivateKeyPath });
  const sessionSecrets = options.sessionSecrets ?? [randomBytes(32).toString('hex')];
  const application = createApp({ config, pool, logger, sessionSecrets, signingKey, databaseUrl: appUrl });
  adopt(application.app);
  server.on('request', application.handle);
  const socketPool = createPool(appUrl, { max: 3, logger });
  const sockets = createSocketLayer({ httpServer: server, ...application.socketInputs, origin: config.appOrigin, pool: socketPool, logger });
  const db = createPool(database.url, { max: 2, logger });

  return {
    url,
    databaseUrl: database.url,
    appPool: pool,
    config,
    db,
    application,
    proxy,
    sockets,
    async close({ keepDatabase = false } = {}) {
      server.closeAllConnections();
      await sockets.close();
      // The app's own workers (mail) finish before the pools they use go.
      await application.close();
      await pool.end().catch(() => {});
      await socketPool.end().catch(() => {});
      await db.end();
      await proxy?.stop();
      if (!keepDatabase) await database.drop();
    },
  };
}

/** A new user with the admin role, signed in afresh (roles are loaded at sign-in) as a script. */
export async function signedInAdmin(app: TestApp) {
  const { registeredScript, Client } = await import('./client.js');
  const admin = await registeredScript(app.url);
  await app.db.query("INSERT INTO user_roles (user_id, role) VALUES ($1, 'admin')", [admin.id]);
  const client = new Client(app.url, 'script');
  await client.fetchCsrf();
  await client.postJson('/login', { login: admin.user.login, password: admin.user.password });
  await client.fetchCsrf();
  return { ...admin, client };
}
