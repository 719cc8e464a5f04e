import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../logger.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

// int8 (bigint ids, counts) as JS numbers: ids stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/**
 * A client whose parameterised queries are named (prepared) statements: each connection parses and
 * plans a statement once, not at every call. The name is a hash of the text, so the same statement
 * from any caller shares it; texts without parameters (and multi-statement texts) go as they are.
 */
class PreparingClient extends pg.Client {
  override query(...args: unknown[]): never {
    const [first, second] = args;
    if (typeof first === 'string' && Array.isArray(second) && second.length > 0) {
      args = [{ name: statementName(first), text: first, values: second }, ...args.slice(2)];
    }
    return (super.query as (...a: unknown[]) => never)(...args);
  }
}

const names = new Map<string, string>();
function statementName(text: string): string {
  let name = names.get(text);
  if (!name) {
    name = `s_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
    if (names.size < 5000) names.set(text, name);
  }
  return name;
}

export function createPool(connectionString: string, options: { max: number; logger: Logger; applicationName?: string }): Pool {
  const pool = new pg.Pool({
    Client: PreparingClient,
    connectionString,
    max: options.max,
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30_000,
    // A hung query must not hold a request (or shutdown) forever.
    statement_timeout: 15_000,
    application_name: options.applicationName ?? 'express-auth-chat',
    // Queries issued together on one client (a transaction's independent writes) go out without
    // waiting for each other's answers; awaited one by one they behave as without it.
    pipeline: true,
  });
  // Without these listeners a client losing its connection (database restart) kills the process:
  // idle clients report to the pool, checked-out ones (a LISTEN connection, a transaction) to themselves.
  pool.on('error', (err) => options.logger.warn({ err: describeDbError(err) }, 'idle database connection lost'));
  pool.on('connect', (client) => client.on('error', (err) => options.logger.warn({ err: describeDbError(err) }, 'database connection lost')));
  return pool;
}

/** Connection-level failures: the database is down or unreachable, not a bad query. */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  if (/^(08|57P|53)/.test(code)) return true; // connection exception, admin shutdown, insufficient resources
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN'].includes(code)) return true;
  const message = typeof e.message === 'string' ? e.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connect ECONNREFUSED|Connection ended unexpectedly/i.test(
    message,
  );
}

/** What a log line may carry about a database error: never the query text or parameters. */
export function describeDbError(err: unknown): { code?: string; message: string } {
  const e = err as { code?: unknown; message?: unknown };
  return { ...(typeof e?.code === 'string' ? { code: e.code } : {}), message: typeof e?.message === 'string' ? e.message : String(err) };
}

/** Anything that runs a query: the pool, or a client inside a transaction. */
export type Queryable = Pick<Pool | PoolClient, 'query'>;

const commitHooks = new WeakMap<object, Array<() => void>>();

/**
 * Runs `hook` once the transaction `db` belongs to has committed (at once when `db` is the pool):
 * for work that must see the committed rows, such as waking the mail worker. Dropped on rollback.
 */
export function afterCommit(db: Queryable, hook: () => void): void {
  const hooks = commitHooks.get(db);
  if (hooks) hooks.push(hook);
  else queueMicrotask(hook);
}

/** Runs fn in one transaction: all of its writes land, or none do. */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  const hooks: Array<() => void> = [];
  commitHooks.set(client, hooks);
  // A checked-out client that loses its connection emits 'error'; unhandled, that would crash.
  const onError = () => {};
  client.on('error', onError);
  let broken = false;
  try {
    // BEGIN and the statements fn issues before its first await leave in one packet (the client
    // pipelines): one round trip for them all. The server runs them in order, BEGIN first.
    const stream = (client as unknown as { connection: { stream: { cork(): void; uncork(): void } } }).connection.stream;
    stream.cork();
    let begun: Promise<unknown>;
    let running: Promise<T>;
    try {
      begun = client.query('BEGIN');
      running = fn(client);
    } finally {
      stream.uncork();
    }
    // Judged after BEGIN's answer: a failed BEGIN (a lost connection) is the error reported.
    running.catch(() => {});
    await begun;
    const result = await running;
    await client.query('COMMIT');
    commitHooks.delete(client);
    for (const hook of hooks) queueMicrotask(hook);
    return result;
  } catch (err) {
    broken = isDatabaseUnavailable(err);
    if (!broken) await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    commitHooks.delete(client);
    client.off('error', onError);
    client.release(broken ? true : undefined);
  }
}
