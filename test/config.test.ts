import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';

describe('configuration', () => {
  test('defaults follow the contract', () => {
    const c = loadConfig({});
    assert.equal(c.port, 3000);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.appOrigin, 'http://localhost:3000');
    assert.equal(c.https, false);
    assert.equal(c.sessionIdleMs, 720 * 60_000);
    assert.equal(c.sessionAbsoluteMs, 240 * 3_600_000);
    assert.equal(c.bcryptCost, 12);
    assert.equal(c.loginMaxFailures, 5);
    assert.equal(c.loginIpDailyFailures, 100);
    assert.equal(c.passwordMaxAgeDays, 0);
    assert.equal(c.trustProxy, false);
    assert.equal(c.databaseUrl, undefined);
    assert.match(c.dataDir, /\.data$/);
  });

  test('APP_ORIGIN defaults to the port; https turns on secure mode', () => {
    assert.equal(loadConfig({ PORT: '8080' }).appOrigin, 'http://localhost:8080');
    const c = loadConfig({ APP_ORIGIN: 'https://chat.example.com/' });
    assert.equal(c.appOrigin, 'https://chat.example.com');
    assert.equal(c.https, true);
  });

  for (const [name, value, pattern] of [
    ['PORT', 'eighty', /^Invalid setting PORT: /],
    ['PORT', '70000', /^Invalid setting PORT: /],
    ['BCRYPT_COST', '3', /^Invalid setting BCRYPT_COST: /],
    ['SESSION_IDLE_MINUTES', '0', /^Invalid setting SESSION_IDLE_MINUTES: /],
    ['CONFIRMATION_CODE_MINUTES', '0', /^Invalid setting CONFIRMATION_CODE_MINUTES: /],
    ['DATABASE_URL', 'mysql://x', /^Invalid setting DATABASE_URL: /],
    ['APP_ORIGIN', 'https://example.com/app', /^Invalid setting APP_ORIGIN: /],
    ['APP_ORIGIN', 'ftp://example.com', /^Invalid setting APP_ORIGIN: /],
    ['LOG_LEVEL', 'loud', /^Invalid setting LOG_LEVEL: /],
    ['TRUST_PROXY', 'maybe?', /^Invalid setting TRUST_PROXY: /],
    ['SESSION_SECRET', 'short', /^Invalid setting SESSION_SECRET: /],
  ] as const) {
    test(`${name}=${value} is refused with one line naming the variable`, () => {
      assert.throws(() => loadConfig({ [name]: value }), (err: unknown) => err instanceof ConfigError && pattern.test(err.message) && !err.message.includes('\n'));
    });
  }

  test('CloudFront settings come all together or not at all', () => {
    assert.throws(() => loadConfig({ CLOUDFRONT_KEY_PAIR_ID: 'K1' }), /Invalid setting CLOUDFRONT_PRIVATE_KEY_PATH: required/);
    assert.equal(loadConfig({}).cloudFront, undefined);
    assert.deepEqual(loadConfig({ CLOUDFRONT_KEY_PAIR_ID: 'K1', CLOUDFRONT_PRIVATE_KEY_PATH: '/k.pem', CLOUDFRONT_RESOURCE: 'https://cdn.example.com/*' }).cloudFront, {
      keyPairId: 'K1', privateKeyPath: '/k.pem', resource: 'https://cdn.example.com/*', cookieDomain: undefined, cookieMinutes: 10,
    });
    assert.throws(() => loadConfig({ REQUIRE_EMAIL_CONFIRMATION: 'sometimes' }), /Invalid setting REQUIRE_EMAIL_CONFIRMATION: /);
  });

  test('production requires SESSION_SECRET', () => {
    assert.throws(() => loadConfig({ NODE_ENV: 'production' }), /Invalid setting SESSION_SECRET: required/);
    assert.deepEqual(loadConfig({ NODE_ENV: 'production', SESSION_SECRET: 'n'.repeat(40) + ',' + 'o'.repeat(40) }).sessionSecrets, ['n'.repeat(40), 'o'.repeat(40)]);
  });

  test('TRUST_PROXY takes a boolean, a hop count or a list', () => {
    assert.equal(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true);
    assert.equal(loadConfig({ TRUST_PROXY: '2' }).trustProxy, 2);
    assert.deepEqual(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy, ['loopback', '10.0.0.0/8']);
  });
});
