import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { Manager } from 'socket.io-client';
import { PUBLIC_ROUTES } from '../src/app.js';
import { Client, registeredScript } from './support/client.js';
import { connected, connectError, disconnected, next, openSocket, type ChatClient } from './support/sockets.js';
import { signedInAdmin, startTestApp, type TestApp } from './support/test-app.js';

let app: TestApp;
before(async () => (app = await startTestApp({ env: { LOGIN_MAX_FAILURES: '1000', LOGIN_IP_DAILY_FAILURES: '1000000' } })));
after(() => app.close());

const opened: ChatClient[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.disconnect();
});

async function tokenSignIn(login: string, password: string, base = app.url) {
  const client = new Client(base, 'script');
  const reply = await client.postJson('/api/auth/login', { login, password, fingerprint: 'device-1' }, { csrf: false });
  return { client, reply, accessToken: reply.json?.accessToken as string };
}

const me = (token: string, base = app.url) => new Client(base, 'script').get('/api/me', { authorization: `Bearer ${token}` });
const refresh = (client: Client) => client.postJson('/api/auth/refresh-tokens', { fingerprint: 'device-1' }, { csrf: false });

async function tokenSocket(accessToken: string, base = app.url) {
  const socket = openSocket(base, undefined, { auth: { token: accessToken } });
  opened.push(socket);
  await next(socket, 'chat:history');
  return socket;
}

async function browserSocket(client: Client) {
  const c = await connected(app.url, client);
  opened.push(c.socket);
  return c.socket;
}

/** A user signed in twice: a browser session with a socket, and a token sign-in with a socket. */
async function signedInBothWays() {
  const browser = await registeredScript(app.url);
  const token = await tokenSignIn(browser.user.login, browser.user.password);
  assert.equal(token.reply.status, 200);
  const [bSocket, tSocket] = await Promise.all([browserSocket(browser.client), tokenSocket(token.accessToken)]);
  return { ...browser, token, bSocket, tSocket };
}

const liveFamilies = async (userId: number) =>
  (await app.db.query('SELECT count(DISTINCT family_id)::int AS n FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL', [userId])).rows[0].n as number;
const liveSessions = async (userId: number) => (await app.db.query('SELECT count(*)::int AS n FROM express_sessions WHERE user_id = $1', [userId])).rows[0].n as number;
const events = async (type: string, userId: number) => (await app.db.query('SELECT * FROM security.events WHERE type = $1 AND user_id = $2', [type, userId])).rows;

describe('every end cause goes through the lifecycle: rows, refresh tokens, sockets and one audit event together', () => {
  test('logout (browser): the session row, its socket, one `logout` event; the token sign-in lives on', async () => {
    const u = await signedInBothWays();
    const gone = disconnected(u.bSocket, 1000);
    assert.equal((await u.client.postJson('/logout', {})).status, 204);
    await gone;
    assert.equal(await liveSessions(u.id), 0);
    assert.equal(await liveFamilies(u.id), 1);
    assert.ok(u.tSocket.connected);
    assert.equal((await events('logout', u.id)).length, 1);
  });

  test('logout (token API): the family, its access tokens and its socket, one `logout` event', async () => {
    const u = await signedInBothWays();
    const gone = disconnected(u.tSocket, 1000);
    assert.equal((await u.token.client.postJson('/api/auth/logout', {}, { csrf: false })).status, 204);
    await gone;
    assert.equal(await liveFamilies(u.id), 0);
    assert.equal((await me(u.token.accessToken)).status, 401);
    assert.ok(u.bSocket.connected);
    assert.equal((await events('logout', u.id)).length, 1);
  });

  test('logout_everywhere: every session, every family, every socket, one event', async () => {
    const u = await signedInBothWays();
    const gone = Promise.all([disconnected(u.bSocket, 1000), disconnected(u.tSocket, 1000)]);
    assert.equal((await u.client.postJson('/logout', { everywhere: '1' })).status, 204);
    await gone;
    assert.equal(await liveSessions(u.id), 0);
    assert.equal(await liveFamilies(u.id), 0);
    assert.equal((await me(u.token.accessToken)).status, 401);
    const audit = await events('logout_everywhere', u.id);
    assert.equal(audit.length, 1);
    assert.deepEqual([audit[0].detail.sessions, audit[0].detail.tokenSignIns], [1, 1]);
  });

  test('revoked: an app sign-in is listed with the browser ones and revoking it kills its refresh token, access token and socket within 1 s', async () => {
    const u = await signedInBothWays();
    const { sessions } = (await u.client.get('/account/sessions')).json;
    assert.deepEqual(sessions.map((s: any) => s.kind).sort(), ['app', 'browser']);
    const appSignIn = sessions.find((s: any) => s.kind === 'app');
    assert.equal(appSignIn.current, false);
    assert.equal(appSignIn.sockets, 1);
    assert.match(appSignIn.handle, /^[A-Za-z0-9_-]{22}$/);

    const gone = disconnected(u.tSocket, 1000);
    assert.equal((await u.client.postJson(`/account/sessions/${appSignIn.handle}/revoke`, {})).status, 204);
    await gone;
    assert.equal((await refresh(u.token.client)).status, 401);
    assert.equal((await me(u.token.accessToken)).status, 401);
    assert.ok(u.bSocket.connected, 'the browser session is untouched');
    const audit = await events('revoked', u.id);
    assert.equal(audit.length, 1);
    assert.equal(audit[0].session_handle, appSignIn.handle);
    const record = (await app.db.query('SELECT end_reason FROM security.sessions WHERE handle = $1', [appSignIn.handle])).rows[0];
    assert.equal(record.end_reason, 'revoked');
  });

  test('password_changed: everything but the new session here, one event', async () => {
    const u = await signedInBothWays();
    const gone = Promise.all([disconnected(u.bSocket, 1000), disconnected(u.tSocket, 1000)]);
    const reply = await u.client.postJson('/account/password', { currentPassword: u.user.password, newPassword: 'a completely new phrase 7' });
    assert.equal(reply.status, 200);
    await gone;
    assert.equal(await liveSessions(u.id), 1, 'only the new session of the changer');
    assert.equal(await liveFamilies(u.id), 0);
    assert.equal((await events('password_changed', u.id)).length, 1);
  });

  test('expired: the sweeper ends idle sessions and token families that ran out, closes their records and sockets', async () => {
    const u = await signedInBothWays();
    await app.db.query("UPDATE express_sessions SET expire = now() - interval '1 second' WHERE user_id = $1", [u.id]);
    await app.db.query("UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1", [u.id]);
    const gone = Promise.all([disconnected(u.bSocket, 1000), disconnected(u.tSocket, 1000)]);
    await app.application.signIns.endExpired();
    await gone;
    const records = (await app.db.query('SELECT kind, end_reason FROM security.sessions WHERE user_id = $1 ORDER BY kind', [u.id])).rows;
    assert.deepEqual(records, [
      { kind: 'app', end_reason: 'expired' },
      { kind: 'browser', end_reason: 'expired' },
    ]);
    assert.equal((await events('expired', u.id)).length, 1);
  });
});

describe('disabled: an administrator disabling a user ends every sign-in at once', () => {
  test('sessions, refresh tokens, access tokens and sockets end with one `disabled` event naming the administrator; the right password then gets 403 account_disabled', async () => {
    const u = await signedInBothWays();
    const admin = await signedInAdmin(app);
    const gone = Promise.all([disconnected(u.bSocket, 1000), disconnected(u.tSocket, 1000)]);
    assert.equal((await admin.client.postJson(`/admin/users/${u.id}/disable`, {})).status, 204);
    await gone;
    assert.equal(await liveSessions(u.id), 0);
    assert.equal(await liveFamilies(u.id), 0);
    const token = await me(u.token.accessToken);
    assert.equal(token.status, 401);
    assert.equal(token.json.error.code, 'invalid_token');
    assert.equal((await refresh(u.token.client)).status, 401, 'refreshes fail');
    const audit = await events('disabled', u.id);
    assert.equal(audit.length, 1);
    assert.equal(audit[0].actor_id, admin.id);

    const browser = new Client(app.url, 'script');
    await browser.fetchCsrf();
    const right = await browser.postJson('/login', { login: u.user.login, password: u.user.password });
    assert.equal(right.status, 403);
    assert.equal(right.json.error.code, 'account_disabled');
    assert.equal((await browser.postJson('/login', { login: u.user.login, password: 'not the password' })).json.error.code, 'wrong_credentials');
    assert.equal((await tokenSignIn(u.user.login, u.user.password)).reply.json.error.code, 'account_disabled');

    assert.equal((await admin.client.postJson(`/admin/users/${u.id}/enable`, {})).status, 204);
    assert.equal((await browser.postJson('/login', { login: u.user.login, password: u.user.password })).status, 200);
    assert.equal((await events('enabled', u.id))[0].actor_id, admin.id);
  });

  test('an administrator cannot disable themself; unknown or malformed ids are 404', async () => {
    const admin = await signedInAdmin(app);
    const self = await admin.client.postJson(`/admin/users/${admin.id}/disable`, {});
    assert.equal(self.status, 403);
    assert.equal(self.json.error.code, 'forbidden');
    assert.equal((await admin.client.get('/')).json.user.login, admin.user.login, 'still signed in');
    for (const id of ['999999999', 'abc', '1e3', '%00']) assert.equal((await admin.client.postJson(`/admin/users/${id}/disable`, {})).status, 404, id);
  });

  test('an HTML form gets 303 to /admin', async () => {
    const target = await registeredScript(app.url);
    const admin = await signedInAdmin(app);
    const browser = admin.client.rebase(app.url);
    const reply = await browser.request('POST', `/admin/users/${target.id}/disable`, {
      body: new URLSearchParams({ _csrf: admin.client.csrfToken }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', origin: app.url },
    });
    assert.equal(reply.status, 303);
    assert.equal(reply.location, '/admin');
  });
});

describe('role grants and revocations from /admin reach live sign-ins at their next request', () => {
  test('granting admin opens /admin to the user’s live session without a new sign-in; revoking closes it at once; both audited with the actor', async () => {
    const target = await registeredScript(app.url);
    const admin = await signedInAdmin(app);
    assert.equal((await target.client.get('/admin')).status, 403);
    assert.equal((await admin.client.postJson(`/admin/users/${target.id}/roles`, { role: 'admin' })).status, 204);
    assert.equal((await target.client.get('/admin')).status, 200, 'at the next request');
    assert.deepEqual((await target.client.get('/')).json.user.roles, ['admin']);
    assert.equal((await admin.client.postJson(`/admin/users/${target.id}/roles/admin/revoke`, {})).status, 204);
    assert.equal((await target.client.get('/admin')).status, 403, 'a revoked admin is refused at once');
    const audit = (await app.db.query("SELECT type, actor_id FROM security.events WHERE user_id = $1 AND type LIKE 'role_%' ORDER BY id", [target.id])).rows;
    assert.deepEqual(audit, [
      { type: 'role_granted', actor_id: admin.id },
      { type: 'role_revoked', actor_id: admin.id },
    ]);
  });

  test('dates: a grant starting tomorrow is not active yet; YYYY-MM-DD and date-times parse; an end before the start, a bad date or an unknown role is 400 with fields', async () => {
    const target = await registeredScript(app.url);
    const admin = await signedInAdmin(app);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    assert.equal((await admin.client.postJson(`/admin/users/${target.id}/roles`, { role: 'admin', startsAt: tomorrow })).status, 204);
    assert.equal((await target.client.get('/admin')).status, 403);
    const stored = (await app.db.query('SELECT starts_at FROM user_roles WHERE user_id = $1', [target.id])).rows[0].starts_at;
    assert.equal(stored.toISOString(), `${tomorrow}T00:00:00.000Z`, 'a date means 00:00 UTC');
    assert.equal((await admin.client.postJson(`/admin/users/${target.id}/roles`, { role: 'admin', startsAt: '2020-01-01T00:00:00Z', endsAt: '2099-01-01T12:00:00+02:00' })).status, 204);
    assert.equal((await target.client.get('/admin')).status, 200);
    for (const [body, field] of [
      [{ role: 'admin', startsAt: '2030-01-02', endsAt: '2030-01-01' }, 'endsAt'],
      [{ role: 'admin', startsAt: 'tomorrow' }, 'startsAt'],
      [{ role: 'admin', endsAt: '2030-02-31' }, 'endsAt'],
      [{ role: 'wizard' }, 'role'],
      [{ role: ['admin'] }, 'role'],
      [{}, 'role'],
    ] as const) {
      const reply = await admin.client.postJson(`/admin/users/${target.id}/roles`, body);
      assert.equal(reply.status, 400, JSON.stringify(body));
      assert.equal(reply.json.error.code, 'invalid_input');
      assert.ok(reply.json.error.fields[field], `${JSON.stringify(body)} names ${field}`);
    }
  });

  test('no administrator can revoke their own admin role; unknown users and roles are 404', async () => {
    const admin = await signedInAdmin(app);
    const own = await admin.client.postJson(`/admin/users/${admin.id}/roles/admin/revoke`, {});
    assert.equal(own.status, 403);
    assert.equal(own.json.error.code, 'forbidden');
    assert.equal((await admin.client.get('/admin')).status, 200, 'nothing changed');
    assert.equal((await admin.client.postJson('/admin/users/999999999/roles', { role: 'admin' })).status, 404);
    assert.equal((await admin.client.postJson(`/admin/users/${admin.id}/roles/nobody-has-this/revoke`, {})).status, 404);
    assert.equal((await admin.client.postJson(`/admin/users/${admin.id}/roles/%00/revoke`, {})).status, 404);
  });
});

describe('the audit list on /admin', () => {
  test('shows the user’s login and, for administrator actions, the administrator’s; filters by user and type; pages with a cursor', async () => {
    const target = await registeredScript(app.url);
    const admin = await signedInAdmin(app);
    await admin.client.postJson(`/admin/users/${target.id}/unlock`, {});
    const mine = (await admin.client.get(`/admin?user=${target.id}&type=unlock`)).json;
    assert.equal(mine.events.length, 1);
    assert.deepEqual([mine.events[0].type, mine.events[0].userLogin, mine.events[0].actorLogin], ['unlock', target.user.login, admin.user.login]);
    const page = new Client(app.url);
    for (const [k, v] of admin.client.cookies) page.cookies.set(k, v);
    const html = await page.get(`/admin?user=${target.id}`);
    assert.ok(html.text.includes(admin.user.login) && html.text.includes('unlock'));

    for (let i = 0; i < 3; i++) await admin.client.postJson(`/admin/users/${target.id}/unlock`, {});
    const all = (await admin.client.get(`/admin?user=${target.id}&type=unlock`)).json.events.map((e: { id: number }) => e.id);
    assert.equal(all.length, 4);
    const older = (await admin.client.get(`/admin?user=${target.id}&type=unlock&before=${all[1]}`)).json.events.map((e: { id: number }) => e.id);
    assert.deepEqual(older, all.slice(2));
    for (const bad of ['user=abc', 'type=DROP%20TABLE', 'before=-1', 'user=1&user=2']) {
      const reply = await admin.client.get(`/admin?${bad}`);
      assert.equal(reply.status, 400, bad);
      assert.equal(reply.json.error.code, 'invalid_input');
    }
  });
});

describe('deleting the account, and exporting its data', () => {
  test('deleted: every sign-in ends, the rows go, messages stay as "Deleted user", the audit keeps its events, the login and email are free', async () => {
    const u = await signedInBothWays();
    const { send } = await import('./support/sockets.js');
    assert.equal((await send(u.bSocket, { text: 'my last words' })).ok, true);
    const wrong = await u.client.postJson('/account/delete', { currentPassword: 'not my password' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error.code, 'wrong_credentials');
    assert.equal(await liveSessions(u.id), 1, 'a wrong password deletes nothing');

    const gone = Promise.all([disconnected(u.bSocket, 1000), disconnected(u.tSocket, 1000)]);
    assert.equal((await u.client.postJson('/account/delete', { currentPassword: u.user.password })).status, 204);
    await gone;
    assert.equal(await liveSessions(u.id), 0);
    assert.equal((await me(u.token.accessToken)).status, 401);
    assert.equal((await app.db.query('SELECT count(*)::int AS n FROM users WHERE id = $1', [u.id])).rows[0].n, 0);
    const kept = (await app.db.query("SELECT count(*)::int AS n FROM security.events WHERE type = 'deleted' AND detail->>'login' = $1", [u.user.login])).rows[0].n;
    assert.equal(kept, 1, 'the audit keeps the event');
    const watcher = await registeredScript(app.url);
    const history = (await watcher.client.get('/chat', { accept: 'application/json' })).json.messages;
    const last = history.find((m: { text: string }) => m.text === 'my last words');
    assert.deepEqual(last.user, { id: null, login: null, name: 'Deleted user' });
    const again = new Client(app.url, 'script');
    await again.fetchCsrf();
    assert.equal((await again.postJson('/register', { ...u.user })).status, 201, 'the login and email are free again');
  });

  test('deleting the account while a sign-in of it is committing: neither deadlocks, both are answered, and the new session is not signed in', async () => {
    const { client, user } = await registeredScript(app.url);
    const { rows: [{ id }] } = await app.db.query('SELECT id FROM users WHERE login = $1', [user.login]);
    const waiting = async (n: number) => {
      for (;;) {
        const { rows } = await app.db.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
        if (rows[0].n >= n) return;
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    // Hold the sign-in in its transaction (it has the user's row, not yet the attempt counters) at
    // its device step, while the deletion starts: the two must take the row and the counters in one order.
    const hold = await app.db.connect();
    try {
      await hold.query('BEGIN');
      await hold.query('SELECT 1 FROM user_devices WHERE user_id = $1 FOR UPDATE', [id]);
      const same = new Client(app.url, 'script');
      same.cookies.set('device', client.cookies.get('device')!);
      await same.fetchCsrf();
      const signIn = same.postJson('/login', { login: user.login, password: user.password });
      await waiting(1);
      const deletion = client.postJson('/account/delete', { currentPassword: user.password });
      await waiting(2);
      await hold.query('COMMIT');
      const [signedIn, deleted] = await Promise.all([signIn, deletion]);
      assert.equal(signedIn.status, 200, signedIn.text);
      assert.equal(deleted.status, 204, deleted.text);
      assert.equal((await same.get('/account')).status, 401, 'the account is gone: its new session signs nobody in');
    } finally {
      hold.release();
    }
    assert.equal((await app.db.query('SELECT count(*)::int AS n FROM users WHERE id = $1', [id])).rows[0].n, 0);
  });

  test('export: one JSON download of the user’s own data, with no hash, token or session id', async () => {
    const u = await signedInBothWays();
    const reply = await u.client.get('/account/export');
    assert.equal(reply.status, 200);
    assert.match(reply.headers.get('content-disposition') ?? '', /^attachment/);
    assert.deepEqual(Object.keys(reply.json).sort(), ['messages', 'passkeys', 'roles', 'securityEvents', 'signIns', 'user']);
    assert.equal(reply.json.user.login, u.user.login);
    assert.equal(reply.json.signIns.length, 2);
    assert.ok(reply.json.securityEvents.some((e: { type: string }) => e.type === 'sign_in'));
    const text = reply.text;
    const sid = decodeURIComponent(u.client.cookies.get('sid')!).slice(2).split('.')[0]!;
    assert.ok(!text.includes(sid), 'no session id');
    assert.doesNotMatch(text, /\$2[aby]\$/, 'no password hash');
    assert.ok(!text.includes(u.token.accessToken) && !text.includes(u.token.client.cookies.get('refreshToken')!), 'no token');
  });
});

describe('a sign-in that checked a password which has since changed', () => {
  test('parallel sign-ins with the old password around a password change leave no live session or refresh token', async () => {
    const { client, user, id } = await registeredScript(app.url);
    const attempts: Promise<unknown>[] = [];
    for (let i = 0; i < 30; i++) {
      attempts.push(tokenSignIn(user.login, user.password));
      const browser = new Client(app.url, 'script');
      attempts.push(browser.fetchCsrf().then(() => browser.postJson('/login', { login: user.login, password: user.password })));
    }
    const change = client.postJson('/account/password', { currentPassword: user.password, newPassword: 'the replacement phrase 5' });
    const [changed] = await Promise.all([change, ...attempts]);
    assert.equal((changed as { status: number }).status, 200);
    assert.equal(await liveSessions(id), 1, 'only the session of the one who changed it');
    assert.equal(await liveFamilies(id), 0);
  });
});

describe('the handshake', () => {
  test('a socket whose session ends between the engine handshake and the Socket.IO connect is refused unauthorized', async () => {
    const { client } = await registeredScript(app.url);
    const manager = new Manager(app.url, {
      path: '/socket.io',
      transports: ['websocket'],
      reconnection: false,
      autoConnect: false,
      extraHeaders: { cookie: client.cookieHeader(), origin: app.url },
    });
    await new Promise<void>((resolve, reject) => manager.open((err) => (err ? reject(err) : resolve())));
    // The engine's handshake read the session; now it ends, before the client's CONNECT.
    assert.equal((await client.postJson('/logout', {})).status, 204);
    const socket = manager.socket('/') as unknown as ChatClient;
    let history = false;
    socket.on('chat:history', () => (history = true));
    socket.connect();
    assert.equal((await connectError(socket)).message, 'unauthorized');
    assert.equal(history, false);
    manager.engine?.close();
  });
});

describe('an expired password restricts token sign-ins too', () => {
  test('an administrator expiring it: /api/me and refresh answer 403 password_expired, the token socket closes and cannot come back', async () => {
    const u = await signedInBothWays();
    const { client: adminClient } = await signedInAdmin(app);

    const gone = Promise.all([disconnected(u.tSocket, 1000), disconnected(u.bSocket, 1000)]);
    assert.equal((await adminClient.postJson(`/admin/users/${u.id}/expire-password`, {})).status, 204);
    await gone;
    const mine = await me(u.token.accessToken);
    assert.equal(mine.status, 403);
    assert.equal(mine.json.error.code, 'password_expired');
    const rotated = await refresh(u.token.client);
    assert.equal(rotated.status, 403);
    assert.equal(rotated.json.error.code, 'password_expired');
    const again = openSocket(app.url, undefined, { auth: { token: u.token.accessToken } });
    opened.push(again);
    assert.equal((await connectError(again)).message, 'unauthorized');
    const signIn = await tokenSignIn(u.user.login, u.user.password);
    assert.equal(signIn.reply.status, 403);
    assert.equal(signIn.reply.json.error.code, 'password_expired');
  });
});

describe('roles are judged at each request', () => {
  test('a role whose end date passes stops working in a live session', async () => {
    const { client, id, user } = await registeredScript(app.url);
    await app.db.query("INSERT INTO user_roles (user_id, role, ends_at) VALUES ($1, 'admin', now() + interval '1500 milliseconds')", [id]);
    const admin = new Client(app.url, 'script');
    await admin.fetchCsrf();
    const me = (await client.get('/')).json.user;
    assert.deepEqual(me.roles, [], 'the grant came after this session started: it is not in it');
    const login = await admin.postJson('/login', { login: me.login, password: user.password });
    assert.deepEqual(login.json.user.roles, ['admin']);
    assert.equal((await admin.get('/admin')).status, 200);
    const until = Date.now() + 5000;
    let status = 200;
    while (status === 200 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await admin.get('/admin')).status;
    }
    assert.equal(status, 403, 'refused once the grant ended, without signing in again');
    assert.deepEqual((await admin.get('/')).json.user.roles, []);
  });
});

describe('pages are protected unless declared public', () => {
  test('every wired route outside PUBLIC_ROUTES answers an anonymous script 401 unauthenticated', async () => {
    const stack = (app.application.app as unknown as { router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] } }).router.stack;
    const routes = stack.flatMap((layer) => (layer.route ? Object.keys(layer.route.methods).map((m) => `${m.toUpperCase()} ${layer.route!.path}`) : []));
    const guarded = routes.filter((r) => !(PUBLIC_ROUTES as readonly string[]).includes(r) && !r.includes('/api/') && !r.includes('/health') && !r.includes('/.well-known/') && !r.includes(' /public/'));
    assert.ok(guarded.length >= 8, `found ${guarded.length} protected routes`);
    const anonymous = new Client(app.url, 'script');
    await anonymous.fetchCsrf();
    for (const route of guarded) {
      const [method, path] = route.split(' ') as [string, string];
      const concrete = path.replace(/:handle/, 'A'.repeat(22)).replace(/:[a-z]+/g, '1');
      const reply = method === 'GET' ? await anonymous.get(concrete) : await anonymous.postJson(concrete, {});
      assert.equal(reply.status, 401, route);
      assert.equal(reply.json.error.code, 'unauthenticated', route);
    }
  });
});

describe('short-lived token settings', () => {
  let short: TestApp;
  before(async () => (short = await startTestApp({ env: { ACCESS_TOKEN_SECONDS: '5', PASSWORD_MAX_AGE_DAYS: '30' } })));
  after(() => short.close());

  test('a token socket is disconnected by the server after its token expires', async () => {
    const { user } = await registeredScript(short.url);
    const { accessToken, reply } = await tokenSignIn(user.login, user.password, short.url);
    assert.equal(reply.json.expiresIn, 5);
    const socket = await tokenSocket(accessToken, short.url);
    const reason = await disconnected(socket, 8000);
    assert.equal(reason, 'io server disconnect');
  });

  test('PASSWORD_MAX_AGE_DAYS restricts refresh, bearer requests and token sockets of a live token sign-in', async () => {
    const { user, id } = await registeredScript(short.url);
    const t = await tokenSignIn(user.login, user.password, short.url);
    assert.equal((await me(t.accessToken, short.url)).status, 200);
    await short.db.query("UPDATE users SET password_changed_at = now() - interval '31 days' WHERE id = $1", [id]);
    assert.equal((await me(t.accessToken, short.url)).json.error.code, 'password_expired');
    const rotated = await refresh(t.client);
    assert.equal(rotated.status, 403);
    assert.equal(rotated.json.error.code, 'password_expired');
    const socket = openSocket(short.url, undefined, { auth: { token: t.accessToken } });
    opened.push(socket);
    assert.equal((await connectError(socket)).message, 'unauthorized');
  });
});

describe('SESSION_SECRET rotation: A, then B,A, then B', () => {
  test('cookies, CSRF tokens and emailed codes made with A work under B,A and stop under B', async () => {
    const A = randomUUID() + randomUUID();
    const B = randomUUID() + randomUUID();
    const dataDir = `.data/test-rotation-${process.pid}`;
    const env = { REQUIRE_EMAIL_CONFIRMATION: 'true', DATA_DIR: dataDir };
    const first = await startTestApp({ env, sessionSecrets: [A] });
    const db = first.databaseUrl;
    // Under A: two signed-in sessions, and two emailed codes with the CSRF tokens of their forms.
    const kept = await registeredScriptConfirmed(first);
    const retired = await registeredScriptConfirmed(first);
    const pending = [await registerPending(first), await registerPending(first)];
    await first.close({ keepDatabase: true });
    const confirm = (base: string, p: (typeof pending)[number], csrf = p.csrf, cookie = p.cookie) =>
      new Client(base, 'script').postJson('/register/confirm', { email: p.email, code: p.code }, { csrf: false, headers: { 'x-csrf-token': csrf, cookie } });

    const both = await startTestApp({ env, sessionSecrets: [B, A], databaseUrl: db });
    try {
      assert.ok((await kept.client.rebase(both.url).get('/')).json.user, 'the session cookie signed with A works');
      assert.equal((await confirm(both.url, pending[0]!)).status, 200, 'the CSRF token and the code made with A work');
    } finally {
      await both.close({ keepDatabase: true });
    }

    const onlyB = await startTestApp({ env, sessionSecrets: [B], databaseUrl: db });
    try {
      assert.equal((await retired.client.rebase(onlyB.url).get('/')).json.user, null, 'the session cookie signed with A is retired');
      assert.equal((await confirm(onlyB.url, pending[1]!)).status, 403, 'the CSRF token made with A is retired');
      const fresh = new Client(onlyB.url, 'script');
      const csrf = await fresh.fetchCsrf();
      assert.equal((await confirm(onlyB.url, pending[1]!, csrf, fresh.cookieHeader())).status, 400, 'the code made with A is retired');
    } finally {
      await onlyB.close();
    }
  });
});

/** A confirmed, signed-in script user (confirmed directly in the database: codes are another test's). */
async function registeredScriptConfirmed(on: TestApp) {
  const client = new Client(on.url, 'script');
  await client.fetchCsrf();
  const login = `rot${Math.floor(Math.random() * 1e9)}`;
  const user = { login, email: `${login}@example.com`, password: 'a sturdy passphrase 42' };
  assert.equal((await client.postJson('/register', user)).status, 201);
  await on.db.query('UPDATE users SET email_confirmed = true WHERE login = $1', [login]);
  assert.equal((await client.postJson('/login', { login, password: user.password })).status, 200);
  await client.fetchCsrf();
  return { client, user };
}

/** Registers an unconfirmed user and reads its code from the outbox; returns what a form would post later. */
async function registerPending(on: TestApp) {
  const client = new Client(on.url, 'script');
  const csrf = await client.fetchCsrf();
  const login = `pend${Math.floor(Math.random() * 1e9)}`;
  const email = `${login}@example.com`;
  assert.equal((await client.postJson('/register', { login, email, password: 'a sturdy passphrase 42' })).status, 201);
  const { readdirSync, readFileSync, existsSync } = await import('node:fs');
  const outbox = `${on.config.dataDir}/outbox`;
  let code: string | undefined;
  const until = Date.now() + 5000;
  while (!code && Date.now() < until) {
    const mail = existsSync(outbox) ? readdirSync(outbox).map((f) => readFileSync(`${outbox}/${f}`, 'utf8')).find((m) => m.includes(`To: ${email}`)) : undefined;
    code = mail && /code is (\d{6})/.exec(mail)?.[1];
    if (!code) await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(code, 'the code arrived');
  return { email, code, csrf, cookie: client.cookieHeader() };
}
