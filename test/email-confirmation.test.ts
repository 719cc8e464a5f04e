import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, newUser } from './support/client.js';
import { FakeSmtp } from './support/fake-smtp.js';
import { startTestApp, type TestApp } from './support/test-app.js';

const dataDir = mkdtempSync(path.join(tmpdir(), 'eac-mail-'));
let app: TestApp;
before(async () => (app = await startTestApp({ env: { REQUIRE_EMAIL_CONFIRMATION: 'true', DATA_DIR: dataDir, LOGIN_MAX_FAILURES: '3' } })));
after(async () => {
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The messages to this address in the outbox (no SMTP_URL: messages land there), newest first. */
function mailsTo(email: string): string[] {
  const outbox = path.join(dataDir, 'outbox');
  if (!existsSync(outbox)) return [];
  return readdirSync(outbox)
    .sort()
    .reverse()
    .map((f) => readFileSync(path.join(outbox, f), 'utf8'))
    .filter((m) => m.includes(`To: ${email}`));
}

/** The code from the newest message to this address, once `count` messages have arrived (mail is not awaited by requests). */
async function codeFor(email: string, count = 1): Promise<string> {
  const until = Date.now() + 5000;
  while (mailsTo(email).length < count && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  const mails = mailsTo(email);
  assert.ok(mails.length >= count, `${count} message(s) to ${email} in the outbox`);
  return /confirmation code is (\d{6})/.exec(mails[0]!)![1]!;
}

async function script() {
  const client = new Client(app.url, 'script');
  await client.fetchCsrf();
  return client;
}

describe('with REQUIRE_EMAIL_CONFIRMATION=true', () => {
  test('registration stores confirmed = false, signs nobody in, and sends a code; sign-in is refused with 403 email_unconfirmed', async () => {
    const client = await script();
    const user = newUser();
    const reply = await client.postJson('/register', user);
    assert.equal(reply.status, 201);
    assert.ok(!reply.setCookies.some((c) => c.startsWith('sid=')), 'not signed in');
    const { rows } = await app.db.query('SELECT email_confirmed FROM users WHERE login = $1', [user.login]);
    assert.equal(rows[0].email_confirmed, false);
    assert.match(await codeFor(user.email), /^\d{6}$/);
    const { rows: stored } = await app.db.query('SELECT code_hash FROM email_confirmations c JOIN users u ON u.id = c.user_id WHERE u.login = $1', [user.login]);
    assert.notEqual(stored[0].code_hash, await codeFor(user.email), 'stored hashed');

    const login = await client.postJson('/login', { login: user.login, password: user.password });
    assert.equal(login.status, 403);
    assert.equal(login.json.error.code, 'email_unconfirmed');
    const token = await client.postJson('/api/auth/login', { login: user.login, password: user.password, fingerprint: 'f' }, { csrf: false });
    assert.equal(token.json.error.code, 'email_unconfirmed');
  });

  test('the whole flow through the HTML forms: register, confirm with the code, sign in', async () => {
    const browser = new Client(app.url);
    await browser.get('/register');
    const user = newUser();
    const reply = await browser.postForm('/register', user);
    assert.equal(reply.status, 303);
    assert.equal(reply.location, `/register/confirm?email=${encodeURIComponent(user.email)}`);
    const page = await browser.get(reply.location!);
    assert.match(page.text, new RegExp(`value="${user.email}"`));
    const confirmed = await browser.postForm('/register/confirm', { email: user.email, code: await codeFor(user.email) });
    assert.equal(confirmed.status, 303);
    assert.equal(confirmed.location, '/login?confirmed=1');
    assert.match((await browser.get('/login?confirmed=1')).text, /email is confirmed/);
    const login = await browser.postForm('/login', { login: user.login, password: user.password });
    assert.equal(login.status, 303);
    assert.equal(login.location, '/');
  });

  test('a code is single-use', async () => {
    const client = await script();
    const user = newUser();
    await client.postJson('/register', user);
    const code = await codeFor(user.email);
    assert.equal((await client.postJson('/register/confirm', { email: user.email, code })).status, 200);
    const again = await client.postJson('/register/confirm', { email: user.email, code });
    assert.equal(again.status, 400);
    assert.equal(again.json.error.code, 'invalid_input');
  });

  test('an expired code is refused (codes last 15 minutes)', async () => {
    const client = await script();
    const user = newUser();
    await client.postJson('/register', user);
    const { rows } = await app.db.query(
      "SELECT extract(epoch FROM expires_at - now())::int AS s FROM email_confirmations c JOIN users u ON u.id = c.user_id WHERE u.login = $1",
      [user.login],
    );
    assert.ok(rows[0].s > 14 * 60 && rows[0].s <= 15 * 60);
    await app.db.query("UPDATE email_confirmations SET expires_at = now() - interval '1 second' WHERE user_id = (SELECT id FROM users WHERE login = $1)", [user.login]);
    const reply = await client.postJson('/register/confirm', { email: user.email, code: await codeFor(user.email) });
    assert.equal(reply.status, 400);
    assert.equal((await client.postJson('/login', { login: user.login, password: user.password })).json.error.code, 'email_unconfirmed');
  });

  test('guessing codes is throttled like signing in', async () => {
    const client = await script();
    const user = newUser();
    await client.postJson('/register', user);
    const real = await codeFor(user.email);
    const wrong = real === '000000' ? '000001' : '000000';
    for (let i = 0; i < 3; i++) assert.equal((await client.postJson('/register/confirm', { email: user.email, code: wrong })).status, 400);
    const throttled = await client.postJson('/register/confirm', { email: user.email, code: real });
    assert.equal(throttled.status, 429);
    assert.ok(throttled.headers.get('retry-after'));
  });

  test('150 parallel wrong codes: at most LOGIN_MAX_FAILURES are checked, the rest get 429', async () => {
    const client = await script();
    const user = newUser();
    await client.postJson('/register', user);
    const real = await codeFor(user.email);
    const wrong = (i: number) => String((Number(real) + 1 + i) % 1_000_000).padStart(6, '0');
    const replies = await Promise.all(Array.from({ length: 150 }, (_, i) => client.postJson('/register/confirm', { email: user.email, code: wrong(i) })));
    const statuses = replies.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 400).length, 3, 'LOGIN_MAX_FAILURES=3 here');
    assert.equal(statuses.filter((s) => s === 429).length, 147);
  });

  test('an unconfirmed account holds its login and email only while its code lives', async () => {
    const client = await script();
    const squatter = newUser();
    assert.equal((await client.postJson('/register', squatter)).status, 201);
    const owner = { ...squatter, password: 'the real owner phrase 8' };
    assert.equal((await client.postJson('/register', owner)).status, 409, 'while the code is alive, the address is taken');
    await app.db.query("UPDATE email_confirmations c SET expires_at = now() - interval '1 second' FROM users u WHERE u.id = c.user_id AND u.login = $1", [squatter.login]);
    assert.equal((await client.postJson('/register', owner)).status, 201, 'once it expired, a new registration replaces it');
    const { rows } = await app.db.query('SELECT count(*)::int AS n FROM users WHERE login = $1', [squatter.login]);
    assert.equal(rows[0].n, 1);
    const code = await codeFor(owner.email, 2);
    assert.equal((await client.postJson('/register/confirm', { email: owner.email, code })).status, 200);
    assert.equal((await client.postJson('/login', { login: owner.login, password: owner.password })).status, 200);
  });

  test('a confirmed account is never replaced', async () => {
    const client = await script();
    const user = newUser();
    await client.postJson('/register', user);
    assert.equal((await client.postJson('/register/confirm', { email: user.email, code: await codeFor(user.email) })).status, 200);
    assert.equal((await client.postJson('/register', { ...user, password: 'a takeover attempt 99' })).status, 409);
  });

  test('resend: a new code (the old one dies), the same answer for any address, at most 3 codes an hour', async () => {
    const client = await script();
    const user = newUser();
    await client.postJson('/register', user);
    const first = await codeFor(user.email, 1);
    const again = await client.postJson('/register/confirm/resend', { email: user.email });
    assert.equal(again.status, 202);
    assert.deepEqual(again.json, {});
    const second = await codeFor(user.email, 2);
    const unknown = await client.postJson('/register/confirm/resend', { email: 'nobody-here@example.com' });
    assert.deepEqual([unknown.status, unknown.json], [202, {}]);

    const browser = new Client(app.url);
    await browser.get('/register/confirm');
    const form = await browser.postForm('/register/confirm/resend', { email: user.email });
    assert.equal(form.status, 303);
    assert.equal(form.location, '/register/confirm?sent=1');
    const third = await codeFor(user.email, 3);
    const more = await Promise.all(Array.from({ length: 5 }, () => client.postJson('/register/confirm/resend', { email: user.email })));
    assert.deepEqual([...new Set(more.map((r) => r.status))], [202], 'the same answer');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(mailsTo(user.email).length, 3, 'no fourth code in the hour, however many ask at once');

    if (first !== third) assert.equal((await client.postJson('/register/confirm', { email: user.email, code: first })).status, 400, 'the first code died');
    if (second !== third) assert.equal((await client.postJson('/register/confirm', { email: user.email, code: second })).status, 400, 'the second code died');
    assert.equal((await client.postJson('/register/confirm', { email: user.email, code: third })).status, 200);
  });

  test('bad input is 400 invalid_input with fields', async () => {
    const client = await script();
    for (const body of [{}, { email: 'x', code: '12' }, { email: ['a@b.c'], code: { a: 1 } }]) {
      const reply = await client.postJson('/register/confirm', body);
      assert.equal(reply.status, 400);
      assert.equal(reply.json.error.code, 'invalid_input');
      assert.ok(reply.json.error.fields);
    }
  });
});

describe('with SMTP_URL', () => {
  test('the code is sent by SMTP (nothing in the outbox) and confirms the account', async () => {
    const smtp = new FakeSmtp();
    const smtpDir = mkdtempSync(path.join(tmpdir(), 'eac-smtp-'));
    const mailing = await startTestApp({ env: { REQUIRE_EMAIL_CONFIRMATION: 'true', SMTP_URL: await smtp.start(), DATA_DIR: smtpDir, MAIL_FROM: 'Parlour <hello@example.com>' } });
    try {
      const client = new Client(mailing.url, 'script');
      await client.fetchCsrf();
      const user = newUser();
      assert.equal((await client.postJson('/register', user)).status, 201);
      await smtp.waitFor(1);
      assert.equal(smtp.messages.length, 1);
      assert.match(smtp.messages[0]!, new RegExp(`To: ${user.email}`));
      assert.match(smtp.messages[0]!, /From: Parlour <hello@example.com>/);
      const code = /confirmation code is (\d{6})/.exec(smtp.messages[0]!)![1]!;
      assert.deepEqual(readdirSync(smtpDir).filter((f) => f === 'outbox'), []);
      assert.equal((await client.postJson('/register/confirm', { email: user.email, code })).status, 200);
      assert.equal((await client.postJson('/login', { login: user.login, password: user.password })).status, 200);
    } finally {
      await mailing.close();
      await smtp.stop();
      rmSync(smtpDir, { recursive: true, force: true });
    }
  });
});

describe('with CONFIRMATION_CODE_MINUTES=2', () => {
  test('a code lives 2 minutes, and the message and the confirmation page say so', async () => {
    const shortDir = mkdtempSync(path.join(tmpdir(), 'eac-short-'));
    const short = await startTestApp({ env: { REQUIRE_EMAIL_CONFIRMATION: 'true', CONFIRMATION_CODE_MINUTES: '2', DATA_DIR: shortDir } });
    try {
      const client = new Client(short.url, 'script');
      await client.fetchCsrf();
      const user = newUser();
      assert.equal((await client.postJson('/register', user)).status, 201);
      const { rows } = await short.db.query(
        'SELECT extract(epoch FROM expires_at - now())::int AS s FROM email_confirmations c JOIN users u ON u.id = c.user_id WHERE u.login = $1',
        [user.login],
      );
      assert.ok(rows[0].s > 60 && rows[0].s <= 120, `expires in ${rows[0].s} s`);
      const outbox = path.join(shortDir, 'outbox');
      const until = Date.now() + 5000;
      while (!(existsSync(outbox) && readdirSync(outbox).length) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      const mail = readFileSync(path.join(outbox, readdirSync(outbox)[0]!), 'utf8');
      assert.match(mail, /within 2 minutes:/);
      const page = await new Client(short.url).get('/register/confirm');
      assert.match(page.text, /It is valid for 2 minutes\./);
    } finally {
      await short.close();
      rmSync(shortDir, { recursive: true, force: true });
    }
  });
});
