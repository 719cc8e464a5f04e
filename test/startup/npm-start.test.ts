import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { createHash } from 'node:crypto';
import { REACHABLE_CLUSTER_ROOT } from '../../src/db/embedded-postgres.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../support/app-process.js';
import { Client, registeredScript } from '../support/client.js';

/**
 * The real thing: `npm start` (and the compiled server it runs) with no DATABASE_URL, on an
 * embedded PostgreSQL under a fresh DATA_DIR.
 */

const dataDir = mkdtempSync(path.join(tmpdir(), 'eac-start-'));
let pgPort = 0;


interface Started {
  child: ChildProcess;
  url: string;
  serverPid: number;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function env(extra: Record<string, string> = {}) {
  const { DATABASE_URL: _a, TEST_DATABASE_URL: _b, TEST_ADMIN_URL: _c, NODE_ENV: _d, ...rest } = process.env;
  return { ...rest, DATA_DIR: dataDir, PORT: '0', EMBEDDED_PG_PORT: String(pgPort), BCRYPT_COST: '4', LOG_LEVEL: 'info', ...extra };
}

function start(command: string[], extra: Record<string, string> = {}): Promise<Started> {
  const child = spawn(command[0]!, command.slice(1), { env: env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within 90 s:\n${out}`)), 90_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const url = /Serving (http:\/\/\S+)/.exec(out)?.[1];
      const pid = /"pid":(\d+)[^\n]*"msg":"ready"/.exec(out)?.[1];
      if (url && pid) {
        clearTimeout(timer);
        resolve({ child, url, serverPid: Number(pid), output: () => out, exited });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(({ code }) => reject(new Error(`exited with ${code} before ready:\n${out}`)));
  });
}

function isAlive(pid: number) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function postmasterPid(): number {
  try {
    return Number(readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return 0;
  }
}

before(async () => {
  pgPort = await freePort();
});
after(() => {
  const pid = postmasterPid();
  if (pid && isAlive(pid)) process.kill(pid, 'SIGINT');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start on a machine with no PostgreSQL server configured', () => {
  let cookies: Map<string, string>;

  test('serves /health 200 on an embedded database, and SIGTERM exits 0 within 10 s, stopping the database', async () => {
    const server = await start(['npm', 'start']);
    try {
      const health = await fetch(`${server.url}/health`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });
      const { client } = await registeredScript(server.url);
      cookies = client.cookies;
      assert.match((await client.get('/', { accept: 'text/html' })).text, /Signed in as/);
    } finally {
      const t0 = Date.now();
      process.kill(server.serverPid, 'SIGTERM');
      const { code } = await server.exited;
      assert.equal(code, 0, server.output());
      assert.ok(Date.now() - t0 < 10_000);
    }
    assert.ok(!isAlive(postmasterPid()) || postmasterPid() === 0, 'embedded PostgreSQL stopped');
    assert.match(server.output(), /"msg":"stopped"/);
  });

  test('after a restart, the same session cookie is still signed in', async () => {
    const server = await start([process.execPath, 'dist/server.js']);
    try {
      const client = new Client(server.url, 'script');
      for (const [k, v] of cookies) client.cookies.set(k, v);
      assert.match((await client.get('/', { accept: 'text/html' })).text, /Signed in as/);
    } finally {
      process.kill(server.serverPid, 'SIGINT');
      assert.equal((await server.exited).code, 0);
    }
  });

  test('a start after kill -9 works, the embedded database included, and sessions survive', async () => {
    const first = await start([process.execPath, 'dist/server.js']);
    const orphan = postmasterPid();
    process.kill(first.serverPid, 'SIGKILL');
    await first.exited;
    assert.ok(isAlive(orphan), 'the killed server left its PostgreSQL running');

    const second = await start([process.execPath, 'dist/server.js']);
    try {
      assert.equal((await fetch(`${second.url}/health`)).status, 200);
      const client = new Client(second.url, 'script');
      for (const [k, v] of cookies) client.cookies.set(k, v);
      assert.match((await client.get('/', { accept: 'text/html' })).text, /Signed in as/);
    } finally {
      process.kill(second.serverPid, 'SIGTERM');
      assert.equal((await second.exited).code, 0);
    }
  });

  test('npm run user:create makes the first administrator, whose sign-in carries the admin role', async () => {
    const child = spawn('npm', ['run', '--silent', 'user:create', '--', '--login', 'Root', '--email', 'root@example.com', '--role', 'admin', '--password-stdin'], {
      env: env(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.stdin.end('root passphrase for tests\n');
    assert.equal(await new Promise((resolve) => child.on('exit', resolve)), 0, out);
    assert.match(out, /Created user root/);
    assert.doesNotMatch(out, /root passphrase/);

    const server = await start([process.execPath, 'dist/server.js']);
    try {
      const client = new Client(server.url, 'script');
      await client.fetchCsrf();
      const reply = await client.postJson('/login', { login: 'root', password: 'root passphrase for tests' });
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.json.user.roles, ['admin']);
    } finally {
      process.kill(server.serverPid, 'SIGTERM');
      assert.equal((await server.exited).code, 0);
    }
  });

  /** Runs the server expecting it to refuse to start; resolves its exit code and standard error. */
  async function refusedStart(extra: Record<string, string>) {
    const child = spawn(process.execPath, ['dist/server.js'], { env: env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    return { code, err };
  }

  test('an invalid setting stops start-up with one line naming the variable', async () => {
    const { code, err } = await refusedStart({ PORT: 'eighty' });
    assert.equal(code, 1);
    assert.equal(err.trim().split('\n').length, 1);
    assert.match(err, /^Invalid setting PORT: /);
  });

  test('NODE_ENV=production without SESSION_SECRET refuses to start', async () => {
    const { code, err } = await refusedStart({ NODE_ENV: 'production' });
    assert.equal(code, 1);
    assert.match(err, /SESSION_SECRET/);
  });
});

describe('as root, with DATA_DIR under a folder the postgres user cannot enter', () => {
  // Only root runs PostgreSQL as another user (CI and these machines run as root).
  test('the first start still works: the cluster lives where postgres can reach it, and the log says where', { skip: userInfo().uid !== 0 && 'needs root' }, async () => {
    const closed = mkdtempSync(path.join(tmpdir(), 'eac-closed-'));
    chmodSync(closed, 0o700);
    const inner = path.join(closed, 'checkout', '.data');
    mkdirSync(inner, { recursive: true });
    const clusterHome = path.join(REACHABLE_CLUSTER_ROOT, createHash('sha256').update(inner).digest('hex').slice(0, 16));
    const server = await start([process.execPath, 'dist/server.js'], { DATA_DIR: inner, EMBEDDED_PG_PORT: String(await freePort()) });
    try {
      assert.equal((await fetch(`${server.url}/health`)).status, 200);
      assert.match(server.output(), /the embedded cluster lives here instead/);
      assert.ok(server.output().includes(clusterHome), 'the log names the folder');
    } finally {
      process.kill(server.serverPid, 'SIGTERM');
      assert.equal((await server.exited).code, 0);
      rmSync(closed, { recursive: true, force: true });
      rmSync(clusterHome, { recursive: true, force: true });
    }
  });
});
