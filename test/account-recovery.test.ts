import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { Client, registeredScript } from './support/client.js';
import { linkIn, Outbox, tokenOf } from './support/outbox.js';
import { connected, disconnected, type ChatClient } from './support/sockets.js';
import { signedInAdmin, startTestApp, type TestApp } from './support/test-app.js';

const dataDir = mkdtempSync(path.join(tmpdir(), 'eac-recovery-'));
const outbox = new Outbox(dataDir);
let app: TestApp;
const logLines: string[] = [];
// Each test asks from an address of its own (X-Forwarded-For, believed with TRUST_PROXY), so the per-IP cap is per test.
before(async () => (app = await startTestApp({ env: { DATA_DIR: dataDir, TRUST_PROXY: 'true' }, logLines })));
after(async () => {
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
});
const opened: ChatClient[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.disconnect();
});

let ipCounter = 0;
const freshIp = () => `198.51.100.${++ipCounter}`;

async function script(ip = freshIp()) {
  const client = new Client(app.url, 'script');
  await client.fetchCsrf();
  return { client, headers: { 'x-forwarded-for': ip } };
}

async function forgot(email: string, ip?: string) {
  const { client, headers } = await script(ip);
  return client.postJson('/password/forgot', { email }, { headers });
}

/** Asks for a reset link and reads it from the outbox (the count-th reset message to that address). */
async function resetLink(email: string, count = 1): Promise<string> {
  assert.equal((await forgot(email)).status, 202);
  const mails = await outbox.waitFor(email, /Reset your password/, count);
  return linkIn(mails[count - 1]!, app.url, '/password/reset');
}

const queuedTo = async (email: string) =>
  (await app.db.query("SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'mail' AND data->>'to' = $1", [email])).rows[0].n as number;
/** Waits until the worker has deleted every delivered message to this address (it writes the file first, then deletes the job). */
async function drained(email: string, timeoutMs = 5000) {
  const until = Date.now() + timeoutMs;
  while ((await queuedTo(email)) > 0) {
    if (Date.now() > until) throw new Error(`messages to ${email} still queued`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
const events = async (type: string, userId: number) => (await app.db.query('SELECT * FROM security.events WHERE type = $1 AND user_id = $2', [type, userId])).rows;
async function reset(token: unknown, newPassword: unknown) {
  const client = new Client(app.url, 'script');
  await client.fetchCsrf();
  return client.postJson('/password/reset', { token, newPassword });
}

describe('password reset', () => {
  test('end to end: the link resets the password, ends every sign-in (sockets, refresh tokens), clears the counters, confirms the address, sends a notice, and does not sign in', async () => {
    const u = await registeredScript(app.url);
    const socket = (await connected(app.url, u.client)).socket;
    opened.push(socket);
    const tokenClient = new Client(app.url, 'script');
    assert.equal((await tokenClient.postJson('/api/auth/login', { login: u.user.login, password: u.user.password, fingerprint: 'phone' }, { csrf: false })).status, 200);
    // Failed attempts on record for the login, to be cleared.
    await new Client(app.url, 'script').postJson('/login', { login: u.user.login, password: 'not the password 1' }, { csrf: false });
    await app.db.query('UPDATE users SET email_confirmed = false WHERE id = $1', [u.id]);

    const link = await resetLink(u.user.email);
    assert.ok(link.startsWith('/password/reset?token='));
    assert.ok(tokenOf(link).length >= 22, 'at least 128 bits');
    const { rows: stored } = await app.db.query("SELECT token_hash FROM account_links WHERE user_id = $1 AND kind = 'password_reset'", [u.id]);
    assert.equal(stored.length, 1);
    assert.notEqual(stored[0].token_hash, tokenOf(link), 'stored hashed');
    await drained(u.user.email); // the delivered message is gone from the queue

    const page = await new Client(app.url).get(link);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    assert.match(page.text, new RegExp(`name="token" value="${tokenOf(link)}"`));
    assert.match(page.text, /name="newPassword"/);

    const gone = disconnected(socket, 1000);
    const answer = await reset(tokenOf(link), 'a brand new passphrase 7');
    assert.equal(answer.status, 204);
    await gone;
    assert.equal((await u.client.get('/chat')).status, 401, 'the browser session is anonymous');
    assert.equal((await tokenClient.postJson('/api/auth/refresh-tokens', { fingerprint: 'phone' }, { csrf: false })).status, 401, 'refresh tokens are dead');
    assert.equal((await events('password_reset', u.id)).length, 1, 'one audit event with the cause');
    const { rows } = await app.db.query("SELECT email_confirmed, (SELECT count(*)::int FROM login_throttle WHERE key LIKE '%' || login || '%') AS counters FROM users WHERE id = $1", [u.id]);
    assert.equal(rows[0].email_confirmed, true);
    assert.equal(rows[0].counters, 0);
    const notice = (await outbox.waitFor(u.user.email, /password was changed/))[0]!;
    assert.match(notice.body, /IP address: /);

    const client = new Client(app.url, 'script');
    await client.fetchCsrf();
    assert.equal((await client.postJson('/login', { login: u.user.login, password: u.user.password })).status, 401, 'the old password is refused');
    assert.equal((await client.postJson('/login', { login: u.user.login, password: 'a brand new passphrase 7' })).status, 200);
    const again = await reset(tokenOf(link), 'yet another passphrase 8');
    assert.equal(again.status, 400);
    assert.equal(again.json.error.code, 'reset_link_invalid', 'single use');
  });

  test('the HTML flow: forgot form linked from /login, 303s, the reset form, then /login?reset=1', async () => {
    const u = await registeredScript(app.url);
    const browser = new Client(app.url);
    const login = await browser.get('/login');
    assert.match(login.text, /href="\/password\/forgot"/);
    await browser.get('/password/forgot');
    const sent = await browser.postForm('/password/forgot', { email: u.user.email.toUpperCase() }, { headers: { 'x-forwarded-for': freshIp() } });
    assert.equal(sent.status, 303);
    assert.equal(sent.location, '/password/forgot?sent=1');
    const link = linkIn((await outbox.waitFor(u.user.email, /Reset your password/))[0]!, app.url, '/password/reset');
    await browser.get(link);
    const weak = await browser.postForm('/password/reset', { token: tokenOf(link), newPassword: '12345678' });
    assert.equal(weak.status, 400, 'a refused password re-renders the form');
    assert.match(weak.text, /too common/);
    const done = await browser.postForm('/password/reset', { token: tokenOf(link), newPassword: 'a brand new passphrase 9' });
    assert.equal(done.status, 303);
    assert.equal(done.location, '/login?reset=1');
    assert.ok(!done.setCookies.some((c) => /^sid=[^;]+/.test(c) && !/Expires=Thu, 01 Jan 1970/i.test(c)), 'not signed in');
    // The reset page sends no referrer, so browsers post its form with `Origin: null`: believed only
    // with Sec-Fetch-Site: same-origin (the other tests' browser client sends the real Origin).
    const link2 = await resetLink(u.user.email, 2);
    await browser.get(link2);
    const nullOrigins: Record<string, string>[] = [{ origin: 'null' }, { origin: 'null', 'sec-fetch-site': 'cross-site' }, { origin: 'null', 'sec-fetch-site': 'same-site' }];
    for (const headers of nullOrigins) {
      const refused = await browser.postForm('/password/reset', { token: tokenOf(link2), newPassword: 'from a null origin 33' }, { headers });
      assert.equal(refused.status, 403, JSON.stringify(headers));
    }
    const fromNull = await browser.postForm('/password/reset', { token: tokenOf(link2), newPassword: 'from a null origin 33' }, { headers: { origin: 'null', 'sec-fetch-site': 'same-origin' } });
    assert.equal(fromNull.status, 303);
    const bad = await browser.get('/password/reset?token=nope');
    assert.equal(bad.status, 400);
    assert.match(bad.text, /href="\/password\/forgot"/);
  });

  test('an unknown address gets the same answer and no message is queued', async () => {
    const known = await registeredScript(app.url);
    const a = await forgot(known.user.email);
    const b = await forgot('nobody-here@example.com');
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    assert.deepEqual(b.json, a.json);
    // Queued in the request's own transaction: what is not in the queue now will never be sent.
    assert.equal(await queuedTo('nobody-here@example.com'), 0);
    assert.equal(outbox.to('nobody-here@example.com').length, 0);
    await outbox.waitFor(known.user.email, /Reset your password/);
  });

  test('a newer link kills the older; a password change by any means kills the link; an expired link is refused', async () => {
    const u = await registeredScript(app.url);
    const first = await resetLink(u.user.email, 1);
    const second = await resetLink(u.user.email, 2);
    assert.equal((await reset(tokenOf(first), 'a brand new passphrase 1')).json.error.code, 'reset_link_invalid');
    // A change on the password form kills the live link.
    assert.equal((await u.client.postJson('/account/password', { currentPassword: u.user.password, newPassword: 'changed by the form 22' })).status, 200);
    assert.equal((await reset(tokenOf(second), 'a brand new passphrase 2')).json.error.code, 'reset_link_invalid');
    assert.match((await outbox.waitFor(u.user.email, /password was changed/))[0]!.body, /was changed/);

    const third = await resetLink(u.user.email, 3);
    await app.db.query("UPDATE account_links SET expires_at = now() - interval '1 second' WHERE user_id = $1", [u.id]);
    assert.equal((await new Client(app.url, 'script').get(third)).json.error.code, 'reset_link_invalid');
    assert.equal((await reset(tokenOf(third), 'a brand new passphrase 3')).json.error.code, 'reset_link_invalid');
  });

  test('a refused new password leaves the link usable', async () => {
    const u = await registeredScript(app.url);
    const link = await resetLink(u.user.email);
    const weak = await reset(tokenOf(link), 'password');
    assert.equal(weak.status, 400);
    assert.equal(weak.json.error.code, 'invalid_input');
    assert.ok(weak.json.error.fields.newPassword);
    assert.equal((await reset(tokenOf(link), undefined)).json.error.code, 'invalid_input');
    assert.equal((await reset(tokenOf(link), 'a brand new passphrase 4')).status, 204);
  });

  test('20 parallel uses of one link: exactly one succeeds', async () => {
    const u = await registeredScript(app.url);
    const link = await resetLink(u.user.email);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => reset(tokenOf(link), `parallel passphrase number ${i}`)));
    assert.equal(answers.filter((a) => a.status === 204).length, 1);
    assert.ok(answers.every((a) => a.status === 204 || a.json?.error?.code === 'reset_link_invalid'), answers.map((a) => a.status).join());
    assert.equal((await events('password_reset', u.id)).length, 1);
  });

  test('bad tokens are 400 reset_link_invalid, never 500: missing, arrays, objects, NUL, huge, another kind of link', async () => {
    const u = await registeredScript(app.url);
    const notMeToken = await issueNotMe(u.user.login, u.user.password);
    for (const token of [undefined, '', ['a', 'b'], { a: 1 }, 'a\u0000b', 'x'.repeat(100_000), 'A'.repeat(43), notMeToken]) {
      const answer = await reset(token, 'a brand new passphrase 5');
      assert.equal(answer.status, 400, `${JSON.stringify(token)?.slice(0, 40)}: ${answer.text.slice(0, 200)}`);
      assert.equal(answer.json.error.code, 'reset_link_invalid');
    }
    for (const query of ['', '?token=', '?token=%ZZ', '?token=a&token=b', `?token=${'y'.repeat(5000)}`, `?token=${notMeToken}`]) {
      const page = await new Client(app.url, 'script').get(`/password/reset${query}`);
      assert.equal(page.status, 400, query.slice(0, 30));
      assert.equal(page.json.error.code, 'reset_link_invalid');
    }
    const { client, headers } = await script();
    for (const email of [['a@example.com'], { a: 1 }, 'a\u0000@example.com', 'x'.repeat(300)]) {
      const answer = await client.postJson('/password/forgot', { email }, { headers });
      assert.equal(answer.status, 400);
      assert.equal(answer.json.error.code, 'invalid_input');
      assert.ok(answer.json.error.fields.email);
    }
  });

  test('at most 3 reset messages an address an hour; one IP gets 429 after 20 requests an hour', async () => {
    const u = await registeredScript(app.url);
    // Five at once: the per-address counter is one atomic upsert, so exactly three get a link.
    const asked = await Promise.all(Array.from({ length: 5 }, () => forgot(u.user.email)));
    assert.ok(asked.every((a) => a.status === 202));
    await outbox.waitFor(u.user.email, /Reset your password/, 3);
    await drained(u.user.email);
    assert.equal(outbox.to(u.user.email, /Reset your password/).length, 3);

    const ip = freshIp();
    const answers = await Promise.all(Array.from({ length: 25 }, (_, i) => forgot(`nobody${i}@example.com`, ip)));
    assert.equal(answers.filter((a) => a.status === 202).length, 20);
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(refused.length, 5);
    assert.equal(refused[0]!.json.error.code, 'too_many_attempts');
    assert.ok(Number(refused[0]!.headers.get('retry-after')) > 0);
  });

  test('a disabled user is sent no reset link', async () => {
    const admin = await signedInAdmin(app);
    const u = await registeredScript(app.url);
    assert.equal((await admin.client.postJson(`/admin/users/${u.id}/disable`, {})).status, 204);
    assert.equal((await forgot(u.user.email)).status, 202);
    assert.equal(await queuedTo(u.user.email), 0);
  });
});

/** Signs in from a new client so that a "new sign-in" message with a not-me link is sent; resolves its token. */
async function issueNotMe(login: string, password: string, email = `${login}@example.com`): Promise<string> {
  const before = outbox.to(email, /New sign-in/).length;
  const client = new Client(app.url, 'script');
  await client.fetchCsrf();
  assert.equal((await client.postJson('/login', { login, password }, { headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0' } })).status, 200);
  const mails = await outbox.waitFor(email, /New sign-in/, before + 1);
  return tokenOf(linkIn(mails[before]!, app.url, '/account/not-me'));
}

describe('security notifications', () => {
  test('registration is the first device (no news); the same browser signing in again is no news; a new browser gets a "new sign-in" message with time, IP and browser', async () => {
    const u = await registeredScript(app.url);
    assert.ok(u.client.cookies.get('device'), 'registration sets the device cookie');
    await u.client.postJson('/logout', {});
    await u.client.fetchCsrf();
    assert.equal((await u.client.postJson('/login', { login: u.user.login, password: u.user.password })).status, 200);
    assert.equal(await queuedTo(u.user.email), 0);

    await issueNotMe(u.user.login, u.user.password);
    const mail = outbox.to(u.user.email, /New sign-in/)[0]!;
    // The time in the reader's language (Intl), in UTC: e.g. "When: Dec 2, 2026, 5:15 PM UTC".
    assert.match(mail.body, new RegExp(`When: .*${new Date().getUTCFullYear()}.* UTC\\n`));
    assert.match(mail.body, /IP address: /);
    assert.match(mail.body, /Browser: Firefox on Linux/);
    assert.match(mail.body, new RegExp(`${app.url}/account/not-me\\?token=`));
    assert.equal(outbox.to(u.user.email, /New sign-in/).length, 1, 'registration and the known browser sent nothing');
  });

  test('the token API: a new fingerprint is news, the same one again is not', async () => {
    const u = await registeredScript(app.url);
    const login = (fingerprint: string) => new Client(app.url, 'script').postJson('/api/auth/login', { login: u.user.login, password: u.user.password, fingerprint }, { csrf: false });
    assert.equal((await login('tablet-1')).status, 200);
    await outbox.waitFor(u.user.email, /New sign-in/, 1);
    await drained(u.user.email);
    assert.equal((await login('tablet-1')).status, 200);
    assert.equal(await queuedTo(u.user.email), 0);
    assert.equal(outbox.to(u.user.email, /New sign-in/).length, 1);
  });

  test('"this wasn\'t me": the GET shows a button, the POST ends every sign-in (cause not_me) and sends a reset link; the link works once', async () => {
    const u = await registeredScript(app.url);
    const socket = (await connected(app.url, u.client)).socket;
    opened.push(socket);
    const token = await issueNotMe(u.user.login, u.user.password);

    const page = await new Client(app.url).get(`/account/not-me?token=${token}`);
    assert.equal(page.status, 200);
    assert.match(page.text, /action="\/account\/not-me"/);
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');

    const browser = new Client(app.url);
    await browser.get(`/account/not-me?token=${token}`);
    const gone = disconnected(socket, 1000);
    const done = await browser.postForm('/account/not-me', { token });
    assert.equal(done.status, 303);
    assert.equal(done.location, '/password/forgot?sent=1');
    await gone;
    assert.equal((await app.db.query('SELECT count(*)::int AS n FROM express_sessions WHERE user_id = $1', [u.id])).rows[0].n, 0);
    assert.equal((await events('not_me', u.id)).length, 1);
    const link = linkIn((await outbox.waitFor(u.user.email, /Reset your password/))[0]!, app.url, '/password/reset');
    assert.equal((await reset(tokenOf(link), 'after the intruder 11')).status, 204);

    const again = await new Client(app.url, 'script').postJson('/account/not-me', { token }, { csrf: false });
    assert.equal(again.status, 403, 'a script still needs the CSRF token');
    const script2 = new Client(app.url, 'script');
    await script2.fetchCsrf();
    const reused = await script2.postJson('/account/not-me', { token });
    assert.equal(reused.status, 400);
    assert.equal(reused.json.error.code, 'link_invalid');
    for (const bad of ['', 'nope', 'A'.repeat(43)]) {
      const answer = await new Client(app.url, 'script').get(`/account/not-me?token=${bad}`);
      assert.equal(answer.status, 400);
      assert.equal(answer.json.error.code, 'link_invalid');
    }
    const resetTokenAsNotMe = await script2.postJson('/account/not-me', { token: tokenOf(link) });
    assert.equal(resetTokenAsNotMe.json.error.code, 'link_invalid');
  });

  test('20 parallel uses of one not-me link: exactly one succeeds', async () => {
    const u = await registeredScript(app.url);
    const token = await issueNotMe(u.user.login, u.user.password);
    const client = new Client(app.url, 'script');
    await client.fetchCsrf();
    const answers = await Promise.all(Array.from({ length: 20 }, () => client.postJson('/account/not-me', { token })));
    assert.equal(answers.filter((a) => a.status === 204).length, 1);
    assert.equal(answers.filter((a) => a.json?.error?.code === 'link_invalid').length, 19);
    assert.equal((await events('not_me', u.id)).length, 1);
  });
});

describe('changing the email address', () => {
  test('a link to the new address and a notice to the old; the old address signs in until the link is confirmed; then the new one does, in live sessions too', async () => {
    const u = await registeredScript(app.url);
    const newEmail = `moved-${u.user.login}@example.org`;
    const wrong = await u.client.postJson('/account/email', { currentPassword: 'not my password', newEmail });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error.code, 'wrong_credentials');
    assert.equal((await app.db.query("SELECT count(*)::int AS n FROM security.events WHERE type = 'password_change_failed' AND user_id = $1", [u.id])).rows[0].n, 1, 'counted and audited');
    const other = await registeredScript(app.url);
    const taken = await u.client.postJson('/account/email', { currentPassword: u.user.password, newEmail: other.user.email.toUpperCase() });
    assert.equal(taken.status, 409);
    assert.equal(taken.json.error.code, 'already_registered');
    const invalid = await u.client.postJson('/account/email', { currentPassword: u.user.password, newEmail: ['x@example.com'] });
    assert.equal(invalid.status, 400);
    assert.ok(invalid.json.error.fields.newEmail);

    const asked = await u.client.postJson('/account/email', { currentPassword: u.user.password, newEmail });
    assert.equal(asked.status, 202);
    assert.deepEqual(asked.json, {});
    const confirmMail = (await outbox.waitFor(newEmail, /Confirm your new email/))[0]!;
    const notice = (await outbox.waitFor(u.user.email, /email address is being changed/))[0]!;
    assert.match(notice.body, new RegExp(newEmail.replace(/\./g, '\\.')));
    const link = linkIn(confirmMail, app.url, '/account/email/confirm');

    const client = new Client(app.url, 'script');
    await client.fetchCsrf();
    assert.equal((await client.postJson('/login', { login: u.user.email, password: u.user.password })).status, 200, 'the old address still signs in');

    const page = await new Client(app.url).get(link);
    assert.equal(page.status, 200);
    assert.match(page.text, /action="\/account\/email\/confirm"/);
    const anon = new Client(app.url, 'script');
    await anon.fetchCsrf();
    const confirmed = await anon.postJson('/account/email/confirm', { token: tokenOf(link) });
    assert.equal(confirmed.status, 200);
    assert.equal(confirmed.json.user.email, newEmail);
    assert.deepEqual(Object.keys(confirmed.json.user).sort(), ['email', 'id', 'login', 'name', 'roles']);
    const mine = await u.client.get('/account', { accept: 'text/html' });
    assert.match(mine.text, new RegExp(newEmail.replace(/\./g, '\\.')), 'the live session shows the new address');

    const fresh = new Client(app.url, 'script');
    await fresh.fetchCsrf();
    assert.equal((await fresh.postJson('/login', { login: u.user.email, password: u.user.password })).status, 401, 'the old address no longer signs in');
    assert.equal((await fresh.postJson('/login', { login: newEmail, password: u.user.password })).status, 200);
    const reused = await anon.postJson('/account/email/confirm', { token: tokenOf(link) });
    assert.equal(reused.status, 400);
    assert.equal(reused.json.error.code, 'link_invalid');
    assert.equal((await anon.get('/account/email/confirm?token=zzz')).json.error.code, 'link_invalid');
  });

  test('10 parallel confirmations of one email-change link: exactly one changes the address', async () => {
    const u = await registeredScript(app.url);
    const newEmail = `parallel-${u.user.login}@example.org`;
    assert.equal((await u.client.postJson('/account/email', { currentPassword: u.user.password, newEmail })).status, 202);
    const link = linkIn((await outbox.waitFor(newEmail, /Confirm your new email/))[0]!, app.url, '/account/email/confirm');
    const anon = new Client(app.url, 'script');
    await anon.fetchCsrf();
    const answers = await Promise.all(Array.from({ length: 10 }, () => anon.postJson('/account/email/confirm', { token: tokenOf(link) })));
    assert.equal(answers.filter((a) => a.status === 200).length, 1, answers.map((a) => a.status).join());
    assert.ok(answers.every((a) => a.status === 200 || a.json.error.code === 'link_invalid'));
    assert.equal((await events('email_changed', u.id)).length, 1);
  });

  test('GET /account shows the profile with links to every account page', async () => {
    const u = await registeredScript(app.url);
    const page = await u.client.get('/account', { accept: 'text/html' });
    assert.equal(page.status, 200);
    for (const href of ['/account/sessions', '/account/password', '/account/export']) assert.match(page.text, new RegExp(`href="${href}"`));
    for (const action of ['/account/email', '/account/delete']) assert.match(page.text, new RegExp(`action="${action}"`));
    assert.match(page.text, new RegExp(u.user.email));
    assert.equal((await new Client(app.url).get('/account')).status, 303, 'protected');
  });
});

describe('what the logs hold', () => {
  test('no token, code or link from any message is ever logged, though the messages were', async () => {
    // Everything the tests above mailed: every token and link in the outbox.
    const secrets = outbox.all().flatMap((m) => [...m.body.matchAll(/https?:\/\/\S+|\b[A-Za-z0-9_-]{43}\b|\b\d{6}\b/g)].map((x) => x[0]));
    const tokens = secrets.filter((s) => /[A-Za-z0-9_-]{43}/.test(s));
    assert.ok(tokens.length >= 10, `the suite mailed links (${tokens.length})`);
    const log = logLines.join('');
    assert.match(log, /mail delivered/, 'the deliveries were logged');
    for (const secret of secrets) assert.ok(!log.includes(secret), `logged: ${secret.slice(0, 12)}...`);
  });
});
