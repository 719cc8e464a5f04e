import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, newUser } from './support/client.js';
import { startTestApp, type TestApp } from './support/test-app.js';

/** APP_ORIGIN on https, as behind a TLS-terminating proxy: the hop to the app itself is plain http. */
let app: TestApp;
before(async () => (app = await startTestApp({ env: { APP_ORIGIN: 'https://chat.example.com' } })));
after(() => app.close());

describe('when APP_ORIGIN is https', () => {
  test('the session cookie is __Host-sid, Secure, HttpOnly, SameSite=Lax, Path=/; the CSRF cookie is __Host- too; HSTS is sent', async () => {
    const client = new Client(app.url, 'script');
    const token = await client.fetchCsrf();
    assert.ok(client.cookies.has('__Host-csrf'));
    assert.ok(token);
    const reply = await client.postJson('/register', newUser(), { headers: { origin: 'https://chat.example.com' } });
    assert.equal(reply.status, 201);
    const cookie = reply.setCookies.find((c) => c.startsWith('__Host-sid='));
    assert.ok(cookie, reply.setCookies.join('\n'));
    for (const attribute of ['; Secure', '; HttpOnly', '; SameSite=Lax', '; Path=/']) assert.ok(cookie.includes(attribute), attribute);
    assert.doesNotMatch(cookie, /Domain=/i);
    assert.match(reply.headers.get('strict-transport-security') ?? '', /max-age=\d+/);
    const home = await client.get('/');
    assert.equal(home.json.user.login, reply.json.user.login);
  });

  test('a "keep me signed in" cookie is renewed with use as __Host-sid, Secure, with an expiry', async () => {
    const origin = { headers: { origin: 'https://chat.example.com' } };
    const registering = new Client(app.url, 'script');
    await registering.fetchCsrf();
    const user = newUser();
    assert.equal((await registering.postJson('/register', user, origin)).status, 201);
    const client = new Client(app.url, 'script');
    await client.fetchCsrf();
    const signedIn = await client.postJson('/login', { login: user.login, password: user.password, remember: '1' }, origin);
    assert.equal(signedIn.status, 200);
    const later = await client.get('/');
    assert.equal(later.json.user.login, user.login);
    const renewed = later.setCookies.find((c) => c.startsWith('__Host-sid='));
    assert.ok(renewed, 'renewed on the next response');
    for (const attribute of ['; Secure', '; HttpOnly', '; SameSite=Lax', '; Path=/']) assert.ok(renewed.includes(attribute), attribute);
    assert.match(renewed, /; Expires=/);
  });

  test('a request from the http origin is refused as another site', async () => {
    const client = new Client(app.url, 'script');
    await client.fetchCsrf();
    const reply = await client.postJson('/register', newUser(), { headers: { origin: app.url } });
    assert.equal(reply.status, 403);
    assert.equal(reply.json.error.code, 'csrf_failed');
  });
});
