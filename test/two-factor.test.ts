import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { Client, registeredScript } from './support/client.js';
import { linkIn, Outbox, tokenOf } from './support/outbox.js';
import { connectError, openSocket, type ChatClient } from './support/sockets.js';
import { startTestApp, type TestApp } from './support/test-app.js';
import { secondsLeftInStep, totp } from './support/totp.js';

const dataDir = mkdtempSync(path.join(tmpdir(), 'eac-2fa-'));
const outbox = new Outbox(dataDir);
let app: TestApp;
before(async () => (app = await startTestApp({ env: { DATA_DIR: dataDir, LOGIN_MAX_FAILURES: '8' } })));
after(async () => {
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
});
const opened: ChatClient[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.disconnect();
});

/** Codes are judged by the clock: start a test's codes early in a 30-second step, so offsets hold. */
async function earlyInStep() {
  const left = secondsLeftInStep();
  if (left < 6) await new Promise((r) => setTimeout(r, left * 1000 + 50));
}

/** A user with two-factor on (enabled with the previous step's code); its secret and recovery codes. */
async function withTwoFactor() {
  await earlyInStep();
  const u = await registeredScript(app.url);
  const setup = await u.client.postJson('/account/two-factor/setup', { currentPassword: u.user.password });
  assert.equal(setup.status, 200);
  const enabled = await u.client.postJson('/account/two-factor/enable', { code: totp(setup.json.secret, -1) });
  assert.equal(enabled.status, 200, enabled.text);
  return { ...u, secret: setup.json.secret as string, recoveryCodes: enabled.json.recoveryCodes as string[] };
}

async function passwordStep(login: string, password: string) {
  const client = new Client(app.url, 'script');
  await client.fetchCsrf();
  const reply = await client.postJson('/login', { login, password });
  return { client, reply };
}

const pairFailures = async (login: string) =>
  (await app.db.query<{ n: number }>("SELECT coalesce(max(failures), 0)::int AS n FROM login_throttle WHERE key LIKE 'pair:' || $1 || '|%'", [login])).rows[0]!.n;
const eventCount = async (type: string, userId: number) => (await app.db.query('SELECT count(*)::int AS n FROM security.events WHERE type = $1 AND user_id = $2', [type, userId])).rows[0].n as number;

describe('turning two-factor on', () => {
  test('setup needs the current password and answers the secret and an otpauth URL; the first code turns it on with 10 recovery codes; the secret is stored encrypted; a notice is sent', async () => {
    const u = await registeredScript(app.url);
    const wrong = await u.client.postJson('/account/two-factor/setup', { currentPassword: 'not my password' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error.code, 'wrong_credentials');
    const setup = await u.client.postJson('/account/two-factor/setup', { currentPassword: u.user.password });
    assert.equal(setup.status, 200);
    assert.match(setup.json.secret, /^[A-Z2-7]{32}$/);
    assert.match(setup.json.otpauthUrl, new RegExp(`^otpauth://totp/Parlour:${u.user.login}\\?`));
    assert.match(setup.json.otpauthUrl, new RegExp(`secret=${setup.json.secret}`));
    const { rows } = await app.db.query('SELECT secret_encrypted, enabled_at FROM user_totp WHERE user_id = $1', [u.id]);
    assert.ok(!rows[0].secret_encrypted.includes(setup.json.secret), 'encrypted at rest');
    assert.equal(rows[0].enabled_at, null, 'not on before the first code');

    const bad = await u.client.postJson('/account/two-factor/enable', { code: '000000' === totp(setup.json.secret) ? '111111' : '000000' });
    assert.equal(bad.status, 401);
    assert.equal(bad.json.error.code, 'wrong_code');
    await earlyInStep();
    const on = await u.client.postJson('/account/two-factor/enable', { code: totp(setup.json.secret) });
    assert.equal(on.status, 200);
    assert.equal(on.json.recoveryCodes.length, 10);
    assert.equal(new Set(on.json.recoveryCodes).size, 10);
    const { rows: codes } = await app.db.query('SELECT code_hash FROM recovery_codes WHERE user_id = $1', [u.id]);
    assert.equal(codes.length, 10);
    assert.ok(codes.every((c) => !on.json.recoveryCodes.includes(c.code_hash)), 'stored hashed');
    assert.equal((await u.client.postJson('/account/two-factor/setup', { currentPassword: u.user.password })).status, 409, 'no second setup while on');
    await outbox.waitFor(u.user.email, /turned on/);
    assert.equal(await eventCount('two_factor_enabled', u.id), 1);
  });

  test('the HTML setup shows the QR code drawn on the server (a data: image) and the secret as text', async () => {
    const u = await registeredScript(app.url);
    const browser = new Client(app.url);
    for (const [k, v] of u.client.cookies) browser.cookies.set(k, v);
    await browser.get('/account/two-factor');
    const page = await browser.postForm('/account/two-factor/setup', { currentPassword: u.user.password });
    assert.equal(page.status, 200);
    assert.match(page.text, /<img id="totp-qr" src="data:image\/svg\+xml;base64,[A-Za-z0-9+/=]+"/);
    assert.match(page.text, /<code id="totp-secret">[A-Z2-7]{32}<\/code>/);
    assert.doesNotMatch(page.text, /https?:\/\/(?!127\.0\.0\.1)[^"]*qr/i, 'nothing from another site');
  });
});

describe('signing in with two-factor on', () => {
  test('the right password is half a sign-in: anonymous everywhere (pages, /api, sockets) until the code completes it; a wrong code is counted; the right one signs in and clears the count', async () => {
    const u = await withTwoFactor();
    const { client, reply } = await passwordStep(u.user.login, u.user.password);
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json, { twoFactorRequired: true });
    assert.ok(!client.cookies.has('sid'), 'no session');
    assert.ok(client.cookies.has('two_factor'));
    assert.equal((await client.get('/account/sessions')).status, 401);
    assert.equal((await client.get('/api/me')).status, 401);
    const socket = openSocket(app.url, client);
    opened.push(socket);
    assert.equal((await connectError(socket)).message, 'unauthorized');

    const wrong = await client.postJson('/login/two-factor', { code: totp(u.secret, 0) === '123456' ? '654321' : '123456' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error.code, 'wrong_code');
    assert.equal(await pairFailures(u.user.login), 1, 'counted as a failed attempt of that login and IP');

    const done = await client.postJson('/login/two-factor', { code: totp(u.secret, 0) });
    assert.equal(done.status, 200, done.text);
    assert.equal(done.json.user.login, u.user.login);
    assert.ok(client.cookies.has('sid'));
    assert.ok(!client.cookies.has('two_factor'));
    await client.fetchCsrf();
    assert.equal((await client.get('/account/sessions')).status, 200);
    assert.equal(await pairFailures(u.user.login), 0, 'a completed sign-in clears the count');
    assert.equal(await eventCount('sign_in', u.id), 2, 'registration and this sign-in');
  });

  test('a code is not accepted twice (no replay); the previous step is accepted; a recovery code works once', async () => {
    const u = await withTwoFactor();
    // Enabled with step -1: step 0 is later, and accepted.
    const first = await passwordStep(u.user.login, u.user.password);
    assert.equal((await first.client.postJson('/login/two-factor', { code: totp(u.secret, 0) })).status, 200);
    const second = await passwordStep(u.user.login, u.user.password);
    const replay = await second.client.postJson('/login/two-factor', { code: totp(u.secret, 0) });
    assert.equal(replay.status, 401);
    assert.equal(replay.json.error.code, 'wrong_code');
    const previous = await second.client.postJson('/login/two-factor', { code: totp(u.secret, -1) });
    assert.equal(previous.json.error.code, 'wrong_code', 'a step before the last used is refused');

    const recovery = await second.client.postJson('/login/two-factor', { code: u.recoveryCodes[0]!.toUpperCase() });
    assert.equal(recovery.status, 200, 'a recovery code, any case');
    const third = await passwordStep(u.user.login, u.user.password);
    assert.equal((await third.client.postJson('/login/two-factor', { code: u.recoveryCodes[0] })).json.error.code, 'wrong_code', 'used once');
    assert.equal((await third.client.postJson('/login/two-factor', { code: u.recoveryCodes[1]!.replace('-', '') })).status, 200);
  });

  test('20 parallel uses of one right code: exactly one signs in', async () => {
    const u = await withTwoFactor();
    const pendings = await Promise.all(Array.from({ length: 20 }, () => passwordStep(u.user.login, u.user.password)));
    const code = totp(u.secret, 0);
    const answers = await Promise.all(pendings.map((p) => p.client.postJson('/login/two-factor', { code })));
    assert.equal(answers.filter((a) => a.status === 200).length, 1, answers.map((a) => a.status).join());
  });

  test('one recovery code in 10 parallel pending sign-ins: exactly one signs in', async () => {
    const u = await withTwoFactor();
    const pendings = await Promise.all(Array.from({ length: 10 }, () => passwordStep(u.user.login, u.user.password)));
    const answers = await Promise.all(pendings.map((p) => p.client.postJson('/login/two-factor', { code: u.recoveryCodes[2] })));
    assert.equal(answers.filter((a) => a.status === 200).length, 1, answers.map((a) => a.status).join());
    assert.equal((await app.db.query('SELECT count(*)::int AS n FROM recovery_codes WHERE user_id = $1', [u.id])).rows[0].n, 9);
  });

  test('after 5 wrong codes the pending sign-in is dropped: two_factor_expired (HTML: 303 /login), even for the right code; 20 parallel wrong codes check at most 5', async () => {
    const u = await withTwoFactor();
    const { client } = await passwordStep(u.user.login, u.user.password);
    const wrongCode = totp(u.secret, 0) === '000001' ? '000002' : '000001';
    for (let i = 0; i < 5; i++) assert.equal((await client.postJson('/login/two-factor', { code: wrongCode })).json.error.code, 'wrong_code');
    const dropped = await client.postJson('/login/two-factor', { code: totp(u.secret, 0) });
    assert.equal(dropped.status, 401);
    assert.equal(dropped.json.error.code, 'two_factor_expired');

    const browser = new Client(app.url);
    await browser.get('/login');
    const pw = await browser.postForm('/login', { login: u.user.login, password: u.user.password });
    assert.equal(pw.status, 303);
    assert.equal(pw.location, '/login/two-factor');
    const form = await browser.get('/login/two-factor');
    assert.equal(form.status, 200);
    const answers = await Promise.all(Array.from({ length: 20 }, () => browser.postForm('/login/two-factor', { code: wrongCode })));
    assert.ok(answers.filter((a) => a.status === 401).length <= 5, answers.map((a) => a.status).join());
    assert.ok(answers.every((a) => a.status === 401 || a.status === 303 || a.status === 429), answers.map((a) => a.status).join());
    const after5 = await browser.postForm('/login/two-factor', { code: totp(u.secret, 0) });
    assert.equal(after5.status, 303);
    assert.equal(after5.location, '/login');
    assert.equal((await browser.get('/login/two-factor')).location, '/login');
    const failed = (await app.db.query("SELECT count(*)::int AS n FROM security.events WHERE type = 'two_factor_failed' AND user_id = $1", [u.id])).rows[0].n;
    assert.ok(failed <= 10, `${failed} codes checked for two pending sign-ins`);
  });

  test('the token API needs `code`: without it 401 two_factor_required (not counted), wrong 401 wrong_code (counted), right 200', async () => {
    const u = await withTwoFactor();
    const login = (body: Record<string, unknown>) =>
      new Client(app.url, 'script').postJson('/api/auth/login', { login: u.user.login, password: u.user.password, fingerprint: 'phone', ...body }, { csrf: false });
    const missing = await login({});
    assert.equal(missing.status, 401);
    assert.equal(missing.json.error.code, 'two_factor_required');
    assert.equal(await pairFailures(u.user.login), 0, 'not counted');
    const wrong = await login({ code: '12345' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error.code, 'wrong_code');
    assert.equal(await pairFailures(u.user.login), 1, 'counted');
    const right = await login({ code: totp(u.secret, 0) });
    assert.equal(right.status, 200);
    assert.ok(right.json.accessToken);
    assert.equal(await pairFailures(u.user.login), 0);
    const wrongPassword = await new Client(app.url, 'script').postJson('/api/auth/login', { login: u.user.login, password: 'nope nope', fingerprint: 'phone', code: totp(u.secret, 1) }, { csrf: false });
    assert.equal(wrongPassword.json.error.code, 'wrong_credentials');
  });

  test('bad codes are 4xx, never 500: arrays, objects, spaces, wrong lengths, NUL, huge', async () => {
    const u = await withTwoFactor();
    const { client } = await passwordStep(u.user.login, u.user.password);
    for (const code of [['123456'], { a: 1 }, '123 456', '12345', '1234567', '12\u00003456', 'x'.repeat(10_000)]) {
      const answer = await client.postJson('/login/two-factor', { code });
      assert.ok([400, 401].includes(answer.status), `${JSON.stringify(code).slice(0, 20)}: ${answer.status}`);
      assert.ok(['invalid_input', 'wrong_code', 'two_factor_expired'].includes(answer.json.error.code));
    }
    assert.equal((await client.postJson('/login/two-factor', {})).json.error.code, 'invalid_input');
    const none = new Client(app.url, 'script');
    await none.fetchCsrf();
    assert.equal((await none.postJson('/login/two-factor', { code: '123456' })).json.error.code, 'two_factor_expired', 'no pending sign-in');
  });

  test('a password reset does not bypass it', async () => {
    const u = await withTwoFactor();
    const client = new Client(app.url, 'script');
    await client.fetchCsrf();
    assert.equal((await client.postJson('/password/forgot', { email: u.user.email })).status, 202);
    const link = linkIn((await outbox.waitFor(u.user.email, /Reset your password/))[0]!, app.url, '/password/reset');
    assert.equal((await client.postJson('/password/reset', { token: tokenOf(link), newPassword: 'reset but still two factor' })).status, 204);
    const { reply } = await passwordStep(u.user.login, 'reset but still two factor');
    assert.deepEqual(reply.json, { twoFactorRequired: true });
  });
});

describe('managing two-factor', () => {
  test('new recovery codes need a code, and the old ones die', async () => {
    const u = await withTwoFactor();
    assert.equal((await u.client.postJson('/account/two-factor/recovery-codes', { code: '000000' === totp(u.secret) ? '111111' : '000000' })).json.error.code, 'wrong_code');
    const fresh = await u.client.postJson('/account/two-factor/recovery-codes', { code: totp(u.secret, 0) });
    assert.equal(fresh.status, 200);
    assert.equal(fresh.json.recoveryCodes.length, 10);
    const { client } = await passwordStep(u.user.login, u.user.password);
    assert.equal((await client.postJson('/login/two-factor', { code: u.recoveryCodes[0] })).json.error.code, 'wrong_code', 'an old code');
    assert.equal((await client.postJson('/login/two-factor', { code: fresh.json.recoveryCodes[0] })).status, 200);
  });

  test('turning it off needs the password and a code; then the password alone signs in; a notice is sent', async () => {
    const u = await withTwoFactor();
    assert.equal((await u.client.postJson('/account/two-factor/disable', { currentPassword: 'wrong one', code: totp(u.secret, 0) })).json.error.code, 'wrong_credentials');
    assert.equal((await u.client.postJson('/account/two-factor/disable', { currentPassword: u.user.password, code: '99999' })).json.error.code, 'wrong_code');
    assert.equal((await u.client.postJson('/account/two-factor/disable', { currentPassword: u.user.password, code: totp(u.secret, 0) })).status, 204);
    const { reply } = await passwordStep(u.user.login, u.user.password);
    assert.equal(reply.status, 200);
    assert.equal(reply.json.user.login, u.user.login);
    await outbox.waitFor(u.user.email, /turned off/);
    assert.equal((await app.db.query('SELECT count(*)::int AS n FROM recovery_codes WHERE user_id = $1', [u.id])).rows[0].n, 0);
  });

  test('deleting the account asks for the code too', async () => {
    const u = await withTwoFactor();
    assert.equal((await u.client.postJson('/account/delete', { currentPassword: u.user.password })).json.error.code, 'invalid_input');
    assert.equal((await u.client.postJson('/account/delete', { currentPassword: u.user.password, code: '00000' })).json.error.code, 'wrong_code');
    assert.equal((await u.client.postJson('/account/delete', { currentPassword: u.user.password, code: totp(u.secret, 0) })).status, 204);
    assert.equal((await app.db.query('SELECT count(*)::int AS n FROM users WHERE id = $1', [u.id])).rows[0].n, 0);
  });
});

describe('the TOTP secret and SESSION_SECRET rotation', () => {
  test('sealed under the old secret it still opens after `new,old`, is sealed again under the new one at its next use, and then survives removing the old one', async () => {
    const oldSecret = 'o'.repeat(40);
    const newSecret = 'n'.repeat(40);
    const first = await startTestApp({ sessionSecrets: [oldSecret] });
    const u = await registeredScript(first.url);
    await earlyInStep();
    const setup = await u.client.postJson('/account/two-factor/setup', { currentPassword: u.user.password });
    assert.equal((await u.client.postJson('/account/two-factor/enable', { code: totp(setup.json.secret, -1) })).status, 200);
    const sealed = async (on: TestApp) => (await on.db.query('SELECT secret_encrypted FROM user_totp WHERE user_id = $1', [u.id])).rows[0].secret_encrypted as string;
    const before = await sealed(first);
    await first.close({ keepDatabase: true });

    const signIn = async (on: TestApp, code: string) => {
      const client = new Client(on.url, 'script');
      return client.postJson('/api/auth/login', { login: u.user.login, password: u.user.password, fingerprint: 'f', code }, { csrf: false });
    };
    const rotated = await startTestApp({ databaseUrl: first.databaseUrl, sessionSecrets: [newSecret, oldSecret] });
    assert.equal((await signIn(rotated, totp(setup.json.secret, 0))).status, 200);
    assert.notEqual(await sealed(rotated), before, 'sealed again under the newest key');
    await rotated.close({ keepDatabase: true });

    const retired = await startTestApp({ databaseUrl: first.databaseUrl, sessionSecrets: [newSecret] });
    try {
      assert.equal((await signIn(retired, totp(setup.json.secret, 1))).status, 200);
    } finally {
      await retired.close();
      await first.db.end().catch(() => {});
    }
  });
});
