import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { Message } from '../src/chat/events.js';
import { Client, registeredBrowser, registeredScript } from './support/client.js';
import { connected, connectError, disconnected, next, openSocket, send, type ChatClient } from './support/sockets.js';
import { signedInAdmin, startTestApp, type TestApp } from './support/test-app.js';

let app: TestApp;
before(async () => (app = await startTestApp()));
after(() => app.close());

const opened: ChatClient[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.disconnect();
});
async function chat(from: Client) {
  const c = await connected(app.url, from);
  opened.push(c.socket);
  return c;
}

/** Waits until a socket is recorded on (or gone from) its session row. */
async function socketsOfUser(userId: number) {
  return (await app.db.query('SELECT coalesce(sum(cardinality(socket_ids)), 0)::int AS n FROM express_sessions WHERE user_id = $1', [userId])).rows[0].n as number;
}

describe('the handshake', () => {
  test('without a cookie: connect_error unauthorized', async () => {
    const socket = openSocket(app.url);
    opened.push(socket);
    assert.equal((await connectError(socket)).message, 'unauthorized');
  });

  test("with a dead session's cookie: connect_error unauthorized", async () => {
    const { client } = await registeredScript(app.url);
    const stale = new Client(app.url, 'script');
    for (const [k, v] of client.cookies) stale.cookies.set(k, v);
    await client.postJson('/logout', {});
    const socket = openSocket(app.url, stale);
    opened.push(socket);
    assert.equal((await connectError(socket)).message, 'unauthorized');
  });

  for (const transports of [['websocket'], ['polling']]) {
    test(`a foreign Origin is refused (${transports[0]})`, async () => {
      const { client } = await registeredScript(app.url);
      const socket = openSocket(app.url, client, { origin: 'https://evil.example', transports });
      opened.push(socket);
      const err = await connectError(socket);
      assert.ok(err, 'refused');
      assert.equal(socket.connected, false);
    });
  }

  test('over polling with the session cookie, the socket user is the session user', async () => {
    const { client, user } = await registeredScript(app.url);
    const c = await connected(app.url, client, { transports: ['polling'] });
    opened.push(c.socket);
    assert.ok(c.presence.users.some((u: any) => u.login === user.login));
  });
});

describe('on connect', () => {
  test('history (latest 50, oldest first) then presence with everyone online', async () => {
    const first = await registeredScript(app.url);
    const a = await chat(first.client);
    for (let i = 0; i < 3; i++) assert.equal((await send(a.socket, { text: `history ${i}` })).ok, true);
    const second = await registeredScript(app.url);
    const b = await chat(second.client);
    const texts = b.history.map((m) => m.text);
    assert.deepEqual(texts.slice(-3), ['history 0', 'history 1', 'history 2']);
    assert.ok(b.history.length <= 50);
    const ids = b.presence.users.map((u) => u.id);
    assert.ok(ids.includes(first.id) && ids.includes(second.id));
    assert.deepEqual(Object.keys(b.presence.users[0]!).sort(), ['id', 'login', 'name']);
  });

  test('only 50 messages of history are sent', async () => {
    await app.db.query(`INSERT INTO chat_messages (user_id, text) SELECT (SELECT min(id) FROM users), 'bulk ' || g FROM generate_series(1, 60) g`);
    const { client } = await registeredScript(app.url);
    const { history } = await chat(client);
    assert.equal(history.length, 50);
    assert.ok(history[0]!.id < history[49]!.id);
  });

  test('presence:join goes to the others when a user’s first socket connects; a second tab is not news; presence:leave when the last goes', async () => {
    const watcher = await chat((await registeredScript(app.url)).client);
    const { client, id } = await registeredScript(app.url);

    const joined = next<{ user: { id: number } }>(watcher.socket, 'presence:join');
    const tab1 = await chat(client);
    assert.equal((await joined).user.id, id);

    let news = 0;
    const count = ({ user }: { user: { id: number } }) => user.id === id && news++;
    watcher.socket.on('presence:join', count);
    watcher.socket.on('presence:leave', count);
    const tab2 = await chat(client);
    tab2.socket.disconnect();
    while ((await socketsOfUser(id)) !== 1) await new Promise((r) => setTimeout(r, 20));
    assert.equal(news, 0, 'a second tab coming and going is not news');
    watcher.socket.off('presence:join', count);
    watcher.socket.off('presence:leave', count);

    const left = next<{ user: { id: number } }>(watcher.socket, 'presence:leave');
    tab1.socket.disconnect();
    assert.equal((await left).user.id, id);
  });

  test('ten tabs opening at once are one presence:join, and closing at once one presence:leave', async () => {
    const watcher = await chat((await registeredScript(app.url)).client);
    const { client, id } = await registeredScript(app.url);
    const seen: string[] = [];
    watcher.socket.on('presence:join', (c: { user: { id: number } }) => c.user.id === id && seen.push('join'));
    watcher.socket.on('presence:leave', (c: { user: { id: number } }) => c.user.id === id && seen.push('leave'));
    const tabs = await Promise.all(Array.from({ length: 10 }, () => connected(app.url, client)));
    while ((await socketsOfUser(id)) !== 10) await new Promise((r) => setTimeout(r, 20));
    for (const t of tabs) t.socket.disconnect();
    const until = Date.now() + 3000;
    while (Date.now() < until && !seen.includes('leave')) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(seen, ['join', 'leave']);
    const online = await app.db.query('SELECT count(*)::int AS n FROM chat_online WHERE user_id = $1', [id]);
    assert.equal(online.rows[0].n, 0);
  });

  test('a crowd connecting at once (six users, four tabs each): one presence:join per user, every socket recorded on its own session row, everyone in the presence list', async () => {
    const watcher = await chat((await registeredScript(app.url)).client);
    const users = await Promise.all(Array.from({ length: 6 }, () => registeredScript(app.url)));
    const ids = new Set(users.map((u) => u.id));
    const joins: number[] = [];
    watcher.socket.on('presence:join', (c: { user: { id: number } }) => ids.has(c.user.id) && joins.push(c.user.id));
    const tabs = (await Promise.all(users.flatMap((u) => Array.from({ length: 4 }, () => connected(app.url, u.client))))).map((t) => t.socket);
    opened.push(...tabs);
    for (const u of users) while ((await socketsOfUser(u.id)) !== 4) await new Promise((r) => setTimeout(r, 20));
    const { rows } = await app.db.query<{ user_id: number; socket_ids: string[] }>('SELECT user_id, socket_ids FROM express_sessions WHERE user_id = ANY($1::bigint[])', [[...ids]]);
    assert.deepEqual(rows.flatMap((r) => r.socket_ids).sort(), tabs.map((t) => t.id).sort(), 'each socket once, on its own session');
    const last = await connected(app.url, users[0]!.client);
    opened.push(last.socket);
    const online = last.presence.users.map((u: { id: number }) => u.id);
    for (const id of ids) assert.ok(online.includes(id), `user ${id} is online`);
    const until = Date.now() + 3000;
    while (Date.now() < until && joins.length < ids.size) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual([...joins].sort(), [...ids].sort(), 'one presence:join per user, whatever the tabs');
  });

  test('a crowd connecting while messages flow: every socket gets chat:history, then presence, before any other event, and later messages after its history', async () => {
    const sender = await chat((await registeredScript(app.url)).client);
    const users = await Promise.all(Array.from({ length: 4 }, () => registeredScript(app.url)));
    const tabs = users.flatMap((u) => Array.from({ length: 5 }, () => openSocket(app.url, u.client)));
    opened.push(...tabs);
    const events = tabs.map((tab) => {
      const seen: Array<{ event: string; args: unknown[] }> = [];
      tab.onAny((event: string, ...args: unknown[]) => seen.push({ event, args }));
      return seen;
    });
    let sent = 0;
    const flowing = (async () => {
      // Under the sender's limit of 10 in 10 s, with room for the last one.
      while (sent < 6 && (sent < 3 || events.some((seen) => seen.length < 2))) assert.equal((await send(sender.socket, { text: `during the crowd ${sent++}` })).ok, true);
    })();
    await flowing;
    const welcomed = Date.now() + 3000;
    while (Date.now() < welcomed && events.some((seen) => !seen.some((e) => e.event === 'presence'))) await new Promise((r) => setTimeout(r, 20));
    const last = await send(sender.socket, { text: 'after the crowd' });
    assert.equal(last.ok, true);
    const until = Date.now() + 3000;
    while (Date.now() < until && events.some((seen) => !seen.some((e) => e.event === 'chat:message' && (e.args[0] as Message).text === 'after the crowd'))) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const seen of events) {
      assert.deepEqual(seen.slice(0, 2).map((e) => e.event), ['chat:history', 'presence'], 'history, then presence, first');
      const history = (seen[0]!.args[0] as Message[]).map((m) => m.id);
      for (const e of seen.slice(2)) {
        assert.notEqual(e.event, 'chat:history');
        assert.notEqual(e.event, 'presence');
        if (e.event === 'chat:message') assert.ok(!history.includes((e.args[0] as Message).id), 'a message comes once: in the history or after it');
      }
      assert.ok(seen.some((e) => e.event === 'chat:message' && (e.args[0] as Message).text === 'after the crowd'), 'in the room once welcomed');
    }
  });

  test('a crowd closing at once (five users, three tabs each): one presence:leave per user, no socket left on any session row or in presence', async () => {
    const watcher = await chat((await registeredScript(app.url)).client);
    const users = await Promise.all(Array.from({ length: 5 }, () => registeredScript(app.url)));
    const ids = new Set(users.map((u) => u.id));
    const leaves: number[] = [];
    watcher.socket.on('presence:leave', (c: { user: { id: number } }) => ids.has(c.user.id) && leaves.push(c.user.id));
    const tabs = (await Promise.all(users.flatMap((u) => Array.from({ length: 3 }, () => connected(app.url, u.client))))).map((t) => t.socket);
    for (const u of users) while ((await socketsOfUser(u.id)) !== 3) await new Promise((r) => setTimeout(r, 20));
    for (const t of tabs) t.disconnect();
    const until = Date.now() + 3000;
    while (Date.now() < until && leaves.length < ids.size) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual([...leaves].sort(), [...ids].sort(), 'one presence:leave per user');
    const { rows } = await app.db.query<{ n: number }>('SELECT coalesce(sum(cardinality(socket_ids)), 0)::int AS n FROM express_sessions WHERE user_id = ANY($1::bigint[])', [[...ids]]);
    assert.equal(rows[0]!.n, 0, 'every socket id is gone from the session rows');
    const present = await app.db.query<{ n: number }>('SELECT (SELECT count(*) FROM chat_sockets WHERE user_id = ANY($1::bigint[])) + (SELECT count(*) FROM chat_online WHERE user_id = ANY($1::bigint[]))::int AS n', [[...ids]]);
    assert.equal(Number(present.rows[0]!.n), 0, 'and from presence');
  });

  test('many tabs of a few sessions connecting at once (3 sessions, 150 tabs each): none is refused or closed, each recorded once', async () => {
    const users = await Promise.all(Array.from({ length: 3 }, () => registeredScript(app.url)));
    // Overlapping batches record sockets on the same session rows: they must not deadlock (a
    // deadlock closes the transport before the connect).
    const outcomes = await Promise.all(
      users.flatMap((u) =>
        Array.from({ length: 150 }, () => {
          const socket = openSocket(app.url, u.client);
          opened.push(socket);
          return new Promise<string>((resolve) => {
            socket.once('connect', () => resolve('connected'));
            socket.once('connect_error', (err) => resolve(`connect_error ${err.message}`));
            socket.once('disconnect', (reason) => resolve(`closed before the connect: ${reason}`));
          });
        }),
      ),
    );
    assert.deepEqual(outcomes.filter((o) => o !== 'connected'), []);
    for (const u of users) {
      const until = Date.now() + 3000;
      while ((await socketsOfUser(u.id)) !== 150 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.equal(await socketsOfUser(u.id), 150);
    }
  });

  test('the session row records its live sockets', async () => {
    const { client, id } = await registeredScript(app.url);
    const { socket } = await chat(client);
    const { rows } = await app.db.query('SELECT socket_ids FROM express_sessions WHERE user_id = $1', [id]);
    assert.deepEqual(rows[0].socket_ids, [socket.id]);
    const page = await client.get('/account/sessions');
    assert.equal(page.json.sessions[0].sockets, 1);
  });
});

describe('chat:send', () => {
  test('stores the message, acknowledges it and broadcasts chat:message to every socket', async () => {
    const alice = await registeredScript(app.url, { name: 'Alice A.' });
    const bob = await registeredScript(app.url);
    const a = await chat(alice.client);
    const b = await chat(bob.client);
    const received = next<Message>(b.socket, 'chat:message');
    const echoed = next<Message>(a.socket, 'chat:message');
    const ack = await send(a.socket, { text: '  hello, world  ' });
    assert.equal(ack.ok, true);
    assert.ok(ack.ok && ack.message.text === 'hello, world');
    const message = await received;
    assert.deepEqual(message, (await echoed));
    assert.deepEqual(Object.keys(message).sort(), ['id', 'sentAt', 'text', 'user']);
    assert.deepEqual(message.user, { id: alice.id, login: alice.user.login, name: 'Alice A.' });
    assert.ok(!Number.isNaN(Date.parse(message.sentAt)) && message.sentAt.endsWith('Z'));
    const { rows } = await app.db.query('SELECT user_id, text FROM chat_messages WHERE id = $1', [message.id]);
    assert.deepEqual(rows[0], { user_id: alice.id, text: 'hello, world' });
  });

  test('the sender comes from the session, never from the payload', async () => {
    const mallory = await registeredScript(app.url);
    const victim = await registeredScript(app.url);
    const m = await chat(mallory.client);
    const ack = await send(m.socket, { text: 'I am someone else', user: { id: victim.id, login: victim.user.login, name: 'Victim' }, userId: victim.id });
    assert.ok(ack.ok);
    assert.equal(ack.ok && ack.message.user.id, mallory.id);
  });

  test('empty, blank, too long, non-string and malformed payloads are invalid_input and store nothing', async () => {
    const { client } = await registeredScript(app.url);
    const { socket } = await chat(client);
    const before = (await app.db.query('SELECT count(*)::int AS n FROM chat_messages')).rows[0].n;
    for (const payload of [{ text: '' }, { text: '   \n ' }, { text: 'x'.repeat(2001) }, { text: 42 }, { text: ['a'] }, { text: { a: 1 } }, 'just a string', null, [1, 2], {}, { text: 'nul\u0000' }]) {
      const ack = await send(socket, payload);
      assert.deepEqual(ack, { ok: false, error: { code: 'invalid_input' } }, JSON.stringify(payload));
    }
    assert.ok((await send(socket, { text: 'y'.repeat(2000) })).ok, 'exactly 2,000 characters is fine');
    assert.equal((await app.db.query('SELECT count(*)::int AS n FROM chat_messages')).rows[0].n, before + 1);
    assert.ok(socket.connected);
  });

  test('over 10 messages in 10 s from one user, across all their sockets, is rate_limited', async () => {
    const { client } = await registeredScript(app.url);
    const tab1 = await chat(client);
    const tab2 = await chat(client);
    const acks = await Promise.all(Array.from({ length: 12 }, (_, i) => send(i % 2 ? tab1.socket : tab2.socket, { text: `burst ${i}` })));
    assert.equal(acks.filter((a) => a.ok).length, 10);
    assert.deepEqual(acks.filter((a) => !a.ok).map((a) => !a.ok && a.error.code), ['rate_limited', 'rate_limited']);
  });

  test('an XSS payload is stored and sent back as the same plain text, and shown escaped on the page', async () => {
    const { client } = await registeredScript(app.url);
    const { socket } = await chat(client);
    const xss = '<img src=x onerror="alert(1)"><script>alert(2)</script>';
    const ack = await send(socket, { text: xss });
    assert.ok(ack.ok && ack.message.text === xss);
    const page = await client.get('/chat', { accept: 'text/html' });
    assert.doesNotMatch(page.text, /<img src=x onerror/);
    assert.match(page.text, /&lt;img src=x onerror=&#34;alert\(1\)&#34;&gt;/);
  });

  test('a socket event keeps the session alive (throttled like a request)', async () => {
    const { client, id } = await registeredScript(app.url);
    const { socket } = await chat(client);
    await app.db.query("UPDATE express_sessions SET expire = now() + interval '5 minutes' WHERE user_id = $1", [id]);
    await app.application.sessionChangesHeard();
    assert.ok((await send(socket, { text: 'still here' })).ok);
    const { rows } = await app.db.query('SELECT extract(epoch FROM expire - now())::int AS s FROM express_sessions WHERE user_id = $1', [id]);
    assert.ok(rows[0].s > 11 * 3600, `expiry moved to ~12 h, is ${rows[0].s} s`);
  });
});

describe('ending a session closes its sockets within a second, and no others', () => {
  async function twoSessionsAndABystander() {
    const first = await registeredBrowser(app.url);
    const id = (await app.db.query('SELECT id FROM users WHERE login = $1', [first.user.login])).rows[0].id as number;
    const second = new Client(app.url, 'script');
    await second.fetchCsrf();
    await second.postJson('/login', { login: first.user.login, password: first.user.password });
    await second.fetchCsrf();
    const bystander = await registeredScript(app.url);
    const s1 = await chat(first.client);
    const s2 = await chat(second);
    const s3 = await chat(bystander.client);
    return { first, second, id, s1: s1.socket, s2: s2.socket, s3: s3.socket };
  }

  test('logout: this session’s sockets only', async () => {
    const { first, s1, s2, s3 } = await twoSessionsAndABystander();
    const closed = disconnected(s1);
    await first.client.postForm('/logout', {});
    assert.equal(await closed, 'io server disconnect');
    assert.ok(s2.connected && s3.connected);
  });

  test('logout everywhere: all of the user’s sockets, not the bystander’s', async () => {
    const { first, s1, s2, s3 } = await twoSessionsAndABystander();
    const closed = Promise.all([disconnected(s1), disconnected(s2)]);
    await first.client.postForm('/logout', { everywhere: '1' });
    assert.deepEqual(await closed, ['io server disconnect', 'io server disconnect']);
    assert.ok(s3.connected);
  });

  test('revoke: the revoked session’s sockets only', async () => {
    const { second, s1, s2, s3 } = await twoSessionsAndABystander();
    const sessions = (await second.get('/account/sessions')).json.sessions;
    const other = sessions.find((s: any) => !s.current);
    const closed = disconnected(s1);
    assert.equal((await second.postJson(`/account/sessions/${other.handle}/revoke`, {})).status, 204);
    assert.equal(await closed, 'io server disconnect');
    assert.ok(s2.connected && s3.connected);
  });

  test('password change: the other sessions’ sockets', async () => {
    const { first, second, s2, s3 } = await twoSessionsAndABystander();
    const closed = disconnected(s2);
    await first.client.get('/account/password');
    assert.equal((await first.client.postForm('/account/password', { currentPassword: first.user.password, newPassword: 'another fine phrase 7' })).status, 303);
    assert.equal(await closed, 'io server disconnect');
    assert.ok(s3.connected);
    assert.equal((await second.get('/account/sessions')).status, 401);
  });

  test('expiry: the sweeper closes the sockets of expired sessions', async () => {
    const { id, s1, s2, s3 } = await twoSessionsAndABystander();
    await app.db.query("UPDATE express_sessions SET expire = now() - interval '1 second' WHERE user_id = $1", [id]);
    const closed = Promise.all([disconnected(s1), disconnected(s2)]);
    await app.application.signIns.endExpired();
    await closed;
    assert.ok(s3.connected);
  });

  test('a message sent after the session ended is refused unauthorized', async () => {
    const { client, id } = await registeredScript(app.url);
    const { socket } = await chat(client);
    // Remove the row behind SessionEnding's back: no announcement, so the socket is still open.
    await app.db.query('DELETE FROM express_sessions WHERE user_id = $1', [id]);
    assert.deepEqual(await send(socket, { text: 'anyone?' }), { ok: false, error: { code: 'unauthorized' } });
  });

  test('an administrator expiring the password closes the user’s sockets, and the restricted session cannot reconnect', async () => {
    const { client, id } = await registeredScript(app.url);
    const { socket } = await chat(client);
    const { client: adminClient } = await signedInAdmin(app);
    const closed = disconnected(socket);
    assert.equal((await adminClient.postJson(`/admin/users/${id}/expire-password`, {})).status, 204);
    await closed;
    const again = openSocket(app.url, client);
    opened.push(again);
    assert.equal((await connectError(again)).message, 'unauthorized');
  });
});

describe('GET /chat', () => {
  test('renders the latest messages on the server for a signed-in user', async () => {
    const { client } = await registeredScript(app.url);
    const { socket } = await chat(client);
    await send(socket, { text: 'rendered on the server' });
    const page = await client.get('/chat', { accept: 'text/html' });
    assert.equal(page.status, 200);
    assert.match(page.text, /rendered on the server/);
    assert.match(page.text, /<script src="\/public\/chat.js" defer>/);
  });

  test('anonymous visitors are sent to sign in', async () => {
    const page = await new Client(app.url).get('/chat');
    assert.equal(page.status, 303);
    assert.equal(page.location, '/login?returnTo=%2Fchat');
  });
});
