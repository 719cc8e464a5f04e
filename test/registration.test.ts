import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, newUser } from './support/client.js';
import { startTestApp, type TestApp } from './support/test-app.js';

let app: TestApp;
before(async () => (app = await startTestApp()));
after(() => app.close());

async function script() {
  const client = new Client(app.url, 'script');
  await client.fetchCsrf();
  return client;
}

const userCount = async () => (await app.db.query('SELECT count(*)::int AS n FROM users')).rows[0].n as number;

describe('registration through the HTML form', () => {
  test('signs the user in at once and redirects home with 303', async () => {
    const browser = new Client(app.url);
    await browser.get('/register');
    const user = newUser({ name: 'Ada Lovelace' });
    const reply = await browser.postForm('/register', user);
    assert.equal(reply.status, 303);
    assert.equal(reply.location, '/');
    const home = await browser.get('/');
    assert.match(home.text, /Ada Lovelace/);
    assert.match(home.text, /href="\/chat"/);
    assert.match(home.text, /<form method="post" action="\/logout"/);
  });

  test('re-renders the form with 400, the field errors and the typed values, never the password', async () => {
    const browser = new Client(app.url);
    await browser.get('/register');
    const reply = await browser.postForm('/register', { login: 'ab', email: 'not-an-email', name: 'Bea', password: 'Sup3r$ecretValue' });
    assert.equal(reply.status, 400);
    assert.match(reply.text, /Login must be 3 to 32 characters/);
    assert.match(reply.text, /Enter a valid email address/);
    assert.match(reply.text, /value="not-an-email"/);
    assert.match(reply.text, /value="Bea"/);
    assert.doesNotMatch(reply.text, /Sup3r\$ecretValue/);
  });

  test('a taken login re-renders the form with 409', async () => {
    const browser = new Client(app.url);
    await browser.get('/register');
    const user = newUser();
    assert.equal((await browser.postForm('/register', user)).status, 303);
    const other = new Client(app.url);
    await other.get('/register');
    const reply = await other.postForm('/register', { ...user, email: `x${user.email}` });
    assert.equal(reply.status, 409);
    assert.match(reply.text, /already registered/);
  });
});

describe('registration from a script (JSON)', () => {
  test('answers 201 with exactly the User fields', async () => {
    const client = await script();
    const user = newUser({ name: 'Grace' });
    const reply = await client.postJson('/register', user);
    assert.equal(reply.status, 201);
    assert.deepEqual(Object.keys(reply.json.user).sort(), ['email', 'id', 'login', 'name', 'roles']);
    assert.equal(reply.json.user.login, user.login);
    assert.equal(reply.json.user.name, 'Grace');
    assert.deepEqual(reply.json.user.roles, []);
    assert.equal(typeof reply.json.user.id, 'number');
  });

  test('the name defaults to the login, and login is stored trimmed and lower-cased', async () => {
    const client = await script();
    const { name: _unused, ...user } = newUser();
    const reply = await client.postJson('/register', { ...user, login: `  ${user.login.toUpperCase()}  ` });
    assert.equal(reply.status, 201);
    assert.equal(reply.json.user.login, user.login);
    assert.equal(reply.json.user.name, user.login);
  });

  test('validation failures answer 400 invalid_input with fields keyed by name', async () => {
    const client = await script();
    const reply = await client.postJson('/register', { login: 'x!', email: 'nope', name: 'n'.repeat(65), password: 'short' });
    assert.equal(reply.status, 400);
    assert.equal(reply.json.error.code, 'invalid_input');
    assert.deepEqual(Object.keys(reply.json.error.fields).sort(), ['email', 'login', 'name', 'password']);
  });

  test('missing fields are named', async () => {
    const client = await script();
    const reply = await client.postJson('/register', {});
    assert.equal(reply.status, 400);
    assert.match(reply.json.error.fields.login, /required/);
    assert.match(reply.json.error.fields.password, /required/);
  });

  test('a login or email differing only in case or surrounding spaces is taken (409 already_registered)', async () => {
    const client = await script();
    const user = newUser();
    assert.equal((await client.postJson('/register', user)).status, 201);
    const again = await script();
    const byLogin = await again.postJson('/register', { ...newUser(), login: ` ${user.login.toUpperCase()} ` });
    assert.equal(byLogin.status, 409);
    assert.equal(byLogin.json.error.code, 'already_registered');
    const byEmail = await again.postJson('/register', { ...newUser(), email: `  ${user.email.toUpperCase()} ` });
    assert.equal(byEmail.status, 409);
    assert.equal(byEmail.json.error.code, 'already_registered');
  });

  test('two racing registrations of one login: one 201, one 409, one row', async () => {
    const user = newUser();
    const [a, b] = await Promise.all([script(), script()]);
    const replies = await Promise.all([a.postJson('/register', user), b.postJson('/register', { ...user, email: `b${user.email}` })]);
    assert.deepEqual(replies.map((r) => r.status).sort(), [201, 409]);
    const { rows } = await app.db.query('SELECT count(*)::int AS n FROM users WHERE login = $1', [user.login]);
    assert.equal(rows[0].n, 1);
  });

  test('common passwords are refused', async () => {
    const client = await script();
    for (const password of ['password1', 'iloveyou', 'Qwertyuiop']) {
      const reply = await client.postJson('/register', { ...newUser(), password });
      assert.equal(reply.status, 400, password);
      assert.match(reply.json.error.fields.password, /too common/);
    }
  });

  test('passwords of 8 to 128 characters in any script are accepted; 129 is refused', async () => {
    const client = await script();
    assert.equal((await client.postJson('/register', { ...newUser(), password: 'пароль-сложный' })).status, 201);
    const again = await script();
    assert.equal((await again.postJson('/register', { ...newUser(), password: '密码'.repeat(63) + '安全' })).status, 201);
    const third = await script();
    assert.equal((await third.postJson('/register', { ...newUser(), password: 'x'.repeat(129) })).status, 400);
  });

  test('all of a long password counts: no truncation at 72 bytes', async () => {
    const client = await script();
    const prefix = 'é'.repeat(40); // 80 bytes in UTF-8, beyond bcrypt's 72
    const user = newUser({ password: `${prefix}-right` });
    assert.equal((await client.postJson('/register', user)).status, 201);
    const other = await script();
    const wrong = await other.postJson('/login', { login: user.login, password: `${prefix}-wrong` });
    assert.equal(wrong.status, 401);
    const right = await other.postJson('/login', { login: user.login, password: `${prefix}-right` });
    assert.equal(right.status, 200);
  });

  test('fields sent as arrays or objects, or holding NUL or other control characters, are 400 invalid_input and store nothing', async () => {
    const before = await userCount();
    const client = await script();
    const bad = [
      { ...newUser(), login: ['a', 'b'] },
      { ...newUser(), email: { $ne: '' } },
      { ...newUser(), password: ['a sturdy passphrase 42'] },
      { ...newUser(), name: 'bad\u0000name' },
      { ...newUser(), login: 'nul\u0000login' },
      { ...newUser(), name: 'esc\u001b[31m' },
    ];
    for (const payload of bad) {
      const reply = await client.postJson('/register', payload);
      assert.equal(reply.status, 400, JSON.stringify(payload));
      assert.equal(reply.json.error.code, 'invalid_input');
    }
    const browser = new Client(app.url);
    await browser.get('/register');
    const form = await browser.postForm('/register', { ...newUser(), login: ['one', 'two'] });
    assert.equal(form.status, 400);
    assert.equal(await userCount(), before);
  });

  test('extra fields such as role and id are ignored', async () => {
    const client = await script();
    const reply = await client.postJson('/register', { ...newUser(), role: 'admin', roles: ['admin'], id: 1 });
    assert.equal(reply.status, 201);
    assert.deepEqual(reply.json.user.roles, []);
    assert.notEqual(reply.json.user.id, 1);
  });

  test('a name holding markup is stored as typed and shown as plain text', async () => {
    const browser = new Client(app.url);
    await browser.get('/register');
    const name = '<script>alert(1)</script><img src=x onerror=alert(2)>';
    assert.equal((await browser.postForm('/register', newUser({ name }))).status, 303);
    const home = await browser.get('/');
    assert.doesNotMatch(home.text, /<script>alert\(1\)<\/script>/);
    assert.doesNotMatch(home.text, /<img src=x/);
    assert.match(home.text, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  });

  test("SQL in a field is only data: ' OR 1=1-- is an invalid login and logs nobody in", async () => {
    const client = await script();
    const reply = await client.postJson('/register', { ...newUser(), login: "' OR 1=1--" });
    assert.equal(reply.status, 400);
    const login = await (await script()).postJson('/login', { login: "' OR 1=1--", password: "' OR 1=1--" });
    assert.equal(login.status, 401);
    assert.equal(login.json.error.code, 'wrong_credentials');
  });
});
