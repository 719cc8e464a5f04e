import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, registeredBrowser, registeredScript } from './support/client.js';
import { startTestApp, type TestApp } from './support/test-app.js';

let app: TestApp;
before(async () => (app = await startTestApp({ env: { SESSION_IDLE_MINUTES: '30', SESSION_ABSOLUTE_HOURS: '2' } })));
after(() => app.close());

const sessionRows = async (userId?: number) =>
  (
    await app.db.query(
      userId === undefined ? 'SELECT sid, expire, user_id, sess FROM express_sessions' : 'SELECT sid, expire, user_id, sess FROM express_sessions WHERE user_id = $1',
      userId === undefined ? [] : [userId],
    )
  ).rows;

const isSignedIn = async (client: Client) => (await client.get('/', { accept: 'text/html' })).text.includes('Signed in as');

describe('anonymous visitors', () => {
  test('pages, the CSRF token and failed sign-ins create no session row and no session cookie', async () => {
    const before = (await sessionRows()).length;
    const browser = new Client(app.url);
    for (const path of ['/', '/login', '/register', '/csrf-token', '/health', '/nowhere']) {
      const reply = await browser.get(path);
      assert.ok(!reply.setCookies.some((c) => c.startsWith('sid=')), path);
    }
    await browser.postForm('/login', { login: 'nobody_at_all', password: 'whatever it is' });
    assert.equal((await sessionRows()).length, before);
    assert.equal(browser.cookies.get('sid'), undefined);
  });

  test('GET / for a script: {"user": null} when anonymous, the User when signed in', async () => {
    assert.deepEqual((await new Client(app.url, 'script').get('/')).json, { user: null });
    const { client, user } = await registeredScript(app.url);
    const me = (await client.get('/')).json.user;
    assert.deepEqual(Object.keys(me).sort(), ['email', 'id', 'login', 'name', 'roles']);
    assert.equal(me.login, user.login);
  });

  test('the anonymous home page links to sign in and register and shows no user data', async () => {
    const reply = await new Client(app.url).get('/');
    assert.equal(reply.status, 200);
    assert.match(reply.text, /href="\/login"/);
    assert.match(reply.text, /href="\/register"/);
    assert.doesNotMatch(reply.text, /Signed in as/);
  });
});

describe('the session row', () => {
  test('is found by user through the user_id column, holds no password hash, and expires after the idle time', async () => {
    const { client, id } = await registeredScript(app.url);
    const rows = await sessionRows(id);
    assert.equal(rows.length, 1);
    assert.doesNotMatch(JSON.stringify(rows[0].sess), /\$2[aby]\$/);
    // The idle time, plus the touch interval (a sixtieth of it: 30 s) as slack.
    const idleMs = new Date(rows[0].expire).getTime() - Date.now();
    assert.ok(idleMs > 30 * 60_000 && idleMs <= 30 * 60_000 + 31_000, `expire in ${idleMs} ms`);
    assert.ok(await isSignedIn(client));
  });

  test('is written at most once per touch interval (a sixtieth of the idle time) by ordinary requests', async () => {
    const { client, id } = await registeredScript(app.url);
    await app.db.query("UPDATE express_sessions SET expire = expire - interval '20 seconds' WHERE user_id = $1", [id]);
    await app.application.sessionChangesHeard();
    const before = (await sessionRows(id))[0].expire.getTime();
    for (let i = 0; i < 3; i++) await client.get('/');
    assert.equal((await sessionRows(id))[0].expire.getTime(), before, 'a touch 20 s after the last write is skipped');
    await app.db.query("UPDATE express_sessions SET expire = expire - interval '40 seconds' WHERE user_id = $1", [id]);
    await app.application.sessionChangesHeard();
    await client.get('/');
    const after = (await sessionRows(id))[0].expire.getTime();
    assert.ok(after > before, 'a touch more than 30 s after the last write moves the expiry');
    assert.ok(after - Date.now() >= 30 * 60_000, 'the row always covers the idle time from the last request');
  });

  test('a session idle past its expiry is anonymous and its cookie is cleared', async () => {
    const { client, id } = await registeredScript(app.url);
    await app.db.query("UPDATE express_sessions SET expire = now() - interval '1 second' WHERE user_id = $1", [id]);
    await app.application.sessionChangesHeard();
    const reply = await client.get('/');
    assert.equal(reply.status, 200);
    assert.ok(reply.setCookies.some((c) => /^sid=;/.test(c)), 'cookie cleared');
    assert.equal(await isSignedIn(client), false);
  });

  test('a session past its absolute lifetime ends even when active', async () => {
    const { client, id } = await registeredScript(app.url);
    const sess = (await sessionRows(id))[0].sess;
    assert.ok(sess.absoluteExpiresAt - sess.startedAt === 2 * 3_600_000);
    sess.absoluteExpiresAt = Date.now() - 1000;
    await app.db.query('UPDATE express_sessions SET sess = $2 WHERE user_id = $1', [id, JSON.stringify(sess)]);
    await app.application.sessionChangesHeard();
    const reply = await client.get('/', { accept: 'application/json' });
    assert.ok(reply.setCookies.some((c) => /^sid=;/.test(c)));
    assert.equal((await sessionRows(id)).length, 0);
  });

  test('the expired-session sweeper deletes rows past their expiry', async () => {
    const { id } = await registeredScript(app.url);
    await app.db.query("UPDATE express_sessions SET expire = now() - interval '1 minute' WHERE user_id = $1", [id]);
    const ended: unknown[] = [];
    app.application.signIns.onChanged((e) => ended.push(e));
    assert.ok((await app.application.signIns.endExpired()) >= 1);
    assert.equal((await sessionRows(id)).length, 0);
    assert.ok(ended.some((e: any) => e.userId === id && e.reason === 'expired'));
  });
});

describe('cookies that name no live session', () => {
  test('a tampered cookie is anonymous, not an error, and is cleared', async () => {
    const { client } = await registeredScript(app.url);
    const sid = client.cookies.get('sid')!;
    client.cookies.set('sid', sid.slice(0, -3) + (sid.endsWith('AAA') ? 'BBB' : 'AAA'));
    const reply = await client.get('/');
    assert.equal(reply.status, 200);
    assert.ok(reply.setCookies.some((c) => /^sid=;/.test(c)));
    assert.equal(await isSignedIn(client), false);
  });

  test('an unknown, well-formed cookie is anonymous', async () => {
    const client = new Client(app.url);
    client.cookies.set('sid', 's%3Anot-a-session.c2lnbmF0dXJl');
    const reply = await client.get('/');
    assert.equal(reply.status, 200);
    assert.doesNotMatch(reply.text, /Signed in as/);
  });
});

describe('logging out', () => {
  test('ends this session: row deleted, cookie cleared, 303 to the anonymous home page', async () => {
    const { client } = await registeredBrowser(app.url);
    const sid = client.cookies.get('sid')!;
    const before = (await sessionRows()).length;
    const reply = await client.postForm('/logout', {});
    assert.equal(reply.status, 303);
    assert.equal(reply.location, '/');
    assert.ok(reply.setCookies.some((c) => /^sid=;/.test(c)));
    assert.equal((await sessionRows()).length, before - 1);
    const home = await client.get('/');
    assert.match(home.text, /href="\/register"/);

    // The old cookie replayed after logout is worth nothing.
    const replay = new Client(app.url, 'script');
    replay.cookies.set('sid', sid);
    await replay.fetchCsrf();
    const me = await replay.get('/', { accept: 'text/html' });
    assert.doesNotMatch(me.text, /Signed in as/);
  });

  test('a script gets 204', async () => {
    const { client } = await registeredScript(app.url);
    const reply = await client.postJson('/logout', {});
    assert.equal(reply.status, 204);
    assert.equal(reply.text, '');
  });

  test('anonymous: the same answer, no error', async () => {
    const browser = new Client(app.url);
    await browser.get('/');
    const reply = await browser.postForm('/logout', {});
    assert.equal(reply.status, 303);
    const script = new Client(app.url, 'script');
    await script.fetchCsrf();
    assert.equal((await script.postJson('/logout', {})).status, 204);
  });

  test('everywhere=1 ends every session of the user and no one else’s', async () => {
    const first = await registeredScript(app.url);
    const second = new Client(app.url, 'script');
    await second.fetchCsrf();
    assert.equal((await second.postJson('/login', { login: first.user.login, password: first.user.password })).status, 200);
    const bystander = await registeredScript(app.url);
    assert.equal((await sessionRows(first.id)).length, 2);

    const reply = await first.client.postForm('/logout', { everywhere: '1' }, { headers: { accept: 'application/json' } });
    assert.equal(reply.status, 204);
    assert.equal((await sessionRows(first.id)).length, 0);
    assert.equal((await sessionRows(bystander.id)).length, 1);
    assert.equal(await isSignedIn(second), false);
  });
});

/** Counts the queries an app itself sends while fn runs. */
async function queriesDuring(on: TestApp, fn: () => Promise<unknown>): Promise<number> {
  const pool = on.appPool as unknown as { query: (...args: unknown[]) => unknown };
  const original = pool.query;
  let n = 0;
  pool.query = function (this: unknown, ...args: unknown[]) {
    n += 1;
    return original.apply(this, args);
  };
  try {
    await fn();
  } finally {
    pool.query = original;
  }
  return n;
}

describe('without the cache (SESSION_CACHE=false)', () => {
  let uncached: TestApp;
  before(async () => (uncached = await startTestApp({ env: { SESSION_CACHE: 'false' } })));
  after(() => uncached.close());

  test('a signed-in page read makes one query (the session), and no touch query while the row covers the idle time', async () => {
    const { client } = await registeredScript(uncached.url);
    assert.ok((await client.get('/')).json.user);
    const n = await queriesDuring(uncached, async () => {
      for (let i = 0; i < 5; i++) assert.ok((await client.get('/')).json.user);
    });
    assert.equal(n, 5);
  });
});

describe('the session cache (SESSION_CACHE, on by default)', () => {
  let cached: TestApp;
  before(async () => (cached = await startTestApp()));
  after(() => cached.close());

  test('a signed-in page read makes no query once the session is known; a row deleted by SQL reaches it within moments', async () => {
    const { client, id } = await registeredScript(cached.url);
    assert.ok((await client.get('/')).json.user);
    const n = await queriesDuring(cached, async () => {
      for (let i = 0; i < 5; i++) assert.ok((await client.get('/')).json.user);
    });
    assert.equal(n, 0, 'served from the cache');
    // Ended by SQL behind the app's back: the row's trigger tells every process.
    await cached.db.query('DELETE FROM express_sessions WHERE user_id = $1', [id]);
    const until = Date.now() + 2000;
    let user = (await client.get('/')).json.user;
    while (user && Date.now() < until) user = (await client.get('/')).json.user;
    assert.equal(user, null);
  });

  test('an end made through the app is seen at once: logout, and a revoke from another session', async () => {
    const first = await registeredScript(cached.url);
    const replay = first.client.rebase(cached.url);
    assert.ok((await first.client.get('/')).json.user);
    assert.equal((await first.client.postJson('/logout', {})).status, 204);
    assert.equal((await replay.get('/')).json.user, null, 'the old cookie right after logout');

    const victim = await registeredScript(cached.url);
    const other = new Client(cached.url, 'script');
    await other.fetchCsrf();
    await other.postJson('/login', { login: victim.user.login, password: victim.user.password });
    await other.fetchCsrf();
    assert.ok((await victim.client.get('/')).json.user);
    const target = (await other.get('/account/sessions')).json.sessions.find((x: { current: boolean }) => !x.current);
    assert.equal((await other.postJson(`/account/sessions/${target.handle}/revoke`, {})).status, 204);
    assert.equal((await victim.client.get('/')).json.user, null);
  });
});
