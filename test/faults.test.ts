import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, registeredScript } from './support/client.js';
import { connected, send } from './support/sockets.js';
import { startTestApp, type TestApp } from './support/test-app.js';

let app: TestApp;
before(async () => (app = await startTestApp({ proxy: true })));
after(() => app.close());

describe('GET /health', () => {
  test('answers 200 {"status":"ok"} and never creates a session or sets a cookie', async () => {
    const before = (await app.db.query('SELECT count(*)::int AS n FROM express_sessions')).rows[0].n;
    const reply = await new Client(app.url).get('/health');
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json, { status: 'ok' });
    assert.deepEqual(reply.setCookies, []);
    assert.equal((await app.db.query('SELECT count(*)::int AS n FROM express_sessions')).rows[0].n, before);
  });
});

describe('the database going away and coming back', () => {
  test('503 unavailable with Retry-After while it is down, nobody let in; the same cookie works once it is back', async () => {
    const { client: signedIn, user } = await registeredScript(app.url);
    const newcomer = new Client(app.url, 'script');
    await newcomer.fetchCsrf();
    const browser = new Client(app.url);
    await browser.get('/login');

    await app.proxy!.cut();
    try {
      const health = await new Client(app.url).get('/health');
      assert.equal(health.status, 503);
      assert.deepEqual(health.json, { status: 'unavailable' });

      const page = await signedIn.get('/');
      assert.equal(page.status, 503);
      assert.equal(page.json.error.code, 'unavailable');
      assert.ok(page.headers.get('retry-after'));

      const login = await newcomer.postJson('/login', { login: user.login, password: user.password });
      assert.equal(login.status, 503);
      assert.equal(login.json.error.code, 'unavailable');
      assert.equal(newcomer.cookies.get('sid'), undefined);

      const html = await browser.postForm('/login', { login: user.login, password: user.password });
      assert.equal(html.status, 503);
      assert.match(html.text, /temporarily unavailable/i);
      assert.doesNotMatch(html.text, /ECONNREFUSED|at \w+ \(/);
    } finally {
      await app.proxy!.restore();
    }

    const back = await signedIn.get('/', { accept: 'text/html' });
    assert.equal(back.status, 200);
    assert.match(back.text, /Signed in as/);
    assert.equal((await new Client(app.url).get('/health')).status, 200);
  });
});

describe('the chat while the database is down', () => {
  test('chat:send is answered unavailable, the socket and the process stay up, and sending works again once it is back', async () => {
    const { client } = await registeredScript(app.url);
    const { socket } = await connected(app.url, client);
    try {
      await app.proxy!.cut();
      try {
        assert.deepEqual(await send(socket, { text: 'into the void' }), { ok: false, error: { code: 'unavailable' } });
        assert.ok(socket.connected);
      } finally {
        await app.proxy!.restore();
      }
      const ack = await send(socket, { text: 'back again' });
      assert.equal(ack.ok, true);
    } finally {
      socket.disconnect();
    }
  });
});
