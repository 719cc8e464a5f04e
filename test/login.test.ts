import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, registeredScript } from './support/client.js';
import { startTestApp, type TestApp } from './support/test-app.js';

let app: TestApp;
let known: { login: string; email: string; password: string; name: string };

before(async () => {
  app = await startTestApp();
  known = (await registeredScript(app.url)).user;
});
after(() => app.close());

async function browserOnLoginPage(path = '/login') {
  const browser = new Client(app.url);
  await browser.get(path);
  return browser;
}

function sidOf(client: Client) {
  return client.cookies.get('sid');
}

describe('signing in through the HTML form', () => {
  test('by login: 303 to / and the home page shows the user', async () => {
    const browser = await browserOnLoginPage();
    const reply = await browser.postForm('/login', { login: known.login, password: known.password });
    assert.equal(reply.status, 303);
    assert.equal(reply.location, '/');
    assert.match((await browser.get('/')).text, new RegExp(known.name));
  });

  test('by email, in any case and with surrounding spaces', async () => {
    const browser = await browserOnLoginPage();
    const reply = await browser.postForm('/login', { login: `  ${known.email.toUpperCase()} `, password: known.password });
    assert.equal(reply.status, 303);
  });

  test('a wrong password re-renders the form with 401, the generic message and the login typed, never the password', async () => {
    const browser = await browserOnLoginPage();
    const reply = await browser.postForm('/login', { login: known.login, password: 'Wrong-Password-123' });
    assert.equal(reply.status, 401);
    assert.match(reply.text, /Invalid login or password/);
    assert.match(reply.text, new RegExp(`value="${known.login}"`));
    assert.doesNotMatch(reply.text, /Wrong-Password-123/);
    assert.equal(sidOf(browser), undefined);
  });

  test('returnTo: a path on this site is followed', async () => {
    const browser = await browserOnLoginPage('/login?returnTo=%2Faccount%2Fsessions%3Fx%3D1');
    assert.match(browser.csrfToken, /.+/);
    const page = await browser.get('/login?returnTo=%2Faccount%2Fsessions%3Fx%3D1');
    assert.match(page.text, /name="returnTo" value="\/account\/sessions\?x=1"/);
    const reply = await browser.postForm('/login', { login: known.login, password: known.password, returnTo: '/account/sessions?x=1' });
    assert.equal(reply.location, '/account/sessions?x=1');
  });

  for (const returnTo of ['//evil.example', 'https://evil.example/', '/\\evil.example', 'javascript:alert(1)', '/%0d%0aSet-Cookie:x=1'.replace('%0d%0a', '\r\n')]) {
    test(`returnTo ${JSON.stringify(returnTo)} is ignored: 303 to /`, async () => {
      const browser = await browserOnLoginPage();
      const reply = await browser.postForm('/login', { login: known.login, password: known.password, returnTo });
      assert.equal(reply.status, 303);
      assert.equal(reply.location, '/');
    });
  }

  test('a signed-in visitor of /login is sent home', async () => {
    const browser = await browserOnLoginPage();
    await browser.postForm('/login', { login: known.login, password: known.password });
    const reply = await browser.get('/login');
    assert.equal(reply.status, 303);
    assert.equal(reply.location, '/');
  });
});

describe('signing in from a script (JSON)', () => {
  test('answers 200 with exactly the User fields', async () => {
    const client = new Client(app.url, 'script');
    await client.fetchCsrf();
    const reply = await client.postJson('/login', { login: known.login, password: known.password });
    assert.equal(reply.status, 200);
    assert.deepEqual(Object.keys(reply.json.user).sort(), ['email', 'id', 'login', 'name', 'roles']);
    assert.equal(reply.json.user.password_hash, undefined);
  });

  test('unknown login and wrong password get the same status, code and message', async () => {
    const client = new Client(app.url, 'script');
    await client.fetchCsrf();
    const wrong = await client.postJson('/login', { login: known.login, password: 'not the password 1' });
    const unknown = await client.postJson('/login', { login: 'nobody_here', password: 'not the password 1' });
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.deepEqual(wrong.json, unknown.json);
    assert.deepEqual(wrong.json, { error: { code: 'wrong_credentials', message: 'Invalid login or password' } });
  });

  test('missing or non-text fields are 400 invalid_input', async () => {
    const client = new Client(app.url, 'script');
    await client.fetchCsrf();
    for (const payload of [{}, { login: known.login }, { login: [known.login], password: known.password }, { login: known.login, password: { a: 1 } }]) {
      const reply = await client.postJson('/login', payload);
      assert.equal(reply.status, 400, JSON.stringify(payload));
      assert.equal(reply.json.error.code, 'invalid_input');
    }
  });
});

describe('the session at sign-in', () => {
  test('the session id changes at sign-in (a planted session id is not adopted)', async () => {
    const victim = new Client(app.url, 'script');
    await victim.fetchCsrf();
    // An attacker plants a cookie for a session id of their choosing.
    const planted = 's%3Aattacker-chosen-session-id.invalidsignature';
    victim.cookies.set('sid', planted);
    const reply = await victim.postJson('/login', { login: known.login, password: known.password });
    assert.equal(reply.status, 200);
    assert.notEqual(sidOf(victim), planted);
    const { rows } = await app.db.query("SELECT count(*)::int AS n FROM express_sessions WHERE sid = 'attacker-chosen-session-id'");
    assert.equal(rows[0].n, 0);
  });

  test('signing in again replaces the session id and deletes the old row', async () => {
    const client = new Client(app.url, 'script');
    await client.fetchCsrf();
    await client.postJson('/login', { login: known.login, password: known.password });
    const first = sidOf(client);
    await client.fetchCsrf();
    await client.postJson('/login', { login: known.login, password: known.password });
    assert.notEqual(sidOf(client), first);
    const firstId = decodeURIComponent(first!).slice(2).split('.')[0];
    const { rows } = await app.db.query('SELECT count(*)::int AS n FROM express_sessions WHERE sid = $1', [firstId]);
    assert.equal(rows[0].n, 0);
  });

  test('the CSRF token changes at sign-in, and the old one no longer works', async () => {
    const client = new Client(app.url, 'script');
    const before = await client.fetchCsrf();
    const beforeCookie = client.cookies.get('csrf');
    await client.postJson('/login', { login: known.login, password: known.password });
    assert.notEqual(client.cookies.get('csrf'), beforeCookie);
    const after = await client.fetchCsrf();
    assert.notEqual(after, before);
    client.csrfToken = before;
    client.cookies.set('csrf', beforeCookie!);
    const stale = await client.postJson('/logout', {});
    assert.equal(stale.status, 403);
    assert.equal(stale.json.error.code, 'csrf_failed');
  });

  test('the session cookie is sid: HttpOnly, SameSite=Lax, Path=/, with an idle expiry', async () => {
    const client = new Client(app.url, 'script');
    await client.fetchCsrf();
    const reply = await client.postJson('/login', { login: known.login, password: known.password });
    const cookie = reply.setCookies.find((c) => c.startsWith('sid='));
    assert.ok(cookie);
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=Lax/);
    assert.match(cookie, /; Path=\//);
    assert.doesNotMatch(cookie, /; Secure/);
    assert.match(cookie, /^sid=s%3A/); // signed
  });
});

describe('keep me signed in', () => {
  const sidCookie = (setCookies: string[]) => setCookies.find((c) => c.startsWith('sid='));

  test('without it the session cookie ends with the browser (no Max-Age or Expires), on every response; the server still ends the session after the idle time', async () => {
    const { user } = await registeredScript(app.url);
    const browser = new Client(app.url);
    await browser.get('/login');
    assert.match(browser.csrfToken, /./);
    const reply = await browser.postForm('/login', { login: user.login, password: user.password });
    assert.equal(reply.status, 303);
    const cookie = sidCookie(reply.setCookies)!;
    assert.doesNotMatch(cookie, /Max-Age|Expires/i);
    const later = await browser.get('/');
    for (const c of later.setCookies.filter((c) => c.startsWith('sid='))) assert.doesNotMatch(c, /Max-Age|Expires/i);
    const { rows } = await app.db.query("SELECT expire, (sess::jsonb -> 'absoluteExpiresAt')::bigint AS abs FROM express_sessions WHERE user_id = (SELECT id FROM users WHERE login = $1) ORDER BY expire DESC LIMIT 1", [user.login]);
    const idle = app.config.sessionIdleMs;
    const inMs = rows[0].expire.getTime() - Date.now();
    assert.ok(inMs > idle - 5000 && inMs <= idle + 61_000, `the row ends after the idle time (${inMs} ms)`);
    assert.ok(rows[0].expire.getTime() <= Number(rows[0].abs));
  });

  test('without it the cookie is not sent again with each page: it would be the very same cookie', async () => {
    const { user } = await registeredScript(app.url);
    const browser = new Client(app.url);
    await browser.get('/login');
    const reply = await browser.postForm('/login', { login: user.login, password: user.password });
    assert.ok(sidCookie(reply.setCookies), 'the sign-in sets it');
    for (const path of ['/', '/account', '/chat']) {
      const page = await browser.get(path);
      assert.equal(page.status, 200);
      assert.equal(sidCookie(page.setCookies), undefined, `${path} sends no sid cookie`);
    }
    assert.match((await browser.get('/')).text, new RegExp(user.login), 'still signed in');
  });

  test('with remember=1 the cookie lasts the idle time and is renewed with use', async () => {
    const { user } = await registeredScript(app.url);
    const browser = new Client(app.url);
    await browser.get('/login');
    const reply = await browser.postForm('/login', { login: user.login, password: user.password, remember: '1' });
    assert.equal(reply.status, 303);
    const expiresIn = (line: string | undefined) => Date.parse(/Expires=([^;]+)/i.exec(line ?? '')?.[1] ?? '') - Date.now();
    const first = expiresIn(sidCookie(reply.setCookies));
    assert.ok(Math.abs(first - app.config.sessionIdleMs) < 5000, `expires in ${first} ms`);
    const later = await browser.get('/');
    const renewed = expiresIn(sidCookie(later.setCookies));
    assert.ok(Math.abs(renewed - app.config.sessionIdleMs) < 5000, 'renewed on the next response');
  });

  test('the login form has the checkbox', async () => {
    const page = await new Client(app.url).get('/login');
    assert.match(page.text, /<input type="checkbox" name="remember" value="1"/);
  });
});
