import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from './support/client.js';
import { startTestApp, type TestApp } from './support/test-app.js';

/**
 * The pages a visitor without a session opens first are answered from a render kept per language
 * (src/http/anonymous-pages.ts). What a visitor sees must be exactly what the page's controller
 * renders: each page is compared with the same page answered the usual way (a request carrying a
 * session cookie that names no session goes through the session and the router), in both languages,
 * with views cached as in production.
 */
let app: TestApp;
const logLines: string[] = [];
before(async () => {
  app = await startTestApp({ logLines });
  app.application.app.enable('view cache');
});
after(() => app.close());

const PAGES = ['/', '/login', '/register', '/password/forgot'];
const LANGUAGES: Record<string, Record<string, string>> = {
  en: {},
  'ru (Accept-Language)': { 'accept-language': 'ru-RU,ru;q=0.9' },
  'ru (lang cookie)': { cookie: 'lang=ru' },
};
const META = /<meta name="csrf-token" content="([^"]+)">/;
const tokenOf = (html: string) => META.exec(html)?.[1];
const withoutToken = (html: string, token: string) => html.split(token).join('TOKEN');
/** The headers a page answer carries, less those that differ between any two answers. */
const HEADERS_OF_EVERY_ANSWER = (headers: Headers) =>
  Object.fromEntries([...headers].filter(([name]) => !['date', 'set-cookie', 'etag', 'connection', 'keep-alive'].includes(name)));

describe('pages for visitors without a session', () => {
  for (const [language, headers] of Object.entries(LANGUAGES)) {
    test(`${language}: home, sign-in, registration and forgot password are what their controllers render`, async () => {
      for (const page of PAGES) {
        const kept: string[] = [];
        const keptHeaders: Record<string, string>[] = [];
        // Twice: the first answer renders and keeps the page (in Express), the second is served from
        // what was kept (before Express).
        for (let i = 0; i < 2; i++) {
          const reply = await new Client(app.url).get(page, headers);
          assert.equal(reply.status, 200, page);
          const token = tokenOf(reply.text);
          assert.ok(token, `${page} has its CSRF token`);
          assert.ok(reply.setCookies.some((c) => c.startsWith(`csrf=${token};`)), `${page} sets the token's cookie`);
          assert.equal(reply.headers.get('cache-control'), 'no-store');
          assert.match(reply.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
          assert.equal(reply.headers.get('content-type'), 'text/html; charset=utf-8');
          kept.push(withoutToken(reply.text, token));
          keptHeaders.push(HEADERS_OF_EVERY_ANSWER(reply.headers));
        }
        const usual = await new Client(app.url).get(page, { ...headers, cookie: [headers.cookie, 'sid=s%3Anobody.x'].filter(Boolean).join('; ') });
        assert.equal(usual.status, 200, page);
        assert.ok(usual.setCookies.some((c) => c.startsWith('sid=;')), 'the usual way: the unknown session cookie is cleared');
        const expected = withoutToken(usual.text, tokenOf(usual.text)!);
        assert.equal(kept[0], expected, `${page} (${language}) as rendered the usual way`);
        assert.equal(kept[1], expected, `${page} (${language}) from the kept render`);
        const usualHeaders = HEADERS_OF_EVERY_ANSWER(usual.headers);
        assert.deepEqual(keptHeaders[0], usualHeaders, `${page}: the rendering answer has the headers of the usual one`);
        assert.deepEqual(keptHeaders[1], usualHeaders, `${page}: the kept answer has the headers of the usual one`);
      }
    });
  }

  test('every visitor gets a token of their own, a returning visitor keeps theirs, and it is accepted by the forms', async () => {
    const tokens = await Promise.all(Array.from({ length: 20 }, async () => tokenOf((await new Client(app.url).get('/login')).text)));
    assert.equal(new Set(tokens).size, 20);

    const visitor = new Client(app.url);
    await visitor.get('/');
    const first = visitor.csrfToken;
    const again = await visitor.get('/login');
    assert.equal(visitor.csrfToken, first, 'the cookie already held a valid token: the page carries it');
    assert.equal(tokenOf(again.text), first);
    assert.ok(!again.setCookies.some((c) => c.startsWith('csrf=')), 'and does not send the same cookie again');
    const wrong = await visitor.postForm('/login', { login: 'nobody_here', password: 'not the password 1' });
    assert.equal(wrong.status, 401, 'the token works: the form is judged, not refused as csrf_failed');

    // A token cookie made for someone else (tampered) is replaced, never echoed back.
    const forged = new Client(app.url);
    forged.cookies.set('csrf', `${'0'.repeat(64)}.${'1'.repeat(64)}`);
    await forged.get('/');
    assert.notEqual(forged.csrfToken, `${'0'.repeat(64)}.${'1'.repeat(64)}`);
    assert.equal((await forged.postForm('/login', { login: 'nobody_here', password: 'not the password 1' })).status, 401);
  });

  test('they start no session, and anything but a plain browser GET of the page goes the usual way', async () => {
    const count = async () => Number((await app.db.query('SELECT count(*) AS n FROM express_sessions')).rows[0].n);
    const before = await count();
    await Promise.all(PAGES.map((page) => new Client(app.url).get(page)));
    assert.equal(await count(), before);

    const browser = new Client(app.url);
    assert.match((await browser.get('/login?reset=1')).text, /class="notice"/, 'a query string: the notice it asks for');
    assert.match((await browser.get('/login?returnTo=%2Fchat')).text, /name="returnTo" value="\/chat"/);
    const script = new Client(app.url, 'script');
    assert.deepEqual((await script.get('/')).json, { user: null }, 'a script asking for JSON gets JSON');
    const head = await fetch(`${app.url}/login`, { method: 'HEAD' });
    assert.equal(head.status, 200);
  });

  test('GET /csrf-token without a session is answered before Express as its route answers it, and the token works', async () => {
    const sessions = async () => (await app.db.query('SELECT count(*)::int AS n FROM express_sessions')).rows[0].n as number;
    const sessionsBefore = await sessions();
    const from = logLines.length;
    const script = new Client(app.url, 'script');
    const first = await script.get('/csrf-token');
    assert.equal(first.status, 200);
    const token = first.json.csrfToken as string;
    assert.match(token, /^[0-9a-f]{64}\.[0-9a-f]{64}$/);
    assert.ok(first.setCookies.some((c) => c.startsWith(`csrf=${token};`)), 'it sets the token\'s cookie');
    const again = await script.get('/csrf-token');
    assert.equal(again.json.csrfToken, token, 'a returning script keeps its token');
    assert.ok(!again.setCookies.some((c) => c.startsWith('csrf=')), 'and is not sent the same cookie again');
    script.csrfToken = token;
    const wrong = await script.postJson('/login', { login: 'nobody_here', password: 'not the password 1' });
    assert.equal(wrong.status, 401, 'the token works: the sign-in is judged, not refused as csrf_failed');

    const usual = await new Client(app.url, 'script').get('/csrf-token', { cookie: 'sid=s%3Anobody.x' });
    assert.equal(usual.status, 200);
    assert.ok(usual.setCookies.some((c) => c.startsWith('sid=;')), 'the usual way: the unknown session cookie is cleared');
    assert.deepEqual(Object.keys(usual.json), ['csrfToken']);
    const fresh = await new Client(app.url, 'script').get('/csrf-token');
    assert.deepEqual(HEADERS_OF_EVERY_ANSWER(fresh.headers), HEADERS_OF_EVERY_ANSWER(usual.headers), 'the same headers as the usual way');
    assert.equal(fresh.headers.get('cache-control'), 'no-store');
    assert.equal(fresh.headers.get('content-type'), 'application/json; charset=utf-8');

    const logged = logLines.slice(from).map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'request' && line.path === '/csrf-token');
    assert.equal(logged.length, 4, 'a line per request, either way');
    assert.ok(!logLines.slice(from).join('').includes(token), 'the CSRF token is never logged');
    assert.equal(await sessions(), sessionsBefore, 'no session was made');
  });

  test('a kept page answered before Express is logged like any request, with no token in the line', async () => {
    await new Client(app.url).get('/password/forgot');
    const from = logLines.length;
    const reply = await new Client(app.url).get('/password/forgot');
    const token = tokenOf(reply.text)!;
    const lines = logLines.slice(from).map((line) => JSON.parse(line) as Record<string, unknown>);
    const logged = lines.filter((line) => line.msg === 'request');
    assert.equal(logged.length, 1, 'one line for the one request');
    assert.deepEqual([logged[0]!.method, logged[0]!.path, logged[0]!.status], ['GET', '/password/forgot', 200]);
    assert.ok(!logLines.slice(from).join('').includes(token), 'the CSRF token is never logged');
  });
});
