import assert from 'node:assert/strict';
import bcrypt from 'bcrypt';
import { after, afterEach, before, describe, test } from 'node:test';
import { PasswordHasher } from '../src/auth/passwords.js';
import { Client, newUser, registeredBrowser, registeredScript } from './support/client.js';
import { connected, disconnected, next, send, type ChatClient } from './support/sockets.js';
import { startTestApp, type TestApp } from './support/test-app.js';

/** Attacks from outside, at once rather than one after another (the limits below are the contract's defaults or lowered for speed). */
let app: TestApp;
before(async () => (app = await startTestApp({ env: { TRUST_PROXY: 'true', LOGIN_MAX_FAILURES: '5', LOGIN_IP_DAILY_FAILURES: '20' } })));
after(() => app.close());

const opened: ChatClient[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.disconnect();
});

let ipCounter = 0;
/** A fresh address for each attacker, through X-Forwarded-For (TRUST_PROXY=true). */
const freshIp = () => `10.${Math.floor(++ipCounter / 250)}.${ipCounter % 250}.7`;
const from = (ip: string) => ({ 'x-forwarded-for': ip });
const tally = (statuses: number[]) => statuses.reduce<Record<number, number>>((t, s) => ({ ...t, [s]: (t[s] ?? 0) + 1 }), {});

async function formPoster(ip: string) {
  const client = new Client(app.url, 'script');
  await client.request('GET', '/csrf-token', { headers: { accept: 'application/json', ...from(ip) } }).then((r) => (client.csrfToken = r.json.csrfToken));
  return (path: string, body: Record<string, string>) => client.postJson(path, body, { headers: from(ip) });
}

const tokenLogin = (ip: string, login: string, password: string) =>
  new Client(app.url, 'script').postJson('/api/auth/login', { login, password, fingerprint: 'attacker' }, { csrf: false, headers: from(ip) });

describe('the failed-attempt limit holds under concurrency', () => {
  test('50 parallel wrong passwords on /login: at most LOGIN_MAX_FAILURES are checked, the rest get 429', async () => {
    const { user } = await registeredScript(app.url);
    const post = await formPoster(freshIp());
    const replies = await Promise.all(Array.from({ length: 50 }, () => post('/login', { login: user.login, password: 'not the password at all' })));
    const t = tally(replies.map((r) => r.status));
    assert.equal(t[401], 5, JSON.stringify(t));
    assert.equal(t[429], 45, JSON.stringify(t));
    assert.ok(replies.filter((r) => r.status === 429).every((r) => Number(r.headers.get('retry-after')) > 0));
  });

  test('50 parallel wrong passwords on /api/auth/login: the same', async () => {
    const { user } = await registeredScript(app.url);
    const ip = freshIp();
    const t = tally((await Promise.all(Array.from({ length: 50 }, () => tokenLogin(ip, user.login, 'not the password at all')))).map((r) => r.status));
    assert.deepEqual(t, { 401: 5, 429: 45 });
  });

  test('50 parallel wrong passwords after a success from the same IP (every counter already exists): the same', async () => {
    const { user } = await registeredScript(app.url);
    const ip = freshIp();
    assert.equal((await tokenLogin(ip, user.login, user.password)).status, 200);
    const t = tally((await Promise.all(Array.from({ length: 50 }, () => tokenLogin(ip, user.login, 'not the password at all')))).map((r) => r.status));
    assert.deepEqual(t, { 401: 5, 429: 45 });
    const failed = await app.db.query("SELECT count(*)::int AS n FROM security.events WHERE type = 'sign_in_failed' AND login = $1", [user.login]);
    assert.equal(failed.rows[0].n, 5, 'five passwords were checked');
  });

  test('mixed, 25 on each route: one limit for the pair', async () => {
    const { user } = await registeredScript(app.url);
    const ip = freshIp();
    const post = await formPoster(ip);
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 ? post('/login', { login: user.login, password: 'nope nope nope' }) : tokenLogin(ip, user.login, 'nope nope nope'))),
    );
    assert.deepEqual(tally(replies.map((r) => r.status)), { 401: 5, 429: 45 });
  });

  test('an unknown login is throttled exactly like a known one', async () => {
    const ip = freshIp();
    const t = tally((await Promise.all(Array.from({ length: 20 }, () => tokenLogin(ip, 'nobody_by_that_name', 'whatever it is')))).map((r) => r.status));
    assert.deepEqual(t, { 401: 5, 429: 15 });
  });

  test('200 parallel failures from one IP against many logins: the day’s limit (LOGIN_IP_DAILY_FAILURES) holds', async () => {
    const ip = freshIp();
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => tokenLogin(ip, `ghost_${i}`, 'guessing away')));
    assert.deepEqual(tally(replies.map((r) => r.status)), { 401: 20, 429: 180 });
    const blocked = replies.find((r) => r.status === 429)!;
    assert.ok(Number(blocked.headers.get('retry-after')) > 3600, 'blocked for the rest of the day');
  });

  test('20 parallel wrong current passwords on /account/password: at most 5 are checked', async () => {
    const { client, user } = await registeredScript(app.url);
    const replies = await Promise.all(
      Array.from({ length: 20 }, () => client.postJson('/account/password', { currentPassword: 'not it at all', newPassword: 'a fresh phrase 123' })),
    );
    assert.deepEqual(tally(replies.map((r) => r.status)), { 400: 5, 429: 15 });
    const failed = await app.db.query("SELECT count(*)::int AS n FROM security.events WHERE type = 'password_change_failed' AND login = $1", [user.login]);
    assert.equal(failed.rows[0].n, 5, 'each checked failure is audited');
  });

  test('a success releases its reservation: the pair count is cleared', async () => {
    const { user } = await registeredScript(app.url);
    const ip = freshIp();
    for (let i = 0; i < 4; i++) assert.equal((await tokenLogin(ip, user.login, 'wrong wrong wrong')).status, 401);
    assert.equal((await tokenLogin(ip, user.login, user.password)).status, 200);
    const { rows } = await app.db.query('SELECT coalesce(sum(failures), 0)::int AS n, count(blocked_until)::int AS blocked FROM login_throttle WHERE key = $1', [`pair:${user.login}|${ip}`]);
    assert.deepEqual(rows[0], { n: 0, blocked: 0 });
    for (let i = 0; i < 4; i++) assert.equal((await tokenLogin(ip, user.login, 'wrong wrong wrong')).status, 401, 'a fresh count');
  });
});

describe('no lockout by strangers', () => {
  test('a stranger failing from rotating addresses slows new browsers, never the owner’s browser (device cookie) on a new network', async () => {
    const { client: owner, user } = await registeredBrowser(app.url);
    assert.ok(owner.cookies.get('device'), 'registration set the device cookie');
    // The stranger: one failure from each of many addresses, until the per-login delay answers 429.
    let throttled = false;
    for (let i = 0; i < 40 && !throttled; i++) throttled = (await tokenLogin(freshIp(), user.login, 'stranger guess')).status === 429;
    assert.ok(throttled, 'the per-login delay is on');

    const newIp = freshIp();
    const stranger = new Client(app.url);
    await stranger.request('GET', '/login', { headers: from(newIp) });
    const refused = await stranger.postForm('/login', { login: user.login, password: user.password }, { headers: from(newIp) });
    assert.equal(refused.status, 429, 'a browser this login never used waits, even with the right password');

    const ownerIp = freshIp();
    await owner.request('GET', '/login', { headers: from(ownerIp) });
    const signedIn = await owner.postForm('/login', { login: user.login, password: user.password }, { headers: from(ownerIp) });
    assert.equal(signedIn.status, 303, 'the owner’s browser is spared');
  });

  test('the device cookie: random, HttpOnly, SameSite=Lax, a year', async () => {
    const browser = new Client(app.url);
    await browser.get('/register');
    const reply = await browser.postForm('/register', newUser());
    const cookie = reply.setCookies.find((c) => c.startsWith('device='))!;
    assert.match(cookie, /^device=[A-Za-z0-9_-]{43};/);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Lax/);
    const maxAge = Number(/Max-Age=(\d+)/.exec(cookie)![1]);
    assert.ok(Math.abs(maxAge - 365 * 86400) < 60);
  });
});

describe('one user flooding chat cannot make the app unavailable to others', () => {
  test('a socket sending thousands of events is disconnected; other sign-ins, /health and messages are answered as usual', async () => {
    const flooder = await registeredScript(app.url);
    const { socket } = await connected(app.url, flooder.client);
    opened.push(socket);
    const calm = await registeredScript(app.url);
    const calmChat = await connected(app.url, calm.client);
    opened.push(calmChat.socket);

    const gone = disconnected(socket, 5000);
    for (let i = 0; i < 3000; i++) socket.emit('chat:send', { text: `flood ${i}` }, () => {});
    const health = Promise.all(Array.from({ length: 20 }, () => fetch(`${app.url}/health`).then((r) => r.status)));
    const signIn = new Client(app.url, 'script');
    await signIn.fetchCsrf();
    const login = signIn.postJson('/login', { login: calm.user.login, password: calm.user.password });
    const message = send(calmChat.socket, { text: 'still here' });

    assert.equal(await gone, 'io server disconnect', 'the flooder is cut off');
    assert.deepEqual([...new Set(await health)], [200]);
    assert.equal((await login).status, 200);
    assert.equal((await message).ok, true);
    const stored = await app.db.query('SELECT count(*)::int AS n FROM chat_messages WHERE user_id = $1', [flooder.id]);
    assert.ok(stored.rows[0].n <= 10, `at most the rate limit got stored (${stored.rows[0].n})`);
  });

  test('over the rate limit, chat:send answers rate_limited at once (from memory)', async () => {
    const { client } = await registeredScript(app.url);
    const { socket } = await connected(app.url, client);
    opened.push(socket);
    const replies = await Promise.all(Array.from({ length: 15 }, (_, i) => send(socket, { text: `m${i}` })));
    assert.equal(replies.filter((r) => r.ok).length, 10);
    assert.ok(replies.filter((r) => !r.ok).every((r) => !r.ok && r.error.code === 'rate_limited'));
  });
});

describe('a stored hash made at another cost', () => {
  test('is rehashed at the next successful sign-in', async () => {
    const { user, id } = await registeredScript(app.url);
    const old = await new PasswordHasher(5).hash(user.password);
    await app.db.query('UPDATE users SET password_hash = $2 WHERE id = $1', [id, old]);
    const version = (await app.db.query('SELECT credentials_version FROM users WHERE id = $1', [id])).rows[0].credentials_version;
    assert.equal((await tokenLogin(freshIp(), user.login, user.password)).status, 200);
    const { rows } = await app.db.query('SELECT password_hash, credentials_version FROM users WHERE id = $1', [id]);
    assert.equal(bcrypt.getRounds(rows[0].password_hash), 4, 'now at BCRYPT_COST');
    assert.equal(rows[0].credentials_version, version, 'the same password: no sign-in ends');
    assert.equal((await tokenLogin(freshIp(), user.login, user.password)).status, 200);
  });
});

describe('inputs that used to slip through', () => {
  for (const [returnTo, expected] of [
    ['/.//evil.example', '/'],
    ['/..//evil.example', '/'],
    ['//evil.example', '/'],
    ['/\\evil.example', '/'],
    ['https://evil.example/', '/'],
    ['/chat?x=1#y', '/chat?x=1#y'],
    ['/a/../chat', '/chat'],
  ] as const) {
    test(`returnTo=${returnTo} → ${expected}`, async () => {
      const { user } = await registeredScript(app.url);
      const browser = new Client(app.url);
      await browser.get(`/login?returnTo=${encodeURIComponent(returnTo)}`);
      const reply = await browser.postForm('/login', { login: user.login, password: user.password, returnTo });
      assert.equal(reply.status, 303);
      assert.equal(reply.location, expected);
    });
  }

  test('malformed path parameters are 404 or 400, never 500', async () => {
    const { client } = await registeredScript(app.url);
    for (const handle of ['%00', 'x'.repeat(300), '%E0%A4%A', '%', 'a%00b', '..']) {
      const reply = await client.postJson(`/account/sessions/${handle}/revoke`, {});
      assert.ok([400, 404].includes(reply.status), `${handle}: ${reply.status}`);
      assert.ok(['not_found', 'invalid_input'].includes(reply.json.error.code), handle);
    }
  });

  test('the six passwords of the report, and their kind, are refused as common', async () => {
    const client = new Client(app.url, 'script');
    await client.fetchCsrf();
    for (const password of ['987654321', '00000000', '123123123', '1111111111', 'abcdefgh', '12341234', 'ZYXWVUTSR', 'abcabcabc']) {
      const reply = await client.postJson('/register', newUser({ password }));
      assert.equal(reply.status, 400, password);
      assert.ok(reply.json.error.fields.password, password);
    }
  });

  test('Authorization: bearer in lower case is accepted (RFC 6750)', async () => {
    const { user } = await registeredScript(app.url);
    const token = (await tokenLogin(freshIp(), user.login, user.password)).json.accessToken;
    for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
      assert.equal((await new Client(app.url, 'script').get('/api/me', { authorization: `${scheme} ${token}` })).status, 200, scheme);
    }
  });

  test('/socket.io/ responses carry nosniff and the CSP', async () => {
    for (const path of ['/socket.io/?EIO=4&transport=polling', '/socket.io/socket.io.js']) {
      const reply = await fetch(app.url + path);
      assert.equal(reply.headers.get('x-content-type-options'), 'nosniff', path);
      assert.match(reply.headers.get('content-security-policy') ?? '', /object-src 'none'/, path);
      assert.equal(reply.headers.get('x-powered-by'), null);
      await reply.arrayBuffer();
    }
  });
});

describe('registration is throttled per IP before any hash is made', () => {
  let limited: TestApp;
  before(async () => (limited = await startTestApp({ env: { REGISTER_IP_HOURLY: '20' } })));
  after(() => limited.close());

  test('a burst of 25 from one address: 20 pass, then 429 too_many_attempts with Retry-After', async () => {
    const client = new Client(limited.url, 'script');
    await client.fetchCsrf();
    const replies = await Promise.all(Array.from({ length: 25 }, () => client.postJson('/register', newUser())));
    assert.deepEqual(tally(replies.map((r) => r.status)), { 201: 20, 429: 5 });
    const refused = replies.find((r) => r.status === 429)!;
    assert.equal(refused.json.error.code, 'too_many_attempts');
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    const users = await limited.db.query('SELECT count(*)::int AS n FROM users');
    assert.equal(users.rows[0].n, 20);
  });

  test('invalid registrations do not count', async () => {
    const client = new Client(limited.url, 'script');
    await client.fetchCsrf();
    const before = (await limited.db.query("SELECT hits FROM rate_counters WHERE key = 'register:127.0.0.1'")).rows[0]?.hits ?? 0;
    await client.postJson('/register', newUser({ email: 'not an email' }));
    const after = (await limited.db.query("SELECT hits FROM rate_counters WHERE key = 'register:127.0.0.1'")).rows[0]?.hits ?? 0;
    assert.equal(after, before);
  });
});

describe('a database outage while a socket is being set up', () => {
  let flaky: TestApp;
  before(async () => (flaky = await startTestApp({ proxy: true })));
  after(() => flaky.close());

  test('closes it as a transport close: the client reconnects by itself once the database answers', async () => {
    const { client } = await registeredScript(flaky.url);
    const { Manager } = await import('socket.io-client');
    const manager = new Manager(flaky.url, {
      path: '/socket.io',
      transports: ['websocket'],
      reconnectionDelay: 100,
      reconnectionDelayMax: 200,
      autoConnect: false,
      extraHeaders: { cookie: client.cookieHeader(), origin: flaky.url },
    });
    // The engine's handshake reads the session while the database answers; then it goes away
    // before the socket is set up (recorded on its session, history, presence).
    await new Promise<void>((resolve, reject) => manager.open((err) => (err ? reject(err) : resolve())));
    await flaky.proxy!.cut();
    const socket = manager.socket('/') as unknown as ChatClient;
    opened.push(socket);
    const errors: string[] = [];
    const reasons: string[] = [];
    socket.on('connect_error', (err) => errors.push(err.message));
    socket.on('disconnect', (reason) => reasons.push(reason));
    const transportClosed = new Promise<string>((resolve) => manager.once('close', (reason: string) => resolve(reason)));
    socket.connect();
    assert.equal(await transportClosed, 'transport close');
    await flaky.proxy!.restore();
    await next(socket, 'chat:history', 15_000);
    assert.ok(socket.connected);
    assert.ok(!errors.includes('unauthorized'), `never refused: ${errors.join(', ')}`);
    assert.ok(!reasons.includes('io server disconnect'), `never a server disconnect: ${reasons.join(', ')}`);
  });
});
