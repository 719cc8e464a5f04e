import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describeDbError } from '../db/pool.js';
import type { Logger } from '../logger.js';

/** Filled by the triggers on express_sessions (migration 20261201130000). */
const CHANNEL = 'sign_in_changes';
/** `settle`: a process asks every other to answer once it has heard everything committed before. */
const SYNC = 'sign_in_sync';
const ACK = 'sign_in_ack';
const APP_NAME = 'express-auth-chat/sign-in-bus';
/** A process that has not answered by then is stopped or stalled; the end goes on without it. */
const SETTLE_TIMEOUT_MS = 1000;

/** One settle() under way: who answered already, the listening backends still to answer (once known), and its end. */
interface Sync {
  answered: Set<number>;
  waitingFor?: Set<number>;
  done: () => void;
}

export interface BusMessage {
  sids: string[];
}

/**
 * Hears, on every app process, what the triggers on express_sessions announce over PostgreSQL
 * LISTEN/NOTIFY (a session row deleted, changed or shortened, by anyone), so each process's session
 * cache forgets it at once. While the listening
 * connection is down, `onOutage` tells the cache to stop trusting itself; on every (re)connect,
 * `onConnected` tells it to start over, since messages may have been missed.
 *
 * `settle()` makes an end strict across processes: the process that ended a session waits, before it
 * answers, until every other listening process has heard the change (PostgreSQL delivers
 * notifications in commit order, so an answer to a later sync means the change was processed), so a
 * request that follows the answer finds no stale entry on any process.
 */
export class SignInBus {
  private client: pg.Client | undefined;
  private stopped = false;
  private retryMs = 200;
  /** Syncs under way, by nonce. */
  private readonly syncs = new Map<string, Sync>();
  /** heard() calls under way: their own sync, by nonce, comes back after everything before it. */
  private readonly ownSyncs = new Map<string, () => void>();

  constructor(
    private readonly deps: {
      databaseUrl: string;
      logger: Logger;
      onMessage: (message: BusMessage) => void;
      onOutage: () => void;
      onConnected: () => void;
    },
  ) {}

  async start(): Promise<void> {
    await this.connect().catch(() => this.retry());
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.deps.databaseUrl, application_name: APP_NAME });
    /** This connection's backend: its own syncs come back to it too, and need no answer. */
    let pid = 0;
    client.on('error', (err) => {
      this.deps.logger.warn({ err: describeDbError(err) }, 'sign-in bus connection lost; the session cache is off until it is back');
      this.lost(client);
    });
    client.on('end', () => this.lost(client));
    client.on('notification', (n) => {
      if (!n.payload) return;
      if (n.channel === SYNC && n.processId === pid) return this.ownSyncs.get(n.payload)?.();
      if (n.channel === SYNC) return this.answer(client, pid, n.processId, n.payload);
      if (n.channel === ACK) return this.answered(n.payload, n.processId);
      if (n.channel !== CHANNEL) return;
      try {
        const message = JSON.parse(n.payload) as BusMessage;
        if (Array.isArray(message.sids)) this.deps.onMessage({ sids: message.sids });
      } catch {
        // not ours
      }
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}; LISTEN ${SYNC}; LISTEN ${ACK}`);
    pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    if (this.stopped) return void (await client.end().catch(() => {}));
    this.client = client;
    this.retryMs = 200;
    this.deps.onConnected();
  }

  /**
   * Resolves once every other process listening on this database has heard what was committed before
   * the call (or after SETTLE_TIMEOUT_MS, for a process that is stopped or stalled). Without our own
   * connection it resolves at once: this process's cache is off, and the others' bus still hears.
   */
  async settle(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const nonce = randomUUID();
    let done!: () => void;
    const settled = new Promise<void>((resolve) => (done = resolve));
    const sync: Sync = { answered: new Set(), done };
    this.syncs.set(nonce, sync);
    const timer = setTimeout(() => {
      this.deps.logger.warn({ unanswered: sync.waitingFor?.size }, 'sign-in bus: a process did not confirm a session change in time');
      done();
    }, SETTLE_TIMEOUT_MS);
    timer.unref();
    try {
      const { rows } = await client.query<{ pids: number[] }>(
        `SELECT pg_notify('${SYNC}', $1),
                array(SELECT pid FROM pg_stat_activity
                       WHERE application_name = $2 AND datname = current_database() AND pid <> pg_backend_pid()) AS pids`,
        [nonce, APP_NAME],
      );
      sync.waitingFor = new Set(rows[0]!.pids.filter((pid) => !sync.answered.has(pid)));
      if (sync.waitingFor.size === 0) done();
      await settled;
    } catch (err) {
      this.deps.logger.warn({ err: describeDbError(err) }, 'sign-in bus: could not confirm a session change with the other processes');
    } finally {
      clearTimeout(timer);
      this.syncs.delete(nonce);
    }
  }

  /**
   * Resolves once this process has heard every change committed before the call: its own sync comes
   * back after them. For tools and tests that change express_sessions by SQL behind the app's back.
   */
  async heard(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const nonce = randomUUID();
    const back = new Promise<void>((resolve) => {
      this.ownSyncs.set(nonce, resolve);
      setTimeout(resolve, SETTLE_TIMEOUT_MS).unref();
    });
    try {
      await client.query(`SELECT pg_notify('${SYNC}', $1)`, [nonce]);
      await back;
    } finally {
      this.ownSyncs.delete(nonce);
    }
  }

  /** Another process asks: everything before its sync has been heard here, so say so. */
  private answer(client: pg.Client, ownPid: number, from: number, nonce: string): void {
    if (from === ownPid) return;
    client.query(`SELECT pg_notify('${ACK}', $1)`, [nonce]).catch(() => {
      // the connection is going: 'error'/'end' turn the cache off, and the asker times out
    });
  }

  private answered(nonce: string, from: number): void {
    const sync = this.syncs.get(nonce);
    if (!sync) return;
    sync.answered.add(from);
    if (!sync.waitingFor) return;
    sync.waitingFor.delete(from);
    if (sync.waitingFor.size === 0) sync.done();
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.deps.onOutage();
    client.end().catch(() => {});
    this.retry();
  }

  private retry(): void {
    if (this.stopped) return;
    this.deps.onOutage();
    const timer = setTimeout(() => void this.connect().catch(() => this.retry()), this.retryMs);
    timer.unref();
    this.retryMs = Math.min(this.retryMs * 2, 5000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }
}
