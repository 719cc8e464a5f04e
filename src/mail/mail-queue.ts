import { createRequire } from 'node:module';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { afterCommit, createPool, withTransaction, type Pool, type Queryable } from '../db/pool.js';
import type { Logger } from '../logger.js';
import type { Mail, Mailer } from './mailer.js';

const MAIL_QUEUE = 'mail';

/** After a failed try, the next one waits 1, 2, 4 ... seconds, never more than this (SMTP back: out within a minute). */
const MAX_BACKOFF_S = 45;
/** Messages fetched (and sent side by side) at a time by one process. */
const BATCH = 10;
/** How long after a commit the worker fetches: what else was queued by then comes in the same fetch. */
const WAKE_DELAY_MS = 50;
/** A message SMTP has refused for this long is given up (and logged). */
const GIVE_UP_MS = 7 * 86_400_000;

/**
 * pg-boss's own retry only covers a worker that died or hung mid-send (the job expires and is tried
 * again); an SMTP failure is rescheduled by deliver() with a capped backoff, which pg-boss 10 (the last
 * release for Node 20) cannot express: its exponential backoff has no cap.
 */
const QUEUES: PgBoss.Queue[] = [{ name: MAIL_QUEUE, retryLimit: 1000, retryDelay: 10, retryBackoff: false, expireInSeconds: 60, retentionDays: 8 }];

/** What a job carries: the message, and how many tries it has had. */
interface MailJob extends Mail {
  tries?: number;
  firstQueuedAt?: number;
}

/** The schema version this pg-boss release installs. */
const BOSS_SCHEMA_VERSION = (createRequire(import.meta.url)('pg-boss/version.json') as { schema: number }).schema;

/** pg-boss's own tables live in this schema, installed and upgraded by pg-boss itself. */
const SCHEMA = 'pgboss';

/** Installs (or upgrades) pg-boss's schema and creates the mail queues; part of the migrations. */
export async function installMailQueue(databaseUrl: string): Promise<void> {
  // Every start runs the migrations: when the schema is pg-boss's current one and the queue exists,
  // one query says so and start-up goes on.
  const probe = new pg.Client({ connectionString: databaseUrl });
  await probe.connect();
  try {
    const { rows } = await probe.query<{ ready: boolean }>(
      `SELECT to_regclass('${SCHEMA}.version') IS NOT NULL AS ready`,
    );
    if (rows[0]?.ready) {
      const current = await probe.query<{ ok: boolean }>(
        `SELECT (SELECT version FROM ${SCHEMA}.version) = $1 AND EXISTS (SELECT 1 FROM ${SCHEMA}.queue WHERE name = $2) AS ok`,
        [BOSS_SCHEMA_VERSION, MAIL_QUEUE],
      );
      if (current.rows[0]?.ok) return;
    }
  } finally {
    await probe.end();
  }
  const boss = new PgBoss({ connectionString: databaseUrl, schema: SCHEMA, max: 1, supervise: false, schedule: false });
  boss.on('error', () => {});
  await boss.start();
  try {
    for (const queue of QUEUES) {
      if (!(await boss.getQueue(queue.name))) await boss.createQueue(queue.name, queue);
    }
  } finally {
    await boss.stop({ graceful: false, wait: true });
  }
}

/**
 * The durable mail queue (pg-boss on PostgreSQL): a message is queued in the transaction of the change
 * that causes it, and a worker in every app process delivers it. pg-boss fetches with SKIP LOCKED, so
 * each message goes to one worker, and retries failures with backoff; a message that carried a link
 * is deleted once delivered. Requests never wait for SMTP.
 */
export class MailQueue {
  private readonly boss: PgBoss;
  /** pg-boss's connections: ours (db/pool.ts), so its statements are prepared once per connection, not planned at every fetch. */
  private readonly bossPool: Pool;
  private closed = false;
  private readonly workers: string[] = [];
  private wake: NodeJS.Timeout | undefined;
  private started?: Promise<void>;

  constructor(private readonly deps: { databaseUrl: string; pool: Pool; transport: Mailer; logger: Logger }) {
    this.bossPool = createPool(deps.databaseUrl, { max: 2, logger: deps.logger, applicationName: 'express-auth-chat/mail' });
    this.boss = new PgBoss({
      // pg-boss's fetch, complete and delete were planned at every call (about 0.6 ms of PostgreSQL
      // CPU a batch, more than the statements' own work); prepared, they are planned once.
      // Once stopped, a late statement of its own (a fetch under way) answers nothing, as pg-boss's own
      // closed pool does, instead of failing on an ended pool.
      db: { executeSql: (text, values) => (this.closed ? Promise.resolve({ rows: [] }) : this.bossPool.query(text, values)) },
      schema: SCHEMA,
      schedule: false,
      // Expired (a worker died mid-send) and dead-lettered jobs are moved on at this pace.
      maintenanceIntervalSeconds: 30,
      migrate: true,
    });
    // pg-boss reports lost connections here; without a listener they would crash the process.
    this.boss.on('error', (err) => deps.logger.warn({ err: err.message }, 'mail queue error'));
  }

  /** Starts this process's worker. Until it has, messages are still queued, and any process delivers them. */
  start(): Promise<void> {
    this.started ??= (async () => {
      await this.boss.start();
      this.workers.push(await this.boss.work<MailJob>(MAIL_QUEUE, { pollingIntervalSeconds: 2, batchSize: BATCH }, (jobs) => this.deliver(jobs)));
    })();
    return this.started;
  }

  async stop(): Promise<void> {
    clearTimeout(this.wake);
    if (this.started) {
      await this.started.catch(() => {});
      await this.boss.stop({ graceful: true, wait: true, timeout: 5000 });
    }
    this.closed = true;
    await this.bossPool.end().catch(() => {});
  }

  /** Queues `mail` with `db`'s transaction (or at once on the pool); the local worker wakes soon after the commit. */
  async enqueue(db: Queryable, mail: Mail): Promise<void> {
    const job: MailJob = { to: mail.to, subject: mail.subject, text: mail.text, tries: 0, firstQueuedAt: Date.now() };
    await this.boss.send(MAIL_QUEUE, job, { db: asBossDb(db) });
    afterCommit(db, () => this.wakeSoon());
  }

  /**
   * Wakes the local worker shortly after a commit: the messages queued meanwhile (a crowd of sign-ins
   * from new devices) are fetched and settled together rather than one fetch and one delete each.
   */
  private wakeSoon(): void {
    if (this.wake) return;
    this.wake = setTimeout(() => {
      this.wake = undefined;
      for (const id of this.workers) this.boss.notifyWorker(id);
    }, WAKE_DELAY_MS);
    this.wake.unref();
  }

  /** One fetched batch, sent side by side; each job is settled on its own (deleted, or rescheduled). */
  private async deliver(jobs: PgBoss.Job<MailJob>[]): Promise<void> {
    const results = await Promise.allSettled(jobs.map((job) => this.deliverOne(job)));
    const delivered = results.flatMap((r) => (r.status === 'fulfilled' && r.value ? [r.value] : []));
    // The messages may carry a link or a code: nothing of them is kept once they are out.
    if (delivered.length) await this.boss.deleteJob(MAIL_QUEUE, delivered);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    // A full batch means more may wait: fetch again at once rather than after the polling interval.
    if (jobs.length === BATCH) for (const id of this.workers) this.boss.notifyWorker(id);
  }

  /** Sends one message: resolves its job's id once delivered, or reschedules it and resolves nothing. */
  private async deliverOne(job: PgBoss.Job<MailJob>): Promise<string | undefined> {
    const { tries = 0, firstQueuedAt = Date.now(), ...mail } = job.data;
    try {
      await this.deps.transport.send({ ...mail, queuedAt: firstQueuedAt });
    } catch (err) {
      await this.retryLater(job, tries + 1, firstQueuedAt, err);
      return undefined;
    }
    // Logged without the address, the text or the link.
    this.deps.logger.info({ job: job.id, subject: mail.subject, tries: tries + 1 }, 'mail delivered');
    return job.id;
  }

  /** Replaces the job by one that starts after the backoff, in one transaction: it is never lost or doubled. */
  private async retryLater(job: PgBoss.Job<MailJob>, tries: number, firstQueuedAt: number, err: unknown): Promise<void> {
    const reason = err instanceof Error ? err.message : String(err);
    if (Date.now() - firstQueuedAt > GIVE_UP_MS) {
      await this.boss.deleteJob(MAIL_QUEUE, job.id);
      this.deps.logger.error({ job: job.id, subject: job.data.subject, tries, err: reason }, 'mail given up after a week of failures');
      return;
    }
    const delay = Math.min(MAX_BACKOFF_S, 2 ** (tries - 1));
    await withTransaction(this.deps.pool, async (tx) => {
      await this.boss.send(MAIL_QUEUE, { ...job.data, tries, firstQueuedAt }, { db: asBossDb(tx), startAfter: delay });
      await this.boss.deleteJob(MAIL_QUEUE, job.id, { db: asBossDb(tx) });
    });
    this.deps.logger.warn({ job: job.id, subject: job.data.subject, tries, retryInSeconds: delay, err: reason }, 'mail not delivered; will retry');
  }
}

/**
 * pg-boss's statements through our connection (the caller's transaction). Our pools prepare
 * parameterised statements (db/pool.ts), so its large insert is planned once per connection.
 */
const asBossDb = (db: Queryable): PgBoss.Db => ({ executeSql: (text, values) => db.query(text, values) });
