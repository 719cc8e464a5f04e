import assert from 'node:assert/strict';
import net from 'node:net';
import pg from 'pg';
import { after, before, describe, test } from 'node:test';
import { io as connect } from 'socket.io-client';
import type { Message } from '../src/chat/events.js';
import { startAppProcess, type AppProcess } from './support/app-process.js';
import { Client, registeredScript } from './support/client.js';
import { connected, disconnected, next, send, type ChatClient } from './support/sockets.js';
import { createTestDatabase } from './support/test-database.js';

/**
 * Two app processes on one database, behind an imaginary load balancer: a message, a presence
 * change and a logout reach sockets held by the other process, through each adapter.
 */

const SECRET = 'scale-out-test-secret-of-at-least-32-chars';
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

let database: { url: string; drop(): Promise<void> };
before(async () => (database = await createTestDatabase()));
after(() => database.drop());

function redisReachable(): Promise<boolean> {
  const { hostname, port } = new URL(redisUrl);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port || 6379), hostname, () => (socket.end(), resolve(true)));
    socket.on('error', () => resolve(false));
    socket.setTimeout(1000, () => (socket.destroy(), resolve(false)));
  });
}

/** Signs in on one process and returns a client whose cookies work on every process. */
async function signedInOn(proc: AppProcess) {
  return registeredScript(proc.url);
}

/** Re-targets a signed-in client at another process (same cookies: the session lives in PostgreSQL). */
function on(proc: AppProcess, from: Client): Client {
  const client = new Client(proc.url, 'script');
  for (const [k, v] of from.cookies) client.cookies.set(k, v);
  return client;
}

for (const adapter of ['postgres', 'redis'] as const) {
  describe(`two processes with the ${adapter} adapter`, async () => {
    const skip = adapter === 'redis' && !(await redisReachable()) && !process.env.CI ? `no Redis at ${redisUrl}` : false;
    let a: AppProcess;
    let b: AppProcess;
    const sockets: ChatClient[] = [];

    before(async () => {
      if (skip) return;
      const env = { DATABASE_URL: database.url, SESSION_SECRET: SECRET, SESSION_CACHE: 'true', ...(adapter === 'redis' ? { REDIS_URL: redisUrl } : {}) };
      [a, b] = await Promise.all([startAppProcess(env), startAppProcess(env)]);
    });
    after(async () => {
      for (const s of sockets) s.disconnect();
      await Promise.all([a?.stop(), b?.stop()]);
    });

    test('a message sent on one process reaches a client of the other, and so does the presence change', { skip }, async () => {
      const alice = await signedInOn(a);
      const bob = await signedInOn(b);
      const onA = await connected(a.url, alice.client);
      sockets.push(onA.socket);
      const joined = next<{ user: { id: number } }>(onA.socket, 'presence:join');
      const onB = await connected(b.url, bob.client);
      sockets.push(onB.socket);
      assert.equal((await joined).user.id, bob.id);
      assert.ok(onB.presence.users.some((u) => u.id === alice.id), 'presence lists users of every process');

      const received = next<Message>(onA.socket, 'chat:message');
      const ack = await send(onB.socket, { text: `across processes via ${adapter}` });
      assert.ok(ack.ok);
      assert.equal((await received).text, `across processes via ${adapter}`);

      const left = next<{ user: { id: number } }>(onA.socket, 'presence:leave');
      onB.socket.disconnect();
      assert.equal((await left).user.id, bob.id, 'the leave reaches the other process too');
    });

    test('a crowd connecting on one process: a client of the other hears one presence:join per user, and the leaves', { skip }, async () => {
      const watcher = await connected(a.url, (await signedInOn(a)).client);
      sockets.push(watcher.socket);
      const prober = await connected(b.url, (await signedInOn(b)).client);
      sockets.push(prober.socket);
      const crowd = await Promise.all(Array.from({ length: 4 }, () => signedInOn(b)));
      const ids = new Set(crowd.map((u) => u.id));
      // Every user's change, as the watcher hears it; resolves once each of them was heard.
      const heard = (event: 'presence:join' | 'presence:leave') => {
        const seen: number[] = [];
        const all = new Promise<number[]>((resolve) =>
          watcher.socket.on(event, (c: { user: { id: number } }) => {
            if (ids.has(c.user.id)) seen.push(c.user.id);
            if (new Set(seen).size === ids.size) resolve(seen);
          }),
        );
        return { seen, all };
      };
      const joins = heard('presence:join');
      const tabs = await Promise.all(crowd.flatMap((u) => [connected(b.url, u.client), connected(b.url, u.client)]));
      await joins.all;
      const leaves = heard('presence:leave');
      for (const t of tabs) t.socket.disconnect();
      await leaves.all;
      // Anything doubled would have come before this: a message from the same process, through the same adapter.
      const probe = next<Message>(watcher.socket, 'chat:message');
      assert.ok((await send(prober.socket, { text: 'after the crowd' })).ok);
      await probe;
      assert.deepEqual([...joins.seen].sort(), [...ids].sort(), 'one presence:join per user, whatever the tabs');
      assert.deepEqual([...leaves.seen].sort(), [...ids].sort(), 'one presence:leave per user');
    });

    test('logout through one process disconnects the socket held by the other within a second', { skip }, async () => {
      const { client } = await signedInOn(a);
      const held = await connected(b.url, on(b, client));
      sockets.push(held.socket);
      const bystander = await connected(b.url, (await signedInOn(b)).client);
      sockets.push(bystander.socket);
      const closed = disconnected(held.socket);
      assert.equal((await client.postJson('/logout', {})).status, 204);
      assert.equal(await closed, 'io server disconnect');
      assert.ok(bystander.socket.connected);
    });

    test('an administrator on one process: disabling closes the user’s socket on the other within a second; a granted admin reaches, and a revoke leaves, a session on the other', { skip }, async () => {
      const admin = await signedInOn(a);
      const sql = new pg.Client({ connectionString: database.url });
      await sql.connect();
      try {
        await sql.query("INSERT INTO user_roles (user_id, role) VALUES ($1, 'admin')", [admin.id]);
      } finally {
        await sql.end();
      }
      const adminClient = new Client(a.url, 'script');
      await adminClient.fetchCsrf();
      await adminClient.postJson('/login', { login: admin.user.login, password: admin.user.password });
      await adminClient.fetchCsrf();

      const target = await signedInOn(b);
      const onB = on(b, target.client);
      assert.equal((await onB.get('/admin')).status, 403);
      assert.equal((await adminClient.postJson(`/admin/users/${target.id}/roles`, { role: 'admin' })).status, 204);
      assert.equal((await onB.get('/admin')).status, 200, 'granted on A, live on B at its next request');
      assert.equal((await adminClient.postJson(`/admin/users/${target.id}/roles/admin/revoke`, {})).status, 204);
      assert.equal((await onB.get('/admin')).status, 403, 'revoked on A, refused on B at once');

      const held = await connected(b.url, onB);
      sockets.push(held.socket);
      const closed = disconnected(held.socket);
      assert.equal((await adminClient.postJson(`/admin/users/${target.id}/disable`, {})).status, 204);
      assert.equal(await closed, 'io server disconnect');
      assert.equal((await onB.get('/')).json.user, null);
    });

    // Each process caches sessions by id; an end on one process must be refused by the other at its very next request.
    const signedInOnB = async (client: Client) => Boolean((await on(b, client).get('/')).json.user);
    test('session caches: a session ended on one process is refused by the other at its very next request', { skip }, async () => {
      // Many times over, and several at once: B's very next request follows A's answer by well under
      // a millisecond, so an end that B hears only "soon" would be caught here.
      for (let round = 0; round < 5; round++) {
        await Promise.all(
          Array.from({ length: 4 }, async () => {
            const logout = await signedInOn(a);
            const onB = on(b, logout.client);
            assert.ok((await onB.get('/')).json.user, 'B has read (and cached) the session');
            assert.ok((await onB.get('/')).json.user);
            assert.equal((await logout.client.postJson('/logout', {})).status, 204);
            assert.equal((await onB.get('/')).json.user, null, 'logout on A');
          }),
        );
      }

      const revoked = await signedInOn(a);
      const other = new Client(a.url, 'script');
      await other.fetchCsrf();
      assert.equal((await other.postJson('/login', { login: revoked.user.login, password: revoked.user.password })).status, 200);
      await other.fetchCsrf();
      assert.ok(await signedInOnB(revoked.client));
      const mine = (await other.get('/account/sessions')).json.sessions.find((x: { current: boolean }) => !x.current);
      assert.equal((await other.postJson(`/account/sessions/${mine.handle}/revoke`, {})).status, 204);
      assert.equal(await signedInOnB(revoked.client), false, 'revoked from another device on A');

      const changed = await signedInOn(a);
      const second = new Client(a.url, 'script');
      await second.fetchCsrf();
      await second.postJson('/login', { login: changed.user.login, password: changed.user.password });
      assert.ok(await signedInOnB(second));
      assert.equal((await changed.client.postJson('/account/password', { currentPassword: changed.user.password, newPassword: 'another sturdy phrase 3' })).status, 200);
      assert.equal(await signedInOnB(second), false, 'password changed on A');
      assert.ok(await signedInOnB(changed.client), 'the changer’s new session works on B');

      const idle = await signedInOn(a);
      assert.ok(await signedInOnB(idle.client));
      const sql = new pg.Client({ connectionString: database.url });
      await sql.connect();
      await sql.query("UPDATE express_sessions SET expire = now() - interval '1 second' WHERE user_id = $1", [idle.id]).finally(() => sql.end());
      // A change made by SQL reaches B through the row's trigger, within moments.
      const until = Date.now() + 2000;
      while ((await signedInOnB(idle.client)) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      assert.equal(await signedInOnB(idle.client), false, 'expired (the row changed by anyone)');
    });
  });
}

describe('SIGTERM with sockets open', () => {
  test('the process exits 0, its sockets get a transport close, and clients reconnect by themselves once it is back', async () => {
    const env = { DATABASE_URL: database.url, SESSION_SECRET: SECRET };
    const first = await startAppProcess(env);
    // A failure before the process is stopped below must not leave it running (the file would never end).
    const { client } = await signedInOn(first).catch(async (err) => {
      await first.stop();
      throw err;
    });
    const socket = connect(first.url, {
      transports: ['websocket'],
      reconnectionDelay: 100,
      reconnectionDelayMax: 300,
      extraHeaders: { cookie: client.cookieHeader(), origin: first.url },
    }) as ChatClient;
    try {
      await next(socket, 'connect');
      const reason = next<string>(socket, 'disconnect', 10_000);
      const t0 = Date.now();
      assert.equal(await first.stop('SIGTERM'), 0, first.output());
      assert.ok(Date.now() - t0 < 10_000);
      assert.equal(await reason, 'transport close');

      const reconnected = next(socket, 'connect', 30_000);
      const history = next<Message[]>(socket, 'chat:history', 30_000);
      const second = await startAppProcess(env, first.port);
      try {
        await reconnected;
        assert.ok(Array.isArray(await history), 'the same cookie works after the restart');
      } finally {
        socket.disconnect();
        assert.equal(await second.stop('SIGINT'), 0);
      }
    } finally {
      socket.disconnect();
    }
  });
});
