import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { createLogger } from '../src/logger.js';
import { createMailer } from '../src/mail/mailer.js';
import { freePort } from './support/app-process.js';
import { Client, registeredScript } from './support/client.js';
import { FakeSmtp } from './support/fake-smtp.js';
import { startTestApp, type TestApp } from './support/test-app.js';

const started: Array<{ close(): Promise<void> }> = [];
after(async () => {
  for (const s of started.reverse()) await s.close();
});

async function forgot(app: TestApp, email: string) {
  const client = new Client(app.url, 'script');
  await client.fetchCsrf();
  const answer = await client.postJson('/password/forgot', { email });
  assert.equal(answer.status, 202);
}

const jobs = async (app: TestApp) =>
  (await app.db.query<{ state: string; tries: number }>("SELECT state, coalesce((data->>'tries')::int, 0) AS tries FROM pgboss.job WHERE name = 'mail'")).rows;

/** Resolves once the predicate holds on the queue's rows (the worker reports nothing else to wait on). */
async function queueUntil(app: TestApp, predicate: (rows: Awaited<ReturnType<typeof jobs>>) => boolean, timeoutMs = 10_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const rows = await jobs(app);
    if (predicate(rows)) return rows;
    if (Date.now() > until) throw new Error(`queue never got there: ${JSON.stringify(rows)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the mail queue', () => {
  test('SMTP down: the request is answered at once, the message waits and is retried with backoff, and goes out once SMTP answers', async () => {
    const port = await freePort();
    const app = await startTestApp({ env: { SMTP_URL: `smtp://127.0.0.1:${port}` } });
    started.push(app);
    const u = await registeredScript(app.url);
    await forgot(app, u.user.email);
    const failing = await queueUntil(app, (rows) => rows.some((r) => r.tries >= 1));
    assert.equal(failing.length, 1, 'still one message, rescheduled');

    const smtp = new FakeSmtp();
    await smtp.start(port);
    started.push({ close: () => smtp.stop() });
    await smtp.waitFor(1, 10_000);
    assert.match(smtp.messages[0]!, /Subject: Reset your password/);
    assert.match(smtp.messages[0]!, new RegExp(`To: ${u.user.email}`));
    await queueUntil(app, (rows) => rows.length === 0);
  });

  test('two processes on one database: every message is delivered exactly once', async () => {
    const smtp = new FakeSmtp();
    const smtpUrl = await smtp.start();
    started.push({ close: () => smtp.stop() });
    const a = await startTestApp({ env: { SMTP_URL: smtpUrl } });
    const b = await startTestApp({ env: { SMTP_URL: smtpUrl }, databaseUrl: a.databaseUrl });
    started.push(a);
    started.push({ close: () => b.close({ keepDatabase: true }) });
    const users = await Promise.all(Array.from({ length: 12 }, () => registeredScript(a.url)));
    await Promise.all(users.map((u, i) => forgot(i % 2 ? a : b, u.user.email)));
    await smtp.waitFor(12, 10_000);
    await queueUntil(a, (rows) => rows.length === 0);
    assert.equal(smtp.messages.length, 12);
    const recipients = smtp.messages.map((m) => /^To: (.*)$/m.exec(m)![1]!.trim()).sort();
    assert.deepEqual(recipients, users.map((u) => u.user.email).sort());
  });

  test('a message queued by a process that stops before delivering it is delivered by the next one', async () => {
    const port = await freePort();
    const first = await startTestApp({ env: { SMTP_URL: `smtp://127.0.0.1:${port}` } });
    const u = await registeredScript(first.url);
    await forgot(first, u.user.email);
    await queueUntil(first, (rows) => rows.length === 1);
    await first.close({ keepDatabase: true });

    const smtp = new FakeSmtp();
    await smtp.start(port);
    started.push({ close: () => smtp.stop() });
    const second = await startTestApp({ env: { SMTP_URL: `smtp://127.0.0.1:${port}` }, databaseUrl: first.databaseUrl });
    started.push(second);
    await smtp.waitFor(1, 15_000);
    assert.match(smtp.messages[0]!, new RegExp(`To: ${u.user.email}`));
  });
});

describe('the outbox (no SMTP_URL)', () => {
  test('its folders are made once, and made again when someone removes them: no message is lost', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'outbox-'));
    started.push({ close: async () => rmSync(dataDir, { recursive: true, force: true }) });
    const mailer = createMailer({ smtpUrl: undefined, from: 'app@example.test', dataDir, logger: createLogger({ level: 'silent' }) });
    const outbox = path.join(dataDir, 'outbox');
    await mailer.send({ to: 'a@example.test', subject: 'first', text: 'one' });
    assert.equal(readdirSync(outbox).length, 1);
    rmSync(outbox, { recursive: true });
    rmSync(path.join(dataDir, 'outbox-drafts'), { recursive: true });
    await Promise.all([mailer.send({ to: 'b@example.test', subject: 'second', text: 'two' }), mailer.send({ to: 'c@example.test', subject: 'third', text: 'three' })]);
    const files = readdirSync(outbox);
    assert.equal(files.length, 2);
    const texts = files.map((f) => readFileSync(path.join(outbox, f), 'utf8'));
    assert.ok(texts.some((t) => /Subject: second/.test(t)) && texts.some((t) => /Subject: third/.test(t)));
  });
});
