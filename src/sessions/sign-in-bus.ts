import pg from 'pg';
import { describeDbError } from '../db/pool.js';
import type { Logger } from '../logger.js';

/** Filled by the triggers on express_sessions (migration 20261201130000). */
const CHANNEL = 'sign_in_changes';

export interface BusMessage {
  sids: string[];
}

/**
 * Hears, on every app process, what the triggers on express_sessions announce over PostgreSQL
 * LISTEN/NOTIFY (a session row deleted, changed or shortened, by anyone), so each process's session
 * cache forgets it at once. While the listening
 * connection is down, `onOutage` tells the cache to stop trusting itself; on every (re)connect,
 * `onConnected` tells it to start over, since messages may have been missed.
 */
export class SignInBus {
  private client: pg.Client | undefined;
  private stopped = false;
  private retryMs = 200;

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
    const client = new pg.Client({ connectionString: this.deps.databaseUrl, application_name: 'express-auth-chat/sign-in-bus' });
    client.on('error', (err) => {
      this.deps.logger.warn({ err: describeDbError(err) }, 'sign-in bus connection lost; the session cache is off until it is back');
      this.lost(client);
    });
    client.on('end', () => this.lost(client));
    client.on('notification', (n) => {
      if (n.channel !== CHANNEL || !n.payload) return;
      try {
        const message = JSON.parse(n.payload) as BusMessage;
        if (Array.isArray(message.sids)) this.deps.onMessage({ sids: message.sids });
      } catch {
        // not ours
      }
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    if (this.stopped) return void (await client.end().catch(() => {}));
    this.client = client;
    this.retryMs = 200;
    this.deps.onConnected();
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
