import assert from 'node:assert/strict';
import { generateKeyPairSync, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, registeredBrowser } from './support/client.js';
import { startTestApp, type TestApp } from './support/test-app.js';

/** CloudFront is the outside world: the test makes its own key pair and checks what CloudFront would. */
const dir = mkdtempSync(path.join(tmpdir(), 'eac-cf-'));
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const keyFile = path.join(dir, 'cloudfront.pem');
writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
const RESOURCE = 'https://cdn.example.com/private/*';

let app: TestApp;
before(async () => {
  app = await startTestApp({
    env: { CLOUDFRONT_KEY_PAIR_ID: 'K2TESTKEYPAIR', CLOUDFRONT_PRIVATE_KEY_PATH: keyFile, CLOUDFRONT_RESOURCE: RESOURCE, SESSION_ABSOLUTE_HOURS: '10' },
  });
});
after(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

/** CloudFront's URL-safe base64: + becomes -, = becomes _, / becomes ~. */
const fromCloudFrontBase64 = (s: string) => Buffer.from(s.replace(/-/g, '+').replace(/_/g, '=').replace(/~/g, '/'), 'base64');

describe('signed asset cookies', () => {
  test('a sign-in sets CloudFront-Policy, -Signature and -Key-Pair-Id, valid for the resource for CLOUDFRONT_COOKIE_MINUTES; logout clears them', async () => {
    const { user } = await registeredBrowser(app.url);
    const browser = new Client(app.url);
    await browser.get('/login');
    const reply = await browser.postForm('/login', { login: user.login, password: user.password });
    assert.equal(reply.status, 303);
    const set = (name: string) => reply.setCookies.find((c) => c.startsWith(`${name}=`));
    for (const name of ['CloudFront-Policy', 'CloudFront-Signature', 'CloudFront-Key-Pair-Id']) {
      assert.ok(set(name), name);
      assert.match(set(name)!, /; HttpOnly/);
      assert.match(set(name)!, /; Path=\//);
    }
    assert.equal(browser.cookies.get('CloudFront-Key-Pair-Id'), 'K2TESTKEYPAIR');

    const policy = fromCloudFrontBase64(decodeURIComponent(browser.cookies.get('CloudFront-Policy')!));
    const signature = fromCloudFrontBase64(decodeURIComponent(browser.cookies.get('CloudFront-Signature')!));
    assert.ok(verify('RSA-SHA1', policy, publicKey, signature), 'the signature verifies with the public key');
    const statement = JSON.parse(policy.toString()).Statement[0];
    assert.equal(statement.Resource, RESOURCE);
    const until = statement.Condition.DateLessThan['AWS:EpochTime'] * 1000;
    assert.ok(Math.abs(until - (Date.now() + 10 * 60_000)) < 5_000, 'ends CLOUDFRONT_COOKIE_MINUTES (default 10) after issue');

    await browser.get('/'); // the page's CSRF token changed at sign-in
    const out = await browser.postForm('/logout', {});
    assert.equal(out.status, 303);
    for (const name of ['CloudFront-Policy', 'CloudFront-Signature', 'CloudFront-Key-Pair-Id']) {
      assert.ok(out.setCookies.some((c) => c.startsWith(`${name}=;`)), `${name} cleared`);
    }
  });

  test('a failed sign-in sets none', async () => {
    const browser = new Client(app.url);
    await browser.get('/login');
    const reply = await browser.postForm('/login', { login: 'nobody_here', password: 'wrong password here' });
    assert.ok(!reply.setCookies.some((c) => c.startsWith('CloudFront-')));
  });
});

describe('signed asset cookies are short and renewed', () => {
  const policyEnd = (setCookies: string[]) => {
    const line = setCookies.find((c) => c.startsWith('CloudFront-Policy='));
    if (!line) return undefined;
    const value = decodeURIComponent(line.slice('CloudFront-Policy='.length).split(';')[0]!);
    return JSON.parse(fromCloudFrontBase64(value).toString()).Statement[0].Condition.DateLessThan['AWS:EpochTime'] * 1000;
  };

  test('a signed-in request with more than half left gets none; with less than half left, fresh ones', async () => {
    const { client, user } = await registeredBrowser(app.url);
    const calm = await client.get('/');
    assert.equal(policyEnd(calm.setCookies), undefined, 'nothing to renew yet');
    const { rows } = await app.db.query('SELECT sess FROM express_sessions WHERE user_id = (SELECT id FROM users WHERE login = $1)', [user.login]);
    const sess = rows[0].sess;
    sess.assetCookiesIssuedAt = Date.now() - 8 * 60_000;
    sess.assetCookiesUntil = Date.now() + 2 * 60_000;
    await app.db.query('UPDATE express_sessions SET sess = $2 WHERE user_id = (SELECT id FROM users WHERE login = $1)', [user.login, JSON.stringify(sess)]);
    await app.application.sessionChangesHeard();
    const renewed = await client.get('/');
    const until = policyEnd(renewed.setCookies);
    assert.ok(until && Math.abs(until - (Date.now() + 10 * 60_000)) < 5_000, 'a fresh 10-minute policy');
  });

  test('a restricted sign-in (expired password) gets none', async () => {
    const { user } = await registeredBrowser(app.url);
    await app.db.query('UPDATE users SET password_expired = true WHERE login = $1', [user.login]);
    const browser = new Client(app.url);
    await browser.get('/login');
    const reply = await browser.postForm('/login', { login: user.login, password: user.password });
    assert.equal(reply.status, 303);
    assert.equal(reply.location, '/account/password');
    assert.ok(!reply.setCookies.some((c) => c.startsWith('CloudFront-')));
    const page = await browser.get('/account/password');
    assert.ok(!page.setCookies.some((c) => c.startsWith('CloudFront-')));
  });
});
