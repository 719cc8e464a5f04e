import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, registeredScript } from './support/client.js';
import { startTestApp, type TestApp } from './support/test-app.js';

let app: TestApp;
// Believe X-Forwarded-For here so each test can sign in from an IP of its own.
before(async () => (app = await startTestApp({ env: { LOGIN_MAX_FAILURES: '3', LOGIN_IP_DAILY_FAILURES: '8', TRUST_PROXY: 'true' } })));
after(() => app.close());

let ipCounter = 0;
const newIp = () => `203.0.113.${++ipCounter}`;

async function scriptFrom(ip: string) {
  const client = new Client(app.url, 'script');
  await client.fetchCsrf();
  const attempt = (login: string, password: string) => client.postJson('/login', { login, password }, { headers: { 'x-forwarded-for': ip } });
  return { client, attempt };
}

const events = async (type: string, login: string) =>
  (await app.db.query('SELECT count(*)::int AS n FROM security.events WHERE type = $1 AND login = $2', [type, login])).rows[0].n as number;

/** "The wait": move the block into the past instead of sleeping. */
const endWaits = () => app.db.query("UPDATE login_throttle SET blocked_until = now() - interval '1 second' WHERE blocked_until IS NOT NULL");

describe('failed attempts per login and IP', () => {
  test('after LOGIN_MAX_FAILURES failures the pair gets 429 with Retry-After and no password is checked; after the wait a success clears the count', async () => {
    const { user } = await registeredScript(app.url);
    const ip = newIp();
    const { attempt } = await scriptFrom(ip);
    for (let i = 0; i < 3; i++) assert.equal((await attempt(user.login, 'wrong password x')).status, 401);

    const throttled = await attempt(user.login, user.password);
    assert.equal(throttled.status, 429, 'even the right password waits');
    assert.equal(throttled.json.error.code, 'too_many_attempts');
    const retry = Number(throttled.headers.get('retry-after'));
    assert.ok(retry > 0 && retry <= 30, `Retry-After ${retry}`);
    assert.equal(await events('sign_in_throttled', user.login), 1);

    // The same login from another IP is not held up by this pair.
    assert.equal((await (await scriptFrom(newIp())).attempt(user.login, user.password)).status, 200);

    await endWaits();
    assert.equal((await attempt(user.login, user.password)).status, 200);
    // The row is kept (the next sign-in finds its counters), its count cleared.
    const { rows } = await app.db.query('SELECT coalesce(sum(failures), 0)::int AS n, count(blocked_until)::int AS blocked FROM login_throttle WHERE key = $1', [`pair:${user.login}|${ip}`]);
    assert.deepEqual(rows[0], { n: 0, blocked: 0 }, 'success cleared the login+IP count');
  });

  test('the delay doubles with each further failure, up to 15 minutes', async () => {
    const { user } = await registeredScript(app.url);
    const ip = newIp();
    const { attempt } = await scriptFrom(ip);
    const waits: number[] = [];
    for (let i = 0; i < 9; i++) {
      await endWaits();
      assert.equal((await attempt(user.login, 'wrong password x')).status, 401);
      const { rows } = await app.db.query('SELECT extract(epoch FROM blocked_until - now())::float AS s FROM login_throttle WHERE key = $1', [`pair:${user.login}|${ip}`]);
      waits.push(Math.round(rows[0].s ?? 0));
    }
    assert.deepEqual(waits.slice(0, 2), [0, 0]);
    assert.ok(Math.abs(waits[2]! - 30) <= 1 && Math.abs(waits[3]! - 60) <= 1 && Math.abs(waits[4]! - 120) <= 1, waits.join(','));
    assert.ok(Math.abs(waits[8]! - 900) <= 1, `capped at 15 minutes: ${waits.join(',')}`);
  });

  test('an unknown login is throttled exactly like a known one: same statuses, bodies and Retry-After', async () => {
    const { user } = await registeredScript(app.url);
    const known = await scriptFrom(newIp());
    const unknown = await scriptFrom(newIp());
    for (let i = 0; i < 4; i++) {
      const a = await known.attempt(user.login, 'wrong password x');
      const b = await unknown.attempt('no_such_login_here', 'wrong password x');
      assert.equal(a.status, b.status);
      assert.deepEqual(a.json, b.json);
      assert.equal(a.headers.get('retry-after') !== null, b.headers.get('retry-after') !== null);
    }
    const last = await unknown.attempt('no_such_login_here', 'wrong password x');
    assert.equal(last.status, 429);
  });

  test('two racing failures are both counted', async () => {
    const { user } = await registeredScript(app.url);
    const ip = newIp();
    const clients = await Promise.all([scriptFrom(ip), scriptFrom(ip), scriptFrom(ip)]);
    const replies = await Promise.all(clients.map((c) => c.attempt(user.login, 'wrong password x')));
    assert.deepEqual(replies.map((r) => r.status), [401, 401, 401]);
    const { rows } = await app.db.query('SELECT failures FROM login_throttle WHERE key = $1', [`pair:${user.login}|${ip}`]);
    assert.equal(rows[0].failures, 3);
  });

  test('typing the email instead of the login earns no extra attempts', async () => {
    const { user } = await registeredScript(app.url);
    const { attempt } = await scriptFrom(newIp());
    await attempt(user.login, 'wrong password x');
    await attempt(user.email.toUpperCase(), 'wrong password x');
    await attempt(user.login, 'wrong password x');
    assert.equal((await attempt(user.email, user.password)).status, 429);
  });

  test('X-Forwarded-For is ignored unless TRUST_PROXY says so', async () => {
    const other = await startTestApp({ env: { LOGIN_MAX_FAILURES: '2' } });
    try {
      const { user } = await registeredScript(other.url);
      const client = new Client(other.url, 'script');
      await client.fetchCsrf();
      for (const ip of ['198.51.100.1', '198.51.100.2']) {
        await client.postJson('/login', { login: user.login, password: 'wrong password x' }, { headers: { 'x-forwarded-for': ip } });
      }
      const reply = await client.postJson('/login', { login: user.login, password: user.password }, { headers: { 'x-forwarded-for': '198.51.100.3' } });
      assert.equal(reply.status, 429, 'the forged header did not give a fresh IP');
    } finally {
      await other.close();
    }
  });
});

describe('failed attempts per IP and per login', () => {
  test('one IP failing across many logins is blocked for the day', async () => {
    const { attempt } = await scriptFrom(newIp());
    for (let i = 0; i < 8; i++) assert.equal((await attempt(`spray_${i}`, 'wrong password x')).status, 401);
    const { user } = await registeredScript(app.url);
    const blocked = await attempt(user.login, user.password);
    assert.equal(blocked.status, 429);
    const retry = Number(blocked.headers.get('retry-after'));
    assert.ok(retry > 23 * 3600 && retry <= 24 * 3600, `Retry-After ${retry}`);
  });

  test('a login failing from many IPs gets a short growing delay, never a lock, and its owner at a known IP gets in', async () => {
    const { user } = await registeredScript(app.url);
    const homeIp = newIp();
    assert.equal((await (await scriptFrom(homeIp)).attempt(user.login, user.password)).status, 200);

    // A stranger fails from many addresses (never 3 from one, so no pair blocks).
    for (let i = 0; i < 8; i++) {
      const { attempt } = await scriptFrom(newIp());
      await endWaits();
      await attempt(user.login, 'wrong password x');
    }
    const { rows } = await app.db.query('SELECT failures, extract(epoch FROM blocked_until - now())::float AS s FROM login_throttle WHERE key = $1', [`login:${user.login}`]);
    assert.equal(rows[0].failures, 8);
    assert.ok(rows[0].s > 0 && rows[0].s <= 60, `delay ${rows[0].s} s is short`);

    const fromNewPlace = await (await scriptFrom(newIp())).attempt(user.login, user.password);
    assert.equal(fromNewPlace.status, 429);
    assert.ok(Number(fromNewPlace.headers.get('retry-after')) <= 60);
    assert.equal((await (await scriptFrom(homeIp)).attempt(user.login, user.password)).status, 200, 'the owner is not locked out');
  });
});

describe('the audit of sign-ins', () => {
  test('failed sign-ins are recorded with the login and IP, and nothing secret', async () => {
    const { user } = await registeredScript(app.url);
    const ip = newIp();
    await (await scriptFrom(ip)).attempt(user.login, 'wrong password secret-ish');
    const { rows } = await app.db.query("SELECT * FROM security.events WHERE type = 'sign_in_failed' AND login = $1", [user.login]);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].ip, ip);
    assert.doesNotMatch(JSON.stringify(rows), /secret-ish/);
  });

  test('a sign-in writes one security.sessions row (user, handle, IP, user agent, time)', async () => {
    const { user, id } = await registeredScript(app.url);
    const ip = newIp();
    const { client } = await scriptFrom(ip);
    await client.postJson('/login', { login: user.login, password: user.password }, { headers: { 'x-forwarded-for': ip, 'user-agent': 'TestAgent/1.0' } });
    const { rows } = await app.db.query('SELECT * FROM security.sessions WHERE user_id = $1 AND ip = $2', [id, ip]);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].user_agent, 'TestAgent/1.0');
    assert.ok(rows[0].handle.length >= 20);
    assert.ok(rows[0].started_at instanceof Date);
    const sid = decodeURIComponent(client.cookies.get('sid')!).slice(2).split('.')[0];
    assert.notEqual(rows[0].handle, sid);
  });
});
