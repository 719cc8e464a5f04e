import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, newUser, registeredScript } from './support/client.js';
import { Outbox } from './support/outbox.js';
import { signedInAdmin, startTestApp, type TestApp } from './support/test-app.js';

/**
 * CONTRACT "Languages": English and Russian pages, form errors, JSON messages and mail; the `lang`
 * cookie, else Accept-Language, else English; `<html lang>`; codes, routes and keys never change.
 * The Russian strings below are written here, not read from the catalogues: the test says what a
 * reader sees.
 */
const dataDir = mkdtempSync(path.join(tmpdir(), 'eac-languages-'));
const outbox = new Outbox(dataDir);
let app: TestApp;
before(async () => (app = await startTestApp({ env: { DATA_DIR: dataDir, TRUST_PROXY: 'true' } })));
after(async () => {
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const CYRILLIC = /[А-Яа-яЁё]/;
const htmlLang = (html: string) => /<html lang="([^"]*)">/.exec(html)?.[1];

/** A GET with exactly these headers (fetch always adds `Accept-Language: *`; a bare client sends none). */
function rawGet(pathname: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(app.url + pathname, { headers: { accept: 'text/html', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
  });
}

let ipCounter = 0;
const freshIp = () => `203.0.113.${++ipCounter}`;

describe('the language of a page', () => {
  test('no Accept-Language, `*`, or no supported tag: English', async () => {
    const bare = await rawGet('/login');
    assert.equal(bare.status, 200);
    assert.equal(htmlLang(bare.text), 'en');
    assert.match(bare.text, /<h1>Sign in<\/h1>/);
    for (const header of ['*', 'fr-FR, de;q=0.8', 'zz', 'ru;q=0']) {
      const page = await rawGet('/login', { 'accept-language': header });
      assert.equal(htmlLang(page.text), 'en', header);
      assert.match(page.text, /<h1>Sign in<\/h1>/, header);
    }
  });

  test('else the best match of Accept-Language', async () => {
    const cases: Array<[string, string]> = [
      ['ru', 'ru'],
      ['ru-RU,ru;q=0.9,en;q=0.8', 'ru'],
      ['fr, ru;q=0.5, en;q=0.3', 'ru'],
      ['en-GB, ru;q=0.9', 'en'],
      ['de, en;q=0.2, ru;q=0.1', 'en'],
      ['en;q=0.4, ru-UA;q=0.7', 'ru'],
    ];
    for (const [header, expected] of cases) {
      const page = await rawGet('/login', { 'accept-language': header });
      assert.equal(htmlLang(page.text), expected, header);
    }
    const ru = await rawGet('/login', { 'accept-language': 'ru-RU' });
    assert.match(ru.text, /<h1>Вход<\/h1>/);
    assert.match(ru.text, /Забыли пароль\?/);
  });

  test('the lang cookie wins over Accept-Language; a lang cookie other than en or ru is ignored', async () => {
    assert.equal(htmlLang((await rawGet('/login', { cookie: 'lang=ru', 'accept-language': 'en' })).text), 'ru');
    assert.equal(htmlLang((await rawGet('/login', { cookie: 'lang=en', 'accept-language': 'ru' })).text), 'en');
    assert.equal(htmlLang((await rawGet('/login', { cookie: 'other=1; lang=ru', 'accept-language': 'en-US' })).text), 'ru');
    assert.equal(htmlLang((await rawGet('/login', { cookie: 'lang=de', 'accept-language': 'ru' })).text), 'ru');
    assert.equal(htmlLang((await rawGet('/login', { cookie: 'lang=RU%00', 'accept-language': 'en' })).text), 'en');
    assert.equal(htmlLang((await rawGet('/login', { cookie: 'lang=xx' })).text), 'en');
  });

  test('every kind of page says its language: the 404 page, the home page, a signed-in page', async () => {
    const missing = await rawGet('/no-such-page', { 'accept-language': 'ru' });
    assert.equal(missing.status, 404);
    assert.equal(htmlLang(missing.text), 'ru');
    assert.match(missing.text, /Страница не найдена/);
    assert.equal(htmlLang((await rawGet('/', { 'accept-language': 'ru' })).text), 'ru');

    const u = await registeredScript(app.url);
    const page = await u.client.get('/account', { accept: 'text/html', 'accept-language': 'ru' });
    assert.equal(page.status, 200);
    assert.equal(htmlLang(page.text), 'ru');
    assert.match(page.text, /Ваша учётная запись/);
    assert.ok(page.text.includes(u.user.login), 'user data is never translated');
  });
});

describe('POST /language', () => {
  test('from a page: 303 back to it, the lang cookie set, and that page then comes in that language', async () => {
    const browser = new Client(app.url);
    await browser.get('/register');
    const switched = await browser.postForm('/language', { lang: 'ru', returnTo: '/register' });
    assert.equal(switched.status, 303);
    assert.equal(switched.location, '/register');
    const cookie = switched.setCookies.find((c) => c.startsWith('lang='));
    assert.ok(cookie, 'sets the lang cookie');
    assert.match(cookie, /^lang=ru;/);
    assert.match(cookie, /Path=\//);
    assert.match(cookie, /SameSite=Lax/i);
    assert.match(cookie, /Max-Age=31536000/);
    const page = await browser.get('/register', { 'accept-language': 'en' });
    assert.equal(htmlLang(page.text), 'ru');
    assert.match(page.text, /<h1>Создать учётную запись<\/h1>/);

    const back = await browser.postForm('/language', { lang: 'en', returnTo: '/register?x=1' });
    assert.equal(back.location, '/register?x=1');
    assert.equal(htmlLang((await browser.get('/register')).text), 'en');
  });

  test('without returnTo: back to a same-origin Referer; a foreign Referer, none, or a returnTo off the site: home', async () => {
    const browser = new Client(app.url);
    await browser.get('/');
    const fromReferer = await browser.postForm('/language', { lang: 'ru' }, { headers: { referer: `${app.url}/password/forgot?sent=1` } });
    assert.equal(fromReferer.status, 303);
    assert.equal(fromReferer.location, '/password/forgot?sent=1');
    assert.equal((await browser.postForm('/language', { lang: 'ru' }, { headers: { referer: 'https://evil.example/login' } })).location, '/');
    assert.equal((await browser.postForm('/language', { lang: 'ru' })).location, '/');
    for (const returnTo of ['//evil.example', '/.//evil.example', 'https://evil.example/', '/..//x']) {
      assert.equal((await browser.postForm('/language', { lang: 'en', returnTo })).location, '/', returnTo);
    }
  });

  test('JSON: 204 and the cookie; another lang is 400 invalid_input with fields.lang and sets nothing', async () => {
    const script = new Client(app.url, 'script');
    await script.fetchCsrf();
    const ok = await script.postJson('/language', { lang: 'ru' });
    assert.equal(ok.status, 204);
    assert.ok(ok.setCookies.some((c) => c.startsWith('lang=ru;')));
    for (const lang of ['de', '', 'RU', ' ru', ['ru'], { ru: 1 }, null, 1]) {
      const bad = await script.postJson('/language', { lang });
      assert.equal(bad.status, 400, JSON.stringify(lang));
      assert.equal(bad.json.error.code, 'invalid_input');
      assert.ok(bad.json.error.fields.lang, 'names the field');
      assert.equal(bad.setCookies.filter((c) => c.startsWith('lang=')).length, 0);
    }
    const missing = await script.postJson('/language', {});
    assert.equal(missing.status, 400);
    assert.equal(missing.json.error.code, 'invalid_input');
    // The cookie set first still holds: the error is in Russian, the code is not.
    assert.match(missing.json.error.message, CYRILLIC);
  });

  test('a browser form that is not HTML-valid gets the 400 as a page, in the page language', async () => {
    const browser = new Client(app.url);
    await browser.get('/');
    const bad = await browser.postForm('/language', { lang: 'fr' }, { headers: { 'accept-language': 'ru' } });
    assert.equal(bad.status, 400);
    assert.equal(htmlLang(bad.text), 'ru');
    assert.match(bad.text, /Выберите en или ru/);
  });

  test('it is a state-changing request like any other: no CSRF token, 403 csrf_failed and no cookie', async () => {
    const browser = new Client(app.url);
    await browser.get('/');
    const refused = await browser.postForm('/language', { lang: 'ru' }, { csrf: false });
    assert.equal(refused.status, 403);
    assert.equal(refused.setCookies.filter((c) => c.startsWith('lang=')).length, 0);
    const script = new Client(app.url, 'script');
    const json = await script.postJson('/language', { lang: 'ru' }, { csrf: false });
    assert.equal(json.status, 403);
    assert.equal(json.json.error.code, 'csrf_failed');
  });

  test('every page header has the switch: a form posting /language with en and ru, a CSRF field, and this page to come back to', async () => {
    const page = await rawGet('/login?returnTo=%2Fchat');
    const form = /<form method="post" action="\/language"[\s\S]*?<\/form>/.exec(page.text)?.[0];
    assert.ok(form, 'a switch in the header');
    assert.match(form, /name="_csrf" value="[^"]+"/);
    assert.match(form, /name="returnTo" value="\/login\?returnTo=%2Fchat"/);
    assert.match(form, /name="lang" value="en"/);
    assert.match(form, /name="lang" value="ru"/);
    for (const pathname of ['/', '/register', '/password/forgot', '/no-such-page']) {
      assert.match((await rawGet(pathname)).text, /action="\/language"/, pathname);
    }
  });

  test('a sign-in restricted to the password form (expired password) can still switch language', async () => {
    const admin = await signedInAdmin(app);
    const { user, id } = await registeredScript(app.url);
    assert.equal((await admin.client.postJson(`/admin/users/${id}/expire-password`, {})).status, 204);
    const browser = new Client(app.url);
    await browser.get('/login');
    assert.equal((await browser.postForm('/login', { login: user.login, password: user.password })).location, '/account/password');
    // The token changes at login: the page the switch is on carries the new one.
    assert.equal(htmlLang((await browser.get('/account/password')).text), 'en');
    const switched = await browser.postForm('/language', { lang: 'ru', returnTo: '/account/password' });
    assert.equal(switched.status, 303);
    assert.equal(switched.location, '/account/password');
    const form = await browser.get('/account/password');
    assert.equal(htmlLang(form.text), 'ru');
    assert.match(form.text, /Срок действия пароля истёк\. Чтобы продолжить, выберите новый\./);
  });
});

describe('errors in both languages, the same code', () => {
  test('a JSON error: the code stays, the message follows the language', async () => {
    const { user } = await registeredScript(app.url);
    const answers: Record<string, { status: number; code: string; message: string }> = {};
    for (const lang of ['en', 'ru']) {
      const script = new Client(app.url, 'script');
      await script.fetchCsrf();
      const reply = await script.postJson('/login', { login: user.login, password: 'not the password at all' }, { headers: { 'accept-language': lang, 'x-forwarded-for': freshIp() } });
      answers[lang] = { status: reply.status, code: reply.json.error.code, message: reply.json.error.message };
    }
    assert.deepEqual(answers.en, { status: 401, code: 'wrong_credentials', message: 'Invalid login or password' });
    assert.deepEqual(answers.ru, { status: 401, code: 'wrong_credentials', message: 'Неверный логин или пароль' });

    // The cookie decides for a script too.
    const script = new Client(app.url, 'script');
    await script.fetchCsrf();
    script.cookies.set('lang', 'ru');
    const missing = await script.get('/no-such-thing', { 'accept-language': 'en' });
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, 'not_found');
    assert.equal(missing.json.error.message, 'Здесь ничего нет.');
  });

  test('validation: the same fields with the same code, each message translated', async () => {
    const bad = { login: 'x', email: 'not an address', password: 'short' };
    const replies = [];
    for (const lang of ['en', 'ru']) {
      const script = new Client(app.url, 'script');
      await script.fetchCsrf();
      replies.push(await script.postJson('/register', bad, { headers: { 'accept-language': lang } }));
    }
    const [en, ru] = replies as [Awaited<ReturnType<Client['get']>>, Awaited<ReturnType<Client['get']>>];
    assert.equal(en.status, 400);
    assert.equal(ru.status, 400);
    assert.equal(en.json.error.code, 'invalid_input');
    assert.equal(ru.json.error.code, 'invalid_input');
    assert.deepEqual(Object.keys(ru.json.error.fields).sort(), Object.keys(en.json.error.fields).sort());
    assert.deepEqual(Object.keys(en.json.error.fields).sort(), ['email', 'login', 'password']);
    assert.equal(en.json.error.fields.password, 'Password must be at least 8 characters.');
    assert.equal(ru.json.error.fields.password, 'Пароль должен быть не короче 8 символов.');
    for (const [field, message] of Object.entries(ru.json.error.fields as Record<string, string>)) {
      assert.match(message, CYRILLIC, field);
      assert.notEqual(message, en.json.error.fields[field], field);
    }
    assert.match(ru.json.error.message, CYRILLIC);
    assert.doesNotMatch(en.json.error.message, CYRILLIC);
  });

  test('an HTML form error is re-rendered in the language, with what was typed', async () => {
    const browser = new Client(app.url);
    browser.cookies.set('lang', 'ru');
    await browser.get('/login');
    const reply = await browser.postForm('/login', { login: 'nobody_here', password: 'wrong password 1' }, { headers: { 'x-forwarded-for': freshIp() } });
    assert.equal(reply.status, 401);
    assert.equal(htmlLang(reply.text), 'ru');
    assert.match(reply.text, /Неверный логин или пароль/);
    assert.match(reply.text, /value="nobody_here"/);
    const csrf = await browser.postForm('/login', { login: 'x', password: 'y' }, { csrf: false });
    assert.equal(csrf.status, 403);
    assert.match(csrf.text, /Срок действия формы истёк/);
  });
});

describe('mail in the language the user last used', () => {
  const resetSubject = /^Сброс пароля$/;

  test('registered in Russian: an anonymous reset request (no language of its own) mails in Russian; the subject is RFC 2047', async () => {
    const script = new Client(app.url, 'script');
    await script.fetchCsrf();
    const user = newUser();
    assert.equal((await script.postJson('/register', user, { headers: { 'accept-language': 'ru-RU,ru;q=0.9' } })).status, 201);
    assert.equal((await app.db.query('SELECT language FROM users WHERE login = $1', [user.login])).rows[0].language, 'ru');

    const stranger = new Client(app.url, 'script');
    await stranger.fetchCsrf();
    assert.equal((await stranger.postJson('/password/forgot', { email: user.email }, { headers: { 'x-forwarded-for': freshIp() } })).status, 202);
    const [mail] = await outbox.waitFor(user.email, resetSubject);
    assert.match(mail!.raw, /^Subject: =\?UTF-8\?B\?/m, 'a non-ASCII subject is encoded words');
    assert.match(mail!.raw, /^Content-Type: text\/plain; charset=utf-8/im);
    assert.match(mail!.body, /Кто-то \(надеемся, что вы\) попросил сбросить пароль/);
    // 60 minutes: the Russian "many" form.
    assert.match(mail!.body, /в течение 60 минут:/);
    assert.ok(mail!.body.includes(`${app.url}/password/reset?token=`), 'the link is the same in every language');
  });

  test('signing in in another language moves the user there: the new-sign-in mail and later mail follow', async () => {
    const script = new Client(app.url, 'script');
    await script.fetchCsrf();
    const user = newUser();
    assert.equal((await script.postJson('/register', user, { headers: { 'accept-language': 'ru' } })).status, 201);

    // A new device, in English.
    const laptop = new Client(app.url, 'script');
    await laptop.fetchCsrf();
    assert.equal((await laptop.postJson('/login', { login: user.login, password: user.password }, { headers: { 'accept-language': 'en-GB' } })).status, 200);
    assert.equal((await app.db.query('SELECT language FROM users WHERE login = $1', [user.login])).rows[0].language, 'en');
    const [notice] = await outbox.waitFor(user.email, /^New sign-in to your account$/);
    assert.match(notice!.body, /was signed in to from a device it has not used before/);

    // The switch, signed in: the user's mail is Russian again.
    await laptop.fetchCsrf();
    assert.equal((await laptop.postJson('/language', { lang: 'ru' })).status, 204);
    assert.equal((await app.db.query('SELECT language FROM users WHERE login = $1', [user.login])).rows[0].language, 'ru');
    await laptop.fetchCsrf();
    const changed = await laptop.postJson('/account/password', { currentPassword: user.password, newPassword: 'another sturdy passphrase 7' });
    assert.equal(changed.status, 200);
    const [mail] = await outbox.waitFor(user.email, /^Ваш пароль изменён$/);
    assert.match(mail!.body, /Пароль вашей учётной записи/);
    assert.match(mail!.body, /Когда: /);
  });

  test('a signed-in request stating another language moves the user; a script stating none (or only `*`) moves nothing', async () => {
    const { client, id } = await registeredScript(app.url);
    const languageOf = async () => (await app.db.query('SELECT language FROM users WHERE id = $1', [id])).rows[0].language as string;
    assert.equal(await languageOf(), 'en');
    await client.get('/account/sessions', { 'accept-language': 'ru-RU' });
    assert.equal(await languageOf(), 'ru');
    await client.get('/account/sessions');
    await client.get('/account/sessions', { 'accept-language': '*' });
    await client.get('/account/sessions', { 'accept-language': 'fr' });
    assert.equal(await languageOf(), 'ru');
    client.cookies.set('lang', 'en');
    await client.get('/account/sessions', { 'accept-language': 'ru' });
    assert.equal(await languageOf(), 'en', 'the cookie is the language used');
  });
});

describe('plural forms', () => {
  test('the i18next way: Russian "one" and "few" on the admin list of failed attempts, English "other"', async () => {
    const admin = await signedInAdmin(app);
    const users = [await registeredScript(app.url), await registeredScript(app.url), await registeredScript(app.url)];
    const failures = [1, 2, 3];
    for (const [i, u] of users.entries()) {
      const ip = freshIp();
      for (let n = 0; n < failures[i]!; n++) {
        const s = new Client(app.url, 'script');
        await s.fetchCsrf();
        const reply = await s.postJson('/login', { login: u.user.login, password: `wrong password ${n}` }, { headers: { 'x-forwarded-for': ip } });
        assert.equal(reply.status, 401);
      }
    }
    const page = await admin.client.get('/admin', { accept: 'text/html', 'accept-language': 'ru' });
    assert.equal(page.status, 200);
    const row = (login: string) => new RegExp(`<code>${login}</code>[\\s\\S]*?</tr>`).exec(page.text)?.[0] ?? '';
    assert.match(row(users[0]!.user.login), /1 неудачная попытка/);
    assert.match(row(users[1]!.user.login), /2 неудачные попытки/);
    assert.match(row(users[2]!.user.login), /3 неудачные попытки/);
    const en = await admin.client.get('/admin', { accept: 'text/html', 'accept-language': 'en' });
    assert.match(en.text, new RegExp(`<code>${users[1]!.user.login}</code>[\\s\\S]*?2 failed`));
  });
});
