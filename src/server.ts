import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { createAppServer } from './http/app-server.js';
import { createSocketAdapter } from './chat/socket-adapter.js';
import { createSocketLayer } from './chat/socket-server.js';
import { ConfigError, loadConfig, loadDotEnv, type Config } from './config.js';
import { readOrCreateSecret } from './data-dir.js';
import { openDatabase, type Database } from './db/database.js';
import { createPool } from './db/pool.js';
import { createLogger, type Logger } from './logger.js';
import { startSessionSweeper } from './sessions/session-sweeper.js';
import { loadSigningKey } from './tokens/signing-key.js';

/** The only file that listens. Everything it starts, it also stops. */

export interface RunningServer {
  url: string;
  stop(reason: string): Promise<void>;
}

export async function startWebServer(config: Config, logger: Logger, db: Database): Promise<RunningServer> {
  const sessionSecrets = config.sessionSecrets ?? [await readOrCreateSecret(config.dataDir, 'session-secret')];
  const signingKey = await loadSigningKey({ dataDir: config.dataDir, privateKeyPath: config.jwtPrivateKeyPath });

  const { server, adopt } = createAppServer();
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  if (config.appOriginDefaulted) config = { ...config, appOrigin: `http://localhost:${port}` };

  const application = createApp({ config, pool: db.pool, logger, sessionSecrets, signingKey, databaseUrl: db.url });
  adopt(application.app);
  server.on('request', application.handle);
  const adapter = await createSocketAdapter(config, db.url, logger);
  // Chat's own queries run on a small pool of their own: a flood of socket work cannot take the
  // connections that HTTP requests (sign-ins, /health) need.
  const socketPool = createPool(db.url, { max: Math.max(2, Math.ceil(config.dbPoolMax / 3)), logger, applicationName: 'express-auth-chat/sockets' });
  const sockets = createSocketLayer({ httpServer: server, ...application.socketInputs, origin: config.appOrigin, pool: socketPool, logger, adapter: adapter.adapter });
  const sweeper = startSessionSweeper(application.signIns, logger, { prune: application.pruneCounters });
  logger.info({ adapter: adapter.kind }, 'socket.io adapter');

  return {
    url: config.appOrigin,
    async stop(reason) {
      logger.info({ reason }, 'shutting down: no new connections, finishing requests under way');
      sweeper.stop();
      const force = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMs);
      force.unref();
      // Sockets get a transport close (clients reconnect by themselves, to this process once it is
      // back or to another); then the HTTP server closes once the requests under way are answered.
      await sockets.close();
      clearTimeout(force);
      await adapter.close();
      await socketPool.end().catch(() => {});
      await application.close();
    },
  };
}

async function main(): Promise<void> {
  loadDotEnv();
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel, pretty: config.logPretty });
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled rejection');
    process.exit(1);
  });

  let db: Database;
  try {
    db = await openDatabase(config, logger);
  } catch (err) {
    logger.fatal({ err: String((err as Error)?.message ?? err) }, 'could not open the database');
    process.exit(1);
  }
  let web: RunningServer;
  try {
    web = await startWebServer(config, logger, db);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    logger.fatal({ err: e.message }, e.code === 'EADDRINUSE' ? `port ${config.port} is taken (set PORT)` : 'could not start the server');
    await db.close();
    process.exit(1);
  }
  logger.info({ url: web.url, pid: process.pid, embeddedDatabase: db.embedded }, 'ready');
  // What start-up logged (where the embedded cluster lives, say) is out before the line that says it is ready.
  logger.flush();
  console.log(`Serving ${web.url} (listening on ${config.host}:${config.port === 0 ? new URL(web.url).port : config.port})`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Whatever hangs, the process is gone well inside the 10 s a supervisor waits.
    setTimeout(() => {
      logger.warn('shutdown took too long; exiting');
      process.exit(0);
    }, config.shutdownTimeoutMs + 1500).unref();
    await web.stop(signal);
    await db.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}
