import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { Client, registeredScript } from './support/client.js';
import { connected, connectError, disconnected, next, openSocket } from './support/sockets.js';
import { startTestApp, type TestApp } from './support/test-app.js';

let app: TestApp;
before(async () => (app = await startTestApp()));
after(() => app.close());

const FINGERPRINT = 'device-1234';

/** A script client of the token API (it keeps the refresh cookie like a cookie-jar HTTP client). */
async function tokenLogin(user: { login: string; password: string }, fingerprint = FINGERPRINT) {
  const client = new Client(app.url, 'script');
  const reply = await client.postJson('/api/auth/login', { login: user.login, password: user.password, fingerprint }, { csrf: false });
  return { client, reply };
}

const refresh = (client: Client, fingerprint = FINGERPRINT) => client.postJson('/api/auth/refresh-tokens', { fingerprint }, { csrf: false });
const me = (token: string | undefined) => new Client(app.url, 'script').get('/api/me', token === undefined ? {} : { authorization: `Bearer ${token}` });

function assertInvalidToken(reply: { status: number; json: any; headers: Headers }, code = 'invalid_token') {
  assert.equal(reply.status, 401);
  assert.equal(reply.json.error.code, code);
  assert.match(reply.headers.get('www-authenticate') ?? '', /^Bearer/);
}

describe('POST /api/auth/login', () => {
  test('answers the access token, its type and lifetime, the user, and an HttpOnly SameSite=Strict refresh cookie on /api/auth', async () => {
    const { user, id } = await registeredScript(app.url);
    const { reply } = await tokenLogin(user);
    assert.equal(reply.status, 200);
    assert.deepEqual(Object.keys(reply.json).sort(), ['accessToken', 'expiresIn', 'tokenType', 'user']);
    assert.equal(reply.json.tokenType, 'Bearer');
    assert.equal(reply.json.expiresIn, 1800);
    assert.deepEqual(Object.keys(reply.json.user).sort(), ['email', 'id', 'login', 'name', 'roles']);
    const cookie = reply.setCookies.find((c) => c.startsWith('refreshToken='))!;
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=Strict/);
    assert.match(cookie, /; Path=\/api\/auth/);
    assert.doesNotMatch(cookie, /; Secure/);
    assert.ok(!reply.setCookies.some((c) => c.startsWith('sid=')), 'no browser session');

    const claims = decodeJwt(reply.json.accessToken);
    assert.equal(claims.sub, String(id));
    assert.deepEqual(claims.roles, []);
    assert.equal(claims.iss, app.url);
    assert.equal(claims.exp! - claims.iat!, 1800);
    assert.match(decodeProtectedHeader(reply.json.accessToken).alg!, /^(EdDSA|ES256)$/);
  });

  test('the refresh token is stored only as a hash, with the fingerprint hash and an expiry of 30 days', async () => {
    const { user, id } = await registeredScript(app.url);
    const { client } = await tokenLogin(user);
    const token = decodeURIComponent(client.cookies.get('refreshToken')!);
    const { rows } = await app.db.query('SELECT * FROM refresh_tokens WHERE user_id = $1', [id]);
    assert.equal(rows.length, 1);
    assert.ok(!JSON.stringify(rows).includes(token));
    assert.ok(!JSON.stringify(rows).includes(FINGERPRINT));
    const days = (rows[0].expires_at.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days <= 30, `${days} days`);
  });

  test('wrong credentials, throttling and audit are those of /login', async () => {
    const { user, id } = await registeredScript(app.url);
    const bad = await tokenLogin({ login: user.login, password: 'not the password' });
    assert.equal(bad.reply.status, 401);
    assert.equal(bad.reply.json.error.code, 'wrong_credentials');
    const unknown = await tokenLogin({ login: 'nobody_at_all', password: 'not the password' });
    assert.deepEqual(unknown.reply.json, bad.reply.json);
    for (let i = 0; i < 5; i++) await tokenLogin({ login: user.login, password: 'not the password' });
    const throttled = await tokenLogin(user);
    assert.equal(throttled.reply.status, 429);
    assert.ok(throttled.reply.headers.get('retry-after'));
    await app.db.query("DELETE FROM login_throttle WHERE key LIKE 'pair:%' || $1 || '%'", [user.login]);
    assert.equal((await tokenLogin(user)).reply.status, 200);
    const { rows } = await app.db.query("SELECT count(*)::int AS n FROM security.sessions WHERE user_id = $1 AND kind = 'app'", [id]);
    assert.equal(rows[0].n, 1, 'a security.sessions row for the token sign-in');
  });

  test('missing fingerprint or non-JSON bodies are refused; a foreign Origin is csrf_failed', async () => {
    const { user } = await registeredScript(app.url);
    const client = new Client(app.url, 'script');
    const noFingerprint = await client.postJson('/api/auth/login', { login: user.login, password: user.password }, { csrf: false });
    assert.equal(noFingerprint.status, 400);
    assert.equal(noFingerprint.json.error.code, 'invalid_input');
    const form = await client.request('POST', '/api/auth/login', {
      body: new URLSearchParams({ login: user.login, password: user.password, fingerprint: 'x' }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(form.status, 415);
    const foreign = await client.postJson('/api/auth/login', { login: user.login, password: user.password, fingerprint: 'x' }, { csrf: false, headers: { origin: 'https://evil.example' } });
    assert.equal(foreign.status, 403);
    assert.equal(foreign.json.error.code, 'csrf_failed');
  });
});

describe('access tokens', () => {
  test('GET /api/me with the token answers the user', async () => {
    const { user, id } = await registeredScript(app.url);
    const { reply } = await tokenLogin(user);
    const answer = await me(reply.json.accessToken);
    assert.equal(answer.status, 200);
    assert.equal(answer.json.user.id, id);
  });

  test('verifiable by other services with the published JWKS', async () => {
    const { user } = await registeredScript(app.url);
    const { reply } = await tokenLogin(user);
    const jwks = (await new Client(app.url, 'script').get('/.well-known/jwks.json')).json;
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0].d, undefined, 'no private part');
    const { payload } = await jwtVerify(reply.json.accessToken, createLocalJWKSet(jwks), { issuer: app.url });
    assert.ok(payload.sub);
  });

  test('missing, malformed, tampered, alg none, another key, expired, or a refresh token: 401 invalid_token, never 500', async () => {
    const { user } = await registeredScript(app.url);
    const { reply, client } = await tokenLogin(user);
    const good: string = reply.json.accessToken;
    const [h, p, s] = good.split('.') as [string, string, string];
    const claims = decodeJwt(good);
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

    const edited = `${h}.${b64({ ...claims, sub: '1', roles: ['admin'] })}.${s}`;
    const none = `${b64({ alg: 'none', typ: 'at+jwt' })}.${p}.`;
    const other = generateKeyPairSync('ed25519').privateKey;
    const foreign = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt' }).sign(other);
    const expired = await new SignJWT({ ...claims, iat: 1_000_000, exp: 1_000_100 })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt' })
      .sign(other);
    const hmac = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' }).sign(new TextEncoder().encode('x'.repeat(32)));
    const refreshToken = decodeURIComponent(client.cookies.get('refreshToken')!);

    assertInvalidToken(await me(undefined));
    for (const token of ['garbage', 'a.b.c', edited, none, foreign, expired, hmac, refreshToken, `${good}x`]) {
      assertInvalidToken(await me(token));
    }
    const basic = await new Client(app.url, 'script').get('/api/me', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` });
    assertInvalidToken(basic);
  });

  test('a token of ours that is past its expiry is refused', async () => {
    const { user } = await registeredScript(app.url);
    const { reply } = await tokenLogin(user);
    const claims = decodeJwt(reply.json.accessToken);
    const { readFile } = await import('node:fs/promises');
    const { createPrivateKey } = await import('node:crypto');
    const key = createPrivateKey(await readFile('.data/test-keys/jwt-signing-key.pem', 'utf8'));
    const header = decodeProtectedHeader(reply.json.accessToken);
    const expired = await new SignJWT({ ...claims, iat: Math.floor(Date.now() / 1000) - 3600, exp: Math.floor(Date.now() / 1000) - 1800 })
      .setProtectedHeader({ alg: header.alg!, kid: header.kid!, typ: 'at+jwt' })
      .sign(key);
    assertInvalidToken(await me(expired));
  });
});

describe('POST /api/auth/refresh-tokens', () => {
  test('rotates: a new access token and a new refresh token; the old one is dead', async () => {
    const { user } = await registeredScript(app.url);
    const { client } = await tokenLogin(user);
    const first = client.cookies.get('refreshToken')!;
    const rotated = await refresh(client);
    assert.equal(rotated.status, 200);
    assert.ok(rotated.json.accessToken);
    assert.equal((await me(rotated.json.accessToken)).status, 200);
    const second = client.cookies.get('refreshToken')!;
    assert.notEqual(second, first);

    const replay = new Client(app.url, 'script');
    replay.cookies.set('refreshToken', first);
    assertInvalidToken(await refresh(replay), 'token_reused');
  });

  test('replaying a used token revokes the whole family: the newest token dies too, with an audit event', async () => {
    const { user, id } = await registeredScript(app.url);
    const { client } = await tokenLogin(user);
    const stolen = client.cookies.get('refreshToken')!;
    const rotated = await refresh(client); // the legitimate client moves on
    const thief = new Client(app.url, 'script');
    thief.cookies.set('refreshToken', stolen);
    assertInvalidToken(await refresh(thief), 'token_reused');
    assertInvalidToken(await refresh(client));
    assertInvalidToken(await me(rotated.json.accessToken));
    const { rows } = await app.db.query("SELECT detail FROM security.events WHERE type = 'revoked' AND user_id = $1", [id]);
    assert.deepEqual(rows.map((r) => r.detail.why), ['token_reused']);
  });

  test('a different fingerprint is invalid_token and revokes the family', async () => {
    const { user } = await registeredScript(app.url);
    const { client } = await tokenLogin(user);
    const copy = new Client(app.url, 'script');
    copy.cookies.set('refreshToken', client.cookies.get('refreshToken')!);
    assertInvalidToken(await refresh(copy, 'another-device'));
    assertInvalidToken(await refresh(client));
  });

  test('two concurrent refreshes with one token never leave two live successors', async () => {
    const { user, id } = await registeredScript(app.url);
    const { client } = await tokenLogin(user);
    const token = client.cookies.get('refreshToken')!;
    const racers = Array.from({ length: 3 }, () => {
      const c = new Client(app.url, 'script');
      c.cookies.set('refreshToken', token);
      return c;
    });
    const replies = await Promise.all(racers.map((c) => refresh(c)));
    assert.ok(replies.filter((r) => r.status === 200).length <= 1, replies.map((r) => r.status).join(','));
    const { rows } = await app.db.query('SELECT count(*)::int AS n FROM refresh_tokens WHERE user_id = $1 AND used_at IS NULL AND revoked_at IS NULL', [id]);
    assert.ok(rows[0].n <= 1, `${rows[0].n} live successors`);
  });

  test('without the cookie: 401 invalid_token', async () => {
    assertInvalidToken(await refresh(new Client(app.url, 'script')));
  });
});

describe('revocation', () => {
  test('POST /api/auth/logout: 204, cookie cleared, family revoked', async () => {
    const { user } = await registeredScript(app.url);
    const { client, reply } = await tokenLogin(user);
    const token = client.cookies.get('refreshToken')!;
    const out = await client.postJson('/api/auth/logout', {}, { csrf: false });
    assert.equal(out.status, 204);
    assert.ok(out.setCookies.some((c) => /^refreshToken=;/.test(c)));
    const again = new Client(app.url, 'script');
    again.cookies.set('refreshToken', token);
    assertInvalidToken(await refresh(again));
    assertInvalidToken(await me(reply.json.accessToken));
  });

  test('logout everywhere in the browser revokes every refresh token of the user', async () => {
    const { user, client: browser } = await registeredScript(app.url);
    const phone = await tokenLogin(user);
    const tablet = await tokenLogin(user, 'tablet');
    await browser.postJson('/logout', { everywhere: '1' });
    assertInvalidToken(await refresh(phone.client));
    assertInvalidToken(await refresh(tablet.client, 'tablet'));
  });

  test('a password change revokes every refresh token of the user', async () => {
    const { user, client: browser } = await registeredScript(app.url);
    const phone = await tokenLogin(user);
    assert.equal((await browser.postJson('/account/password', { currentPassword: user.password, newPassword: 'fresh new phrase 88' })).status, 200);
    assertInvalidToken(await refresh(phone.client));
  });
});

describe('Socket.IO with a token', () => {
  test('auth.token opens a socket as that user; revoking the sign-in closes it', async () => {
    const { user, id } = await registeredScript(app.url);
    const { client, reply } = await tokenLogin(user);
    const socket = openSocket(app.url, undefined, { auth: { token: reply.json.accessToken } });
    try {
      const presence = next<{ users: { id: number }[] }>(socket, 'presence');
      await next(socket, 'connect');
      assert.ok((await presence).users.some((u) => u.id === id));
      const closed = disconnected(socket);
      await client.postJson('/api/auth/logout', {}, { csrf: false });
      assert.equal(await closed, 'io server disconnect');
    } finally {
      socket.disconnect();
    }
  });

  test('a bad token is refused unauthorized', async () => {
    const socket = openSocket(app.url, undefined, { auth: { token: 'not.a.token' } });
    try {
      assert.equal((await connectError(socket)).message, 'unauthorized');
    } finally {
      socket.disconnect();
    }
  });

  test('a cookie session still works beside it', async () => {
    const { client } = await registeredScript(app.url);
    const { socket } = await connected(app.url, client);
    socket.disconnect();
  });
});
