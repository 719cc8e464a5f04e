import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, newUser, registeredBrowser, registeredScript } from './support/client.js';
import { startTestApp, type TestApp } from './support/test-app.js';

let app: TestApp;
before(async () => (app = await startTestApp()));
after(() => app.close());

const userCount = async () => (await app.db.query('SELECT count(*)::int AS n FROM users')).rows[0].n as number;

describe('headers on every response', () => {
  for (const path of ['/', '/login', '/health', '/nowhere', '/public/app.css']) {
    test(`${path}: no X-Powered-By, nosniff, a strict CSP, no HSTS over http`, async () => {
      const reply = await new Client(app.url).get(path);
      assert.equal(reply.headers.get('x-powered-by'), null);
      assert.equal(reply.headers.get('x-content-type-options'), 'nosniff');
      const csp = reply.headers.get('content-security-policy') ?? '';
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.match(csp, /object-src 'none'/);
      assert.match(csp, /base-uri 'none'/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.equal(reply.headers.get('strict-transport-security'), null);
    });
  }

  test('dynamic answers carry no ETag (they are no-store); static files keep theirs', async () => {
    assert.equal((await new Client(app.url).get('/login?x=1')).headers.get('etag'), null);
    assert.equal((await new Client(app.url).get('/')).headers.get('etag'), null);
    assert.ok((await new Client(app.url).get('/public/app.css')).headers.get('etag'));
  });

  test('authenticated responses carry Cache-Control: no-store', async () => {
    const { client } = await registeredScript(app.url);
    const reply = await client.get('/');
    assert.equal(reply.headers.get('cache-control'), 'no-store');
  });

  test('pages carry no inline scripts', async () => {
    for (const path of ['/', '/login', '/register']) {
      const { text } = await new Client(app.url).get(path);
      assert.doesNotMatch(text, /<script(?![^>]*\bsrc=)[^>]*>/, path);
      assert.doesNotMatch(text, /\son[a-z]+=/i, path);
    }
  });
});

describe('CSRF', () => {
  test('every HTML page has a csrf-token meta tag; GET /csrf-token gives scripts one', async () => {
    const browser = new Client(app.url);
    for (const path of ['/', '/login', '/register', '/nowhere']) {
      assert.match((await browser.get(path)).text, /<meta name="csrf-token" content="[^"]+">/, path);
    }
    const reply = await new Client(app.url, 'script').get('/csrf-token');
    assert.equal(typeof reply.json.csrfToken, 'string');
    assert.ok(reply.json.csrfToken.length > 20);
  });

  test('signed in, every page shows the token its cookie holds (sent once, not on every page); a sign-out makes a new one', async () => {
    const { client } = await registeredBrowser(app.url);
    const META = /<meta name="csrf-token" content="([^"]+)">/;
    const pages = [];
    for (const path of ['/', '/account', '/chat']) pages.push(await client.get(path));
    const tokens = pages.map((page) => META.exec(page.text)?.[1]);
    assert.ok(tokens[0]);
    assert.deepEqual(tokens, [tokens[0], tokens[0], tokens[0]]);
    assert.equal(client.cookies.get('csrf'), tokens[0], 'the cookie holds the token the pages show');
    assert.ok(pages.slice(1).every((page) => !page.setCookies.some((c) => c.startsWith('csrf='))), 'the cookie is not sent again');
    assert.equal((await client.postForm('/account/email', { currentPassword: 'wrong password 1', newEmail: 'x@example.com' })).status, 401, 'the token is accepted');
    await client.postForm('/logout', {});
    const after = META.exec((await client.get('/login')).text)?.[1];
    assert.ok(after && after !== tokens[0], 'signed out: a new token');
  });

  test('a form without the token gets 403 csrf_failed and changes nothing', async () => {
    const before = await userCount();
    const browser = new Client(app.url);
    await browser.get('/register');
    const reply = await browser.postForm('/register', newUser(), { csrf: false });
    assert.equal(reply.status, 403);
    assert.match(reply.text, /expired or did not come from this site/);
    assert.equal(await userCount(), before);
  });

  test('a script without the header, or with a wrong token, gets 403 csrf_failed', async () => {
    const script = new Client(app.url, 'script');
    await script.fetchCsrf();
    const missing = await script.postJson('/register', newUser(), { csrf: false });
    assert.equal(missing.status, 403);
    assert.equal(missing.json.error.code, 'csrf_failed');
    script.csrfToken = script.csrfToken.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'));
    const wrong = await script.postJson('/register', newUser());
    assert.equal(wrong.status, 403);
    assert.equal(wrong.json.error.code, 'csrf_failed');
  });

  test('a token without its cookie is refused', async () => {
    const script = new Client(app.url, 'script');
    await script.fetchCsrf();
    script.cookies.delete('csrf');
    const reply = await script.postJson('/login', { login: 'someone', password: 'something long' });
    assert.equal(reply.status, 403);
  });

  test('a request from another Origin is refused even with a valid token', async () => {
    const before = await userCount();
    const browser = new Client(app.url);
    await browser.get('/register');
    const reply = await browser.postForm('/register', newUser(), { headers: { origin: 'https://evil.example' } });
    assert.equal(reply.status, 403);
    assert.equal(await userCount(), before);
  });

  test('Sec-Fetch-Site: cross-site is refused even with a valid token', async () => {
    const script = new Client(app.url, 'script');
    await script.fetchCsrf();
    const reply = await script.postJson('/register', newUser(), { headers: { 'sec-fetch-site': 'cross-site' } });
    assert.equal(reply.status, 403);
    assert.equal(reply.json.error.code, 'csrf_failed');
  });

  test('a CSRF-refused logout keeps the session', async () => {
    const { client } = await registeredScript(app.url);
    const reply = await client.postJson('/logout', {}, { csrf: false });
    assert.equal(reply.status, 403);
    assert.match((await client.get('/', { accept: 'text/html' })).text, /Signed in as/);
  });
});

describe('bad requests', () => {
  test('unknown routes: a 404 page for browsers, not_found for scripts', async () => {
    const page = await new Client(app.url).get('/no/such/page');
    assert.equal(page.status, 404);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(page.text, /Page not found/);
    const json = await new Client(app.url, 'script').get('/no/such/page');
    assert.equal(json.status, 404);
    assert.equal(json.json.error.code, 'not_found');
  });

  test('malformed JSON is 400 invalid_input, with no stack trace', async () => {
    const script = new Client(app.url, 'script');
    await script.fetchCsrf();
    const reply = await script.postJson('/register', '{"login": "x",');
    assert.equal(reply.status, 400);
    assert.equal(reply.json.error.code, 'invalid_input');
    assert.doesNotMatch(reply.text, /at \w+ \(|node_modules|SyntaxError/);
  });

  test('a 2 MB body is refused with 413, the process stays up', async () => {
    const script = new Client(app.url, 'script');
    await script.fetchCsrf();
    const reply = await script.postJson('/register', { ...newUser(), name: 'x'.repeat(2 * 1024 * 1024) });
    assert.equal(reply.status, 413);
    assert.equal(reply.json.error.code, 'payload_too_large');
    const form = await new Client(app.url).postForm('/login', { login: 'x'.repeat(2 * 1024 * 1024), password: 'y' });
    assert.equal(form.status, 413);
    assert.equal((await new Client(app.url).get('/health')).status, 200);
  });

  test('cookies holding JSON (cookie-parser\'s `j:` form) are plain strings to the app: never a 500', async () => {
    const odd = 'csrf=j:{"a":1}; device=j:[1]; refreshToken=j:{}; lang=j:"ru"';
    for (const path of ['/login', '/login?x=1', '/csrf-token', '/account/sessions', '/nowhere']) {
      const reply = await new Client(app.url).get(path, { cookie: odd });
      assert.ok(reply.status < 500, `${path}: ${reply.status}`);
    }
    const script = new Client(app.url, 'script');
    await script.fetchCsrf();
    const signIn = await script.request('POST', '/login', {
      body: JSON.stringify({ login: 'nobody_here', password: 'not the password 1' }),
      headers: { 'content-type': 'application/json', cookie: `${odd}; csrf=${script.cookies.get('csrf')}`, 'x-csrf-token': script.csrfToken! },
    });
    assert.equal(signIn.status, 403, 'the JSON cookie is the one read, and it is not a token');
    assert.equal((await new Client(app.url, 'script').request('POST', '/api/auth/refresh-tokens', { body: '{"fingerprint":"a-browser"}', headers: { 'content-type': 'application/json', cookie: odd } })).status, 401);
  });

  test('no response carries a session id, SQL or a stack trace', async () => {
    const { client } = await registeredScript(app.url);
    const sid = decodeURIComponent(client.cookies.get('sid')!).slice(2).split('.')[0]!;
    for (const path of ['/', '/csrf-token', '/nowhere']) {
      const reply = await client.get(path);
      assert.ok(!reply.text.includes(sid), path);
    }
    const bad = await client.postJson('/login', { login: "x' OR 1=1--", password: "' ; DROP TABLE users; --" });
    assert.doesNotMatch(bad.text, /SELECT|INSERT|DROP|syntax error/i);
  });
});
