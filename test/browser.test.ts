import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Client } from './support/client.js';
import { linkIn, Outbox } from './support/outbox.js';
import { startTestApp, type TestApp } from './support/test-app.js';

/**
 * The real pages in Debian's Chromium, driven by playwright-core (which never downloads a browser).
 * Outside CI, a machine without Chromium skips this file and says so; in CI it must run.
 */
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(executablePath);
if (!hasChromium && process.env.CI) throw new Error(`CI needs Chromium at ${executablePath} (.ci/run installs it)`);
const skip = hasChromium ? false : `no Chromium at ${executablePath}: apt-get install -y chromium, or set CHROMIUM_PATH`;

const ARTIFACTS = 'test-artifacts';
let app: TestApp;
let browser: Browser;
const dataDir = mkdtempSync(path.join(tmpdir(), 'eac-browser-'));
const outbox = new Outbox(dataDir);

before(async () => {
  if (skip) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  app = await startTestApp({ env: { DATA_DIR: dataDir } });
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  await browser?.close();
  await app?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function register(page: Page, login: string, name: string, base = app.url) {
  await page.goto(`${base}/register`);
  await page.fill('#login', login);
  await page.fill('#email', `${login}@example.com`);
  await page.fill('#name', name);
  await page.fill('#password', 'browser test passphrase 1');
  await Promise.all([page.waitForURL(`${base}/`), page.click('button[type=submit]')]);
}

describe('in a real browser', () => {
  test('register, chat with a second browser, log out, and the first tab’s socket is closed', { skip }, async () => {
    const stamp = Date.now().toString(36);
    const ada = await browser.newContext();
    const bea = await browser.newContext();
    try {
      const adaHome = await ada.newPage();
      const errors: string[] = [];
      adaHome.on('pageerror', (e) => errors.push(e.message));
      adaHome.on('console', (m) => m.type() === 'error' && errors.push(m.text()));

      await register(adaHome, `ada_${stamp}`, 'Ada <b>Lovelace</b>');
      await assert.doesNotReject(adaHome.getByText('Ada <b>Lovelace</b>', { exact: true }).first().waitFor());
      await adaHome.screenshot({ path: `${ARTIFACTS}/home.png`, fullPage: true });

      const adaChat = await ada.newPage();
      adaChat.on('pageerror', (e) => errors.push(e.message));
      await adaChat.goto(`${app.url}/chat`);
      await adaChat.waitForSelector('#status[data-state="online"]');

      const beaPage = await bea.newPage();
      await beaPage.goto(`${app.url}/login`);
      await beaPage.screenshot({ path: `${ARTIFACTS}/login.png`, fullPage: true });
      await register(beaPage, `bea_${stamp}`, 'Bea');
      await beaPage.goto(`${app.url}/chat`);
      await beaPage.waitForSelector('#status[data-state="online"]');
      await adaChat.waitForSelector('#online li:has-text("Bea")');

      const text = `hello from Bea <img src=x onerror=alert(1)> ${stamp}`;
      await beaPage.fill('#text', text);
      await beaPage.click('#send button[type=submit]');
      const shown = adaChat.locator('#messages li .text', { hasText: stamp });
      await shown.waitFor();
      assert.equal(await shown.textContent(), text, 'shown as plain text');
      assert.equal(await adaChat.locator('#messages img').count(), 0, 'no markup was rendered');
      await adaChat.screenshot({ path: `${ARTIFACTS}/chat.png`, fullPage: true });

      // Log out with the button on another tab: the chat tab's socket is closed by the server.
      await adaHome.reload();
      await Promise.all([adaHome.waitForURL(`${app.url}/`), adaHome.click('#logout')]);
      await adaHome.getByRole('link', { name: 'Sign in' }).first().waitFor();
      assert.equal(await adaHome.locator('text=Signed in as').count(), 0);
      await adaChat.waitForSelector('#status[data-state="ended"]', { timeout: 2000 });
      assert.match((await adaChat.textContent('#status')) ?? '', /session has ended/);
      await beaPage.locator('#online li', { hasText: 'Ada' }).waitFor({ state: 'detached' });

      assert.deepEqual(errors, []);
    } finally {
      await ada.close();
      await bea.close();
    }
  });

  test('in Russian (the browser asks for it): the login and chat pages, the chat client’s own words, and the switch back to English', { skip }, async () => {
    const stamp = Date.now().toString(36);
    const context = await browser.newContext({ locale: 'ru-RU' });
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${app.url}/login`);
      assert.equal(await page.getAttribute('html', 'lang'), 'ru');
      assert.equal(await page.textContent('h1'), 'Вход');
      assert.equal(await page.textContent('label[for="password"]'), 'Пароль');
      await page.screenshot({ path: `${ARTIFACTS}/login-ru.png`, fullPage: true });

      // A wrong password: the form error in Russian.
      await page.fill('#login', `nobody_${stamp}`);
      await page.fill('#password', 'not the password 1');
      await Promise.all([page.waitForLoadState('load'), page.click('form[action="/login"] button[type=submit]')]);
      await page.locator('.form-error', { hasText: 'Неверный логин или пароль' }).waitFor();

      await register(page, `zoya_${stamp}`, 'Зоя');
      await page.goto(`${app.url}/chat`);
      await page.waitForSelector('#status[data-state="online"]');
      assert.equal(await page.textContent('#status'), 'В сети', 'the connection state from the page, in Russian');
      assert.equal(await page.textContent('#send button[type=submit]'), 'Отправить');
      await page.fill('#text', `привет ${stamp}`);
      await page.click('#send button[type=submit]');
      await page.locator('#messages li .text', { hasText: `привет ${stamp}` }).waitFor();
      // Over the per-user rate: the client shows the server's code in Russian.
      for (let i = 0; i < 11; i++) {
        await page.fill('#text', `${i} ${stamp}`);
        await page.click('#send button[type=submit]');
      }
      await page.locator('#send-error', { hasText: 'Вы отправляете слишком часто' }).waitFor();
      await page.screenshot({ path: `${ARTIFACTS}/chat-ru.png`, fullPage: true });

      // The switch in the header, without JavaScript's help: a form post, back to this page, in English.
      await Promise.all([page.waitForURL(`${app.url}/chat`), page.click('form[action="/language"] button[value="en"]')]);
      assert.equal(await page.getAttribute('html', 'lang'), 'en');
      await page.waitForSelector('#status[data-state="online"]');
      assert.equal(await page.textContent('#status'), 'Online');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('an administrator disables a signed-in user from /admin, and that user’s chat tab shows the session has ended', { skip }, async () => {
    const stamp = Date.now().toString(36);
    const user = await browser.newContext();
    const admin = await browser.newContext();
    try {
      const chat = await user.newPage();
      await register(chat, `cy_${stamp}`, 'Cy');
      await chat.goto(`${app.url}/chat`);
      await chat.waitForSelector('#status[data-state="online"]');

      const adminPage = await admin.newPage();
      await register(adminPage, `root_${stamp}`, 'Root');
      await app.db.query("INSERT INTO user_roles (user_id, role) SELECT id, 'admin' FROM users WHERE login = $1", [`root_${stamp}`]);
      // Roles are loaded at sign-in: sign in again to hold the new one.
      await Promise.all([adminPage.waitForURL(`${app.url}/`), adminPage.click('#logout')]);
      await adminPage.goto(`${app.url}/login`);
      await adminPage.fill('#login', `root_${stamp}`);
      await adminPage.fill('#password', 'browser test passphrase 1');
      await Promise.all([adminPage.waitForURL(`${app.url}/`), adminPage.click('button[type=submit]')]);
      await adminPage.goto(`${app.url}/admin`);
      const row = adminPage.locator('tr', { hasText: `cy_${stamp}` });
      await Promise.all([adminPage.waitForURL(`${app.url}/admin`), row.locator('form[action$="/disable"] button').click()]);
      await adminPage.locator('tr', { hasText: `cy_${stamp}` }).locator('.badge', { hasText: 'disabled' }).waitFor();

      await chat.waitForSelector('#status[data-state="ended"]', { timeout: 2000 });
      assert.match((await chat.textContent('#status')) ?? '', /session has ended/);
      await chat.screenshot({ path: `${ARTIFACTS}/disabled-chat.png`, fullPage: true });
      await chat.goto(`${app.url}/chat`);
      assert.match(chat.url(), /\/login\?returnTo=%2Fchat$/, 'signed out for good');
    } finally {
      await user.close();
      await admin.close();
    }
  });

  test('forgot password: the link on /login, the mailed link, a new password, then signing in with it', { skip }, async () => {
    const stamp = Date.now().toString(36);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await register(page, `di_${stamp}`, 'Di');
      await Promise.all([page.waitForURL(`${app.url}/`), page.click('#logout')]);
      await page.goto(`${app.url}/login`);
      await Promise.all([page.waitForURL(`${app.url}/password/forgot`), page.click('a[href="/password/forgot"]')]);
      await page.fill('#email', `di_${stamp}@example.com`);
      await Promise.all([page.waitForURL(`${app.url}/password/forgot?sent=1`), page.click('button[type=submit]')]);
      await page.locator('.notice', { hasText: 'on its way' }).waitFor();

      const mail = (await outbox.waitFor(`di_${stamp}@example.com`, /Reset your password/))[0]!;
      await page.goto(app.url + linkIn(mail, app.url, '/password/reset'));
      await page.fill('#newPassword', 'a new browser passphrase 2');
      await Promise.all([page.waitForURL(`${app.url}/login?reset=1`), page.click('button[type=submit]')]);
      await page.locator('.notice', { hasText: 'password is changed' }).waitFor();
      await page.fill('#login', `di_${stamp}`);
      await page.fill('#password', 'a new browser passphrase 2');
      await Promise.all([page.waitForURL(`${app.url}/`), page.click('button[type=submit]')]);
      await page.locator('.who', { hasText: 'Di' }).waitFor();
    } finally {
      await context.close();
    }
  });

  test('passkeys (Chromium’s virtual authenticator): add one, sign out, sign in with it; a replayed response and a removed passkey are refused', { skip }, async () => {
    // WebAuthn needs a host name: this app's APP_ORIGIN is http://localhost:<port>.
    const pk = await startTestApp({ host: 'localhost', env: { DATA_DIR: dataDir } });
    const direct = pk.url.replace('localhost', '127.0.0.1');
    const stamp = Date.now().toString(36);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      const cdp = await context.newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
      });
      await register(page, `eve_${stamp}`, 'Eve', pk.url);
      await page.goto(`${pk.url}/account/passkeys`);
      await page.fill('#passkey-name', 'Test key');
      await page.click('#add-passkey');
      await page.locator('#passkey-list .passkey-name', { hasText: 'Test key' }).waitFor();
      await page.screenshot({ path: `${ARTIFACTS}/passkeys.png`, fullPage: true });
      const { rows } = await pk.db.query('SELECT p.counter, p.name FROM passkeys p JOIN users u ON u.id = p.user_id WHERE u.login = $1', [`eve_${stamp}`]);
      assert.equal(rows.length, 1);

      await page.goto(`${pk.url}/`);
      await Promise.all([page.waitForURL(`${pk.url}/`), page.click('#logout')]);
      // The login page asks for a passkey through the browser's autofill (conditional mediation) as it
      // loads; Chromium's virtual authenticator answers that at once, so this sign-in needs no click.
      const posted = page.waitForRequest((r) => r.url().endsWith('/login/passkey') && r.method() === 'POST');
      await Promise.all([page.waitForURL(`${pk.url}/`), page.goto(`${pk.url}/login`)]);
      await page.locator('.who', { hasText: 'Eve' }).waitFor();
      const body = (await posted).postData()!;

      // The same signed response again: its challenge is used.
      const script = new Client(direct, 'script');
      await script.fetchCsrf();
      const replay = await script.postJson('/login/passkey', JSON.parse(body));
      assert.equal(replay.status, 401);
      assert.equal(replay.json.error.code, 'wrong_credentials');

      await page.goto(`${pk.url}/account/passkeys`);
      await Promise.all([page.waitForURL(`${pk.url}/account/passkeys`), page.click('#passkey-list form.remove button[type=submit]')]);
      await page.locator('#no-passkeys').waitFor();
      await page.goto(`${pk.url}/`);
      await Promise.all([page.waitForURL(`${pk.url}/`), page.click('#logout')]);
      const passkeyAnswer = () => page.waitForResponse((r) => r.url().endsWith('/login/passkey') && r.request().method() === 'POST');
      // The autofill request first, then the button's own: both refused.
      const byAutofill = passkeyAnswer();
      await page.goto(`${pk.url}/login`);
      assert.equal((await byAutofill).status(), 401, 'a removed passkey signs nobody in');
      const byButton = passkeyAnswer();
      await page.click('#passkey-login');
      assert.equal((await byButton).status(), 401);
      await page.locator('#passkey-status', { hasText: 'Invalid login or password' }).waitFor();
      assert.equal(new URL(page.url()).pathname, '/login');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
      await pk.close();
    }
  });

  test('Chromium refuses WebAuthn when the relying party is an IP address (so passkeys need APP_ORIGIN on a host name)', { skip }, async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
      });
      await page.goto(`${app.url}/login`);
      // Run in the page (a string: the test has no DOM types).
      const outcome = await page.evaluate(`navigator.credentials.create({ publicKey: {
        challenge: new Uint8Array(32),
        rp: { id: location.hostname, name: 'x' },
        user: { id: new Uint8Array(8), name: 'u', displayName: 'u' },
        pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
        authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      } }).then(() => 'created', (e) => e.name)`);
      assert.equal(new URL(app.url).hostname, '127.0.0.1');
      assert.equal(outcome, 'SecurityError');
    } finally {
      await context.close();
    }
  });
});
