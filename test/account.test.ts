import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, registeredBrowser, registeredScript } from './support/client.js';
import { startTestApp, type TestApp } from './support/test-app.js';

let app: TestApp;
before(async () => (app = await startTestApp()));
after(() => app.close());

async function signIn(login: string, password: string, userAgent = 'SecondDevice/2.0') {
  const client = new Client(app.url, 'script');
  await client.fetchCsrf();
  const reply = await client.postJson('/login', { login, password }, { headers: { 'user-agent': userAgent } });
  assert.equal(reply.status, 200, reply.text);
  await client.fetchCsrf();
  return client;
}

const userIdOf = async (login: string) => (await app.db.query('SELECT id FROM users WHERE login = $1', [login])).rows[0].id as number;
const signedIn = async (client: Client) => (await client.get('/account/sessions')).status === 200;
const eventCount = async (type: string, userId: number) =>
  (await app.db.query('SELECT count(*)::int AS n FROM security.events WHERE type = $1 AND user_id = $2', [type, userId])).rows[0].n as number;

async function makeAdmin() {
  const admin = await registeredScript(app.url);
  await app.db.query("INSERT INTO user_roles (user_id, role) VALUES ($1, 'admin')", [admin.id]);
  const client = await signIn(admin.user.login, admin.user.password);
  return { ...admin, client };
}

describe('pages that need a signed-in user', () => {
  for (const path of ['/account/sessions', '/account/password', '/admin']) {
    test(`${path}: anonymous browsers are sent to /login?returnTo=, scripts get 401 unauthenticated`, async () => {
      const page = await new Client(app.url).get(path);
      assert.equal(page.status, 303);
      assert.equal(page.location, `/login?returnTo=${encodeURIComponent(path)}`);
      const json = await new Client(app.url, 'script').get(path);
      assert.equal(json.status, 401);
      assert.equal(json.json.error.code, 'unauthenticated');
    });
  }
});

describe('GET /account/sessions', () => {
  test('lists the live sessions with start, last seen, IP, browser, which one is this, open sockets; handles are not session ids', async () => {
    const { client, user } = await registeredScript(app.url);
    const second = await signIn(user.login, user.password, 'Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0');
    const reply = await client.get('/account/sessions');
    assert.equal(reply.status, 200);
    const { sessions } = reply.json;
    assert.equal(sessions.length, 2);
    const current = sessions.find((s: any) => s.current);
    const other = sessions.find((s: any) => !s.current);
    assert.ok(current && other);
    assert.equal(other.client, 'Firefox on Linux');
    assert.deepEqual(Object.keys(other).sort(), ['client', 'current', 'handle', 'ip', 'kind', 'lastSeenAt', 'sockets', 'startedAt']);
    assert.equal(other.kind, 'browser');
    for (const s of sessions) {
      assert.ok(Date.parse(s.startedAt) && Date.parse(s.lastSeenAt));
      assert.equal(s.ip, '127.0.0.1');
      assert.equal(s.sockets, 0);
      for (const c of [client, second]) assert.ok(!decodeURIComponent(c.cookies.get('sid')!).includes(s.handle));
    }

    const html = new Client(app.url);
    for (const [k, v] of client.cookies) html.cookies.set(k, v);
    const page = await html.get('/account/sessions');
    assert.match(page.text, /this session/);
    assert.match(page.text, /Firefox on Linux/);
    assert.equal((page.text.match(/\/revoke"/g) ?? []).length, 2);
  });

  test('revoking another session ends it (its cookie becomes anonymous) and leaves this one', async () => {
    const { client, user, id } = await registeredScript(app.url);
    const second = await signIn(user.login, user.password);
    const other = (await client.get('/account/sessions')).json.sessions.find((s: any) => !s.current);
    const reply = await client.postJson(`/account/sessions/${other.handle}/revoke`, {});
    assert.equal(reply.status, 204);
    assert.equal(await signedIn(second), false);
    assert.equal(await signedIn(client), true);
    const { rows } = await app.db.query('SELECT end_reason, ended_at FROM security.sessions WHERE handle = $1', [other.handle]);
    assert.equal(rows[0].end_reason, 'revoked');
    assert.ok(rows[0].ended_at);
    assert.equal(await eventCount('revoked', id), 1);
  });

  test('revoking the current session signs out here: 303 to / with the cookie cleared', async () => {
    const { client } = await registeredBrowser(app.url);
    const page = await client.get('/account/sessions');
    const handle = /\/account\/sessions\/([^/]+)\/revoke/.exec(page.text)![1];
    const reply = await client.postForm(`/account/sessions/${handle}/revoke`, {});
    assert.equal(reply.status, 303);
    assert.equal(reply.location, '/');
    assert.equal(client.cookies.get('sid'), undefined);
  });

  test("another user's handle, or an unknown one, is 404 and ends nothing", async () => {
    const alice = await registeredScript(app.url);
    const bob = await registeredScript(app.url);
    const bobHandle = (await bob.client.get('/account/sessions')).json.sessions[0].handle;
    const reply = await alice.client.postJson(`/account/sessions/${bobHandle}/revoke`, {});
    assert.equal(reply.status, 404);
    assert.equal(reply.json.error.code, 'not_found');
    assert.equal(await signedIn(bob.client), true);
    assert.equal((await alice.client.postJson('/account/sessions/nope/revoke', {})).status, 404);
  });
});

describe('POST /logout everywhere=1', () => {
  test('ends every session of the user, with one audit event', async () => {
    const { client, user } = await registeredBrowser(app.url);
    const id = await userIdOf(user.login);
    const second = await signIn(user.login, user.password);
    const reply = await client.postForm('/logout', { everywhere: '1' });
    assert.equal(reply.status, 303);
    assert.equal(await signedIn(second), false);
    assert.equal(client.cookies.get('sid'), undefined);
    assert.equal(await eventCount('logout_everywhere', id), 1, 'one event for every sign-in it ended');
  });
});

describe('changing the password', () => {
  test('needs the current password; refuses weak ones with field errors', async () => {
    const { client, user } = await registeredScript(app.url);
    const wrong = await client.postJson('/account/password', { currentPassword: 'not it at all', newPassword: 'a brand new phrase 9' });
    assert.equal(wrong.status, 400);
    assert.ok(wrong.json.error.fields.currentPassword);
    const weak = await client.postJson('/account/password', { currentPassword: user.password, newPassword: 'password1' });
    assert.equal(weak.status, 400);
    assert.match(weak.json.error.fields.newPassword, /common/);
    const same = await client.postJson('/account/password', { currentPassword: user.password, newPassword: user.password });
    assert.equal(same.status, 400);
  });

  test('gives a new session id, ends every other session, and the new password works', async () => {
    const { client, user } = await registeredBrowser(app.url);
    const id = await userIdOf(user.login);
    const second = await signIn(user.login, user.password);
    const before = client.cookies.get('sid');
    await client.get('/account/password');
    const reply = await client.postForm('/account/password', { currentPassword: user.password, newPassword: 'a brand new phrase 9' });
    assert.equal(reply.status, 303);
    assert.equal(reply.location, '/');
    assert.ok(client.cookies.get('sid'));
    assert.notEqual(client.cookies.get('sid'), before);
    assert.equal(await signedIn(second), false);
    assert.equal(await signedIn(client), true);
    assert.equal(await eventCount('password_changed', id), 1, 'one event: the change and every sign-in it ended');
    const fresh = new Client(app.url, 'script');
    await fresh.fetchCsrf();
    assert.equal((await fresh.postJson('/login', { login: user.login, password: user.password })).status, 401);
    assert.equal((await fresh.postJson('/login', { login: user.login, password: 'a brand new phrase 9' })).status, 200);
  });
});

describe('roles', () => {
  test('only roles active at sign-in are loaded: past and future grants are not', async () => {
    const { user, id } = await registeredScript(app.url);
    await app.db.query("INSERT INTO roles (name) VALUES ('past'), ('future'), ('current') ON CONFLICT DO NOTHING");
    await app.db.query(
      `INSERT INTO user_roles (user_id, role, starts_at, ends_at) VALUES
         ($1, 'past', now() - interval '2 days', now() - interval '1 day'),
         ($1, 'future', now() + interval '1 day', NULL),
         ($1, 'current', now() - interval '1 day', now() + interval '1 day')`,
      [id],
    );
    const client = new Client(app.url, 'script');
    await client.fetchCsrf();
    const reply = await client.postJson('/login', { login: user.login, password: user.password });
    assert.deepEqual(reply.json.user.roles, ['current']);
  });
});

describe('/admin', () => {
  test('refuses signed-in users without the admin role with 403', async () => {
    const { client } = await registeredScript(app.url);
    const json = await client.get('/admin');
    assert.equal(json.status, 403);
    assert.equal(json.json.error.code, 'forbidden');
    assert.equal((await client.postJson('/admin/users/1/unlock', {})).status, 403);
    assert.equal((await client.postJson('/admin/users/1/expire-password', {})).status, 403);
  });

  test('shows users with roles and lock state, and the latest audit events', async () => {
    const admin = await makeAdmin();
    const reply = await admin.client.get('/admin');
    assert.equal(reply.status, 200);
    const me = reply.json.users.find((u: any) => u.id === admin.id);
    assert.deepEqual(me.roles, ['admin']);
    assert.equal(me.locked, false);
    assert.ok(reply.json.events.some((e: any) => e.type === 'sign_in' && e.userId === admin.id));
    assert.doesNotMatch(reply.text, /password_hash|\$2b\$/);
  });

  test('unlock clears the user’s counters so they can sign in again at once', async () => {
    const admin = await makeAdmin();
    const { user, id } = await registeredScript(app.url);
    const attacker = new Client(app.url, 'script');
    await attacker.fetchCsrf();
    for (let i = 0; i < 5; i++) await attacker.postJson('/login', { login: user.login, password: 'wrong password x' });
    assert.equal((await attacker.postJson('/login', { login: user.login, password: user.password })).status, 429);
    const state = (await admin.client.get('/admin')).json.users.find((u: any) => u.id === id);
    assert.equal(state.locked, true);

    assert.equal((await admin.client.postJson(`/admin/users/${id}/unlock`, {})).status, 204);
    assert.equal((await attacker.postJson('/login', { login: user.login, password: user.password })).status, 200);
    assert.equal(await eventCount('unlock', id), 1);
  });

  test('expire password: the next sign-in is restricted to /account/password until it is changed', async () => {
    const admin = await makeAdmin();
    const { user, id, client: existing } = await registeredScript(app.url);
    assert.equal((await admin.client.postJson(`/admin/users/${id}/expire-password`, {})).status, 204);
    assert.equal(await eventCount('password_expired_by_admin', id), 1);

    // A session that was already open is restricted from its next request.
    assert.equal((await existing.get('/account/sessions')).json.error.code, 'password_expired');

    const browser = new Client(app.url);
    await browser.get('/login');
    const login = await browser.postForm('/login', { login: user.login, password: user.password });
    assert.equal(login.status, 303);
    assert.equal(login.location, '/account/password');
    for (const path of ['/', '/account/sessions', '/admin']) {
      const page = await browser.get(path);
      assert.equal(page.status, 303, path);
      assert.equal(page.location, '/account/password');
    }
    const script = await signIn(user.login, user.password);
    const json = await script.get('/account/sessions');
    assert.equal(json.status, 403);
    assert.equal(json.json.error.code, 'password_expired');

    const form = await browser.get('/account/password');
    assert.equal(form.status, 200);
    assert.match(form.text, /Your password has expired/);
    const changed = await browser.postForm('/account/password', { currentPassword: user.password, newPassword: 'a brand new phrase 9' });
    assert.equal(changed.status, 303);
    assert.equal((await browser.get('/')).status, 200);
  });

  test('PASSWORD_MAX_AGE_DAYS expires old passwords at sign-in', async () => {
    const aged = await startTestApp({ env: { PASSWORD_MAX_AGE_DAYS: '30' } });
    try {
      const { user, id } = await registeredScript(aged.url);
      await aged.db.query("UPDATE users SET password_changed_at = now() - interval '31 days' WHERE id = $1", [id]);
      const client = new Client(aged.url, 'script');
      await client.fetchCsrf();
      assert.equal((await client.postJson('/login', { login: user.login, password: user.password })).status, 200);
      assert.equal((await client.get('/account/sessions')).json.error.code, 'password_expired');
    } finally {
      await aged.close();
    }
  });
});
