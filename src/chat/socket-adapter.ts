import { createAdapter as createPostgresAdapter } from '@socket.io/postgres-adapter';
import type { createAdapter as createRedisAdapter } from '@socket.io/redis-adapter';
import type { Config } from '../config.js';
import { createPool, describeDbError } from '../db/pool.js';
import type { Logger } from '../logger.js';

export interface SocketAdapter {
  kind: 'redis' | 'postgres';
  // The adapter factory Socket.IO's io.adapter() takes.
  adapter: ReturnType<typeof createPostgresAdapter> | ReturnType<typeof createRedisAdapter>;
  close(): Promise<void>;
}

/**
 * What carries broadcasts, presence changes and disconnects to the other processes: Redis when
 * REDIS_URL is set, else PostgreSQL's LISTEN/NOTIFY. Every connection has an error handler: the
 * first outage must not kill the process, and both adapters reconnect by themselves.
 */
export async function createSocketAdapter(config: Config, databaseUrl: string, logger: Logger): Promise<SocketAdapter> {
  if (config.redisUrl) {
    // Loaded only when REDIS_URL asks for it: the Redis client is a large import for every start.
    const [{ createClient }, { createAdapter: createRedisAdapter }] = await Promise.all([import('redis'), import('@socket.io/redis-adapter')]);
    const pub = createClient({ url: config.redisUrl });
    const sub = pub.duplicate();
    for (const client of [pub, sub]) client.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis connection error'));
    await Promise.all([pub.connect(), sub.connect()]);
    return {
      kind: 'redis',
      adapter: createRedisAdapter(pub, sub),
      async close() {
        await Promise.allSettled([pub.quit(), sub.quit()]);
      },
    };
  }
  // A small pool of its own: one connection stays checked out for LISTEN.
  const pool = createPool(databaseUrl, { max: 3, logger, applicationName: 'express-auth-chat/socket.io-adapter' });
  return {
    kind: 'postgres',
    adapter: createPostgresAdapter(pool, {
      tableName: 'socket_io_attachments',
      errorHandler: (err) => logger.warn({ err: describeDbError(err) }, 'socket.io postgres adapter error'),
    }),
    async close() {
      await pool.end().catch(() => {});
    },
  };
}
