import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, registeredScript } from './support/client.js';
import { startTestApp, type TestApp } from './support/test-app.js';

let app: TestApp;
before(async () => (app = await startTestApp({ env: { TRUST_PROXY: 'true' } })));
after(() => app.close());

const b64 = (s: string) => Buffer.from(s).toString('base64url');
/** A response of the right shape whose clientDataJSON names `challenge` (no authenticator signed it). */
const fakeAssertion = (challenge: string, id = 'AAAA') => ({
  id,
  rawId: id,
  type: 'public-key',
  clientExtensionResults: {},
  response: {
    clientDataJSON: b64(JSON.stringify({ type: 'webauthn.get', challenge, origin: app.url })),
    authenticatorData: b64('x'.repeat(37)),
    signature: b64('sig'),
  },
});

async function anonymous(ip: string) {
  const client = new Client(app.url, 'script');
  await client.fetchCsrf();
  return { client, headers: { 'x-forwarded-for': ip } };
}

describe('passkeys over HTTP (the ceremony itself runs in Chromium, see browser.test.ts)', () => {
  test('creation options: rp.id is APP_ORIGIN’s host, a discoverable credential, user verification required; the list starts empty', async () => {
    const u = await registeredScript(app.url);
    const options = await u.client.postJson('/account/passkeys/options', {});
    assert.equal(options.status, 200);
    assert.equal(options.json.rp.id, new URL(app.url).hostname);
    assert.equal(options.json.authenticatorSelection.residentKey, 'required');
    assert.equal(options.json.authenticatorSelection.userVerification, 'required');
    assert.ok(options.json.challenge.length >= 22);
    assert.equal(options.json.user.name, u.user.login);
    assert.deepEqual((await u.client.get('/account/passkeys')).json, { passkeys: [] });
    assert.equal((await new Client(app.url, 'script').get('/account/passkeys')).status, 401);
  });

  test('a registration that is not JSON, of the wrong type, or for another challenge is 400 invalid_input, never 500', async () => {
    const u = await registeredScript(app.url);
    const options = (await u.client.postJson('/account/passkeys/options', {})).json;
    const attestation = (challenge: string) => ({
      id: 'AAAA', rawId: 'AAAA', type: 'public-key', clientExtensionResults: {},
      response: { clientDataJSON: b64(JSON.stringify({ type: 'webauthn.create', challenge, origin: app.url })), attestationObject: b64('not cbor') },
    });
    for (const body of ['not json', '[]', '"x"', JSON.stringify({ type: 'public-key' }), JSON.stringify({ ...attestation(options.challenge), type: 'other' }), JSON.stringify(attestation('another-challenge')), JSON.stringify({ ...attestation(options.challenge), name: 'x'.repeat(65) })]) {
      const answer = await u.client.postJson('/account/passkeys', body);
      assert.equal(answer.status, 400, body.slice(0, 40));
      assert.equal(answer.json.error.code, 'invalid_input');
    }
    // The right challenge, a bad attestation: refused, and the challenge is spent.
    assert.equal((await u.client.postJson('/account/passkeys', attestation(options.challenge))).status, 400);
    assert.equal((await app.db.query('SELECT count(*)::int AS n FROM webauthn_challenges WHERE challenge = $1', [options.challenge])).rows[0].n, 0);
  });

  test('signing in: an unknown credential or a used challenge is 401 wrong_credentials and counts against the IP; malformed bodies are 400', async () => {
    const { client, headers } = await anonymous('203.0.113.7');
    const options = await client.postJson('/login/passkey/options', {}, { headers });
    assert.equal(options.status, 200);
    assert.equal(options.json.userVerification, 'required');
    assert.equal(options.json.rpId, new URL(app.url).hostname);
    const unknown = await client.postJson('/login/passkey', fakeAssertion(options.json.challenge), { headers });
    assert.equal(unknown.status, 401);
    assert.equal(unknown.json.error.code, 'wrong_credentials');
    const reused = await client.postJson('/login/passkey', fakeAssertion(options.json.challenge), { headers });
    assert.equal(reused.json.error.code, 'wrong_credentials');
    const never = await client.postJson('/login/passkey', fakeAssertion('never-issued'), { headers });
    assert.equal(never.json.error.code, 'wrong_credentials');
    const { rows } = await app.db.query("SELECT failures FROM login_throttle WHERE key = 'ip:203.0.113.7'");
    assert.equal(rows[0].failures, 3, 'counted against the IP');
    for (const body of ['nope', '{}', '[1]', JSON.stringify({ ...fakeAssertion('c'), type: 'password' }), JSON.stringify({ ...fakeAssertion('c'), response: { clientDataJSON: '!!' } })]) {
      const answer = await client.postJson('/login/passkey', body, { headers });
      assert.equal(answer.status, 400, body.slice(0, 30));
      assert.equal(answer.json.error.code, 'invalid_input');
    }
    assert.ok(!client.cookies.has('sid'), 'nobody signed in');
  });

  test('renaming and removing: unknown, malformed or another user’s passkey ids are 404; a bad name is 400', async () => {
    const u = await registeredScript(app.url);
    const other = await registeredScript(app.url);
    const { rows } = await app.db.query(
      "INSERT INTO passkeys (user_id, credential_id, public_key, name) VALUES ($1::bigint, 'cred-' || $1::text, '\\x00', 'Theirs') RETURNING id",
      [other.id],
    );
    for (const id of [String(rows[0].id), '999999999', 'abc', '1e3', '%00', 'x'.repeat(300)]) {
      const answer = await u.client.postJson(`/account/passkeys/${id}/remove`, {});
      assert.equal(answer.status, 404, id.slice(0, 20));
    }
    assert.equal((await u.client.postJson(`/account/passkeys/${rows[0].id}/rename`, { name: 'Mine now' })).status, 404, 'not theirs to rename');
    for (const name of ['', ' ', 'x'.repeat(65), ['a'], 'a\u0000b']) {
      assert.equal((await other.client.postJson(`/account/passkeys/${rows[0].id}/rename`, { name })).status, 400, JSON.stringify(name).slice(0, 20));
    }
    const renamed = await other.client.postJson(`/account/passkeys/${rows[0].id}/rename`, { name: '  Work laptop  ' });
    assert.equal(renamed.status, 200);
    assert.equal(renamed.json.passkey.name, 'Work laptop');
    assert.equal((await other.client.get('/account/passkeys')).json.passkeys[0].name, 'Work laptop');
    assert.equal((await other.client.postJson(`/account/passkeys/${rows[0].id}/remove`, {})).status, 204);
    assert.deepEqual((await other.client.get('/account/passkeys')).json, { passkeys: [] });
  });
});
