/**
 * npm run bench: the product's figures against their bounds, measured in one run on this machine, a
 * line per figure, and a JSON file under bench-results/ for history. It asserts nothing (speed lives
 * here, never in tests). Run it alone on the machine and read the ratios, not the absolute figures;
 * ../shared/bench is the side-by-side judge against a textbook peer.
 *
 * The app runs as `node dist/server.js` (NODE_ENV=production, BCRYPT_COST 10) in its own process,
 * beside two bounds in processes of their own: a bare Express route and a bare Socket.IO server.
 * The database: BENCH_DATABASE_URL or DATABASE_URL (a server where it may create a database), else
 * an embedded PostgreSQL. Knobs: BENCH_SECONDS (5 per HTTP figure), BENCH_USERS (40), BENCH_SOCKETS (500),
 * BENCH_SCALE_SOCKETS (10000: memory at scale, opened from BENCH_CLIENTS client processes, 4; 0 skips it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import bcrypt from 'bcrypt';
import pg from 'pg';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.js';
import { createLogger } from '../src/logger.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const USERS = Number(process.env.BENCH_USERS ?? 40);
const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 500);
const SCALE_SOCKETS = Number(process.env.BENCH_SCALE_SOCKETS ?? 10_000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
const COST = 10;
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const progress = (text: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);

// ---- processes and their CPU -------------------------------------------------------------------

const MS_PER_TICK = 10; // USER_HZ is 100 on Linux
/** CPU ms used so far by a process (utime + stime from /proc). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * MS_PER_TICK;
}
/** CPU ms of every PostgreSQL process on the machine (the bench is meant to run alone). */
function postgresCpuMs(): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.includes('(postgres)')) total += cpuMs(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return total;
}
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

const children: ChildProcess[] = [];
async function startProcess(name: string, args: string[], env: Record<string, string>, readyUrl: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${stderr.slice(-2000)}`);
    try {
      if ((await fetch(readyUrl)).ok) return child;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not become ready: ${stderr.slice(-2000)}`);
}

// The HTTP bound, as ../shared/bench takes the peer's /health: one Express route, nothing else.
const BARE_HTTP = `require('express')().get('/', (q, s) => s.json({ status: 'ok' })).listen(Number(process.env.PORT), '127.0.0.1');`;
const BARE_SOCKET_IO = `
const http = require('node:http');
const { Server } = require('socket.io');
const server = http.createServer((q, s) => { s.end('ok'); });
const io = new Server(server);
io.on('connection', (socket) => socket.on('chat:send', (p, ack) => { io.emit('chat:message', { text: p.text }); ack({ ok: true }); }));
server.listen(Number(process.env.PORT), '127.0.0.1');`;

// One client process of the memory-at-scale run: opens COUNT websocket sockets (100 in flight),
// cookies taken in turn, says how many opened, and holds them until it is killed.
const SOCKET_CLIENT = `
const { io } = require('socket.io-client');
const cookies = JSON.parse(process.env.COOKIES || '[]');
const count = Number(process.env.COUNT);
let next = 0, opened = 0, failed = 0;
const open = (i) => new Promise((resolve) => {
  const headers = { ...(cookies.length ? { cookie: cookies[i % cookies.length] } : {}), ...(process.env.ORIGIN ? { origin: process.env.ORIGIN } : {}) };
  const s = io(process.env.URL, { transports: ['websocket'], reconnection: false, forceNew: true, extraHeaders: headers });
  s.once('connect', () => { opened++; resolve(); });
  s.once('connect_error', () => { failed++; resolve(); });
  // A transport closed before the connect (the server could not set the socket up) is refused too.
  s.once('disconnect', () => { if (!s.connected) { failed++; resolve(); } });
});
Promise.all(Array.from({ length: 100 }, async () => { while (next < count) await open(next++); }))
  .then(() => process.stdout.write(JSON.stringify({ opened, failed }) + '\\n'));
`;

/**
 * RSS growth per socket with `total` sockets held at once on a fresh server process, opened from
 * CLIENTS processes of their own (one client process cannot hold 10,000).
 */
async function memoryAtScale(url: string, pid: number, total: number, options: { cookies?: string[]; origin?: string }) {
  const rss0 = rssMiB(pid);
  const started = Date.now();
  const clients = Array.from({ length: CLIENTS }, (_, i) => {
    const count = Math.floor(total / CLIENTS) + (i < total % CLIENTS ? 1 : 0);
    const env = { URL: url, COUNT: String(count), COOKIES: JSON.stringify(options.cookies ?? []), ORIGIN: options.origin ?? '' };
    return spawn(process.execPath, ['-e', SOCKET_CLIENT], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  });
  try {
    const results = await Promise.all(
      clients.map(
        (child) =>
          new Promise<{ opened: number; failed: number }>((resolve, reject) => {
            let out = '';
            child.stdout!.on('data', (d: Buffer) => {
              out += d.toString();
              if (out.includes('\n')) resolve(JSON.parse(out) as { opened: number; failed: number });
            });
            child.once('exit', (code) => reject(new Error(`a socket client exited (${code})`)));
          }),
      ),
    );
    const opened = results.reduce((n, r) => n + r.opened, 0);
    const failed = results.reduce((n, r) => n + r.failed, 0);
    progress(`${opened} sockets open (${failed} refused) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await new Promise((r) => setTimeout(r, 2000));
    const rss = rssMiB(pid);
    return { opened, failed, rssMiB: rss, rssPerSocketKiB: ((rss - rss0) * 1024) / Math.max(1, opened) };
  } finally {
    for (const child of clients) child.kill('SIGTERM');
  }
}

// ---- measurements ------------------------------------------------------------------------------

/** Raw compares at the app's cost, 4 at once (libuv's pool): how many a second, and CPU ms each. */
async function bcryptCompares(): Promise<{ perSecond: number; cpuMsEach: number }> {
  const hash = await bcrypt.hash('a sturdy passphrase 42', COST);
  const cpu0 = process.cpuUsage();
  let done = 0;
  const until = Date.now() + SECONDS * 1000;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (Date.now() < until) {
        await bcrypt.compare('a sturdy passphrase 42', hash);
        done++;
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return { perSecond: done / ((Date.now() - started) / 1000), cpuMsEach: (cpu.user + cpu.system) / 1000 / done };
}

async function httpRate(url: string, headers: Record<string, string> = {}): Promise<{ rps: number; p99: number; non2xx: number }> {
  const result = await autocannon({ url, connections: 10, duration: SECONDS, headers });
  return { rps: result.requests.average, p99: result.latency.p99, non2xx: result.non2xx };
}

/** Work done by the app and PostgreSQL while `run` runs, per operation. */
async function withCpu<T extends { ops: number }>(pid: number, run: () => Promise<T>): Promise<T & { appMsPerOp: number; pgMsPerOp: number }> {
  const app0 = cpuMs(pid);
  const pg0 = postgresCpuMs();
  const out = await run();
  const appMs = cpuMs(pid) - app0;
  const pgMs = postgresCpuMs() - pg0;
  return { ...out, appMsPerOp: appMs / out.ops, pgMsPerOp: pgMs / out.ops };
}

interface Jar {
  cookies: Map<string, string>;
}
function keepCookies(jar: Jar, res: Response) {
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const eq = pair!.indexOf('=');
    jar.cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
  }
}
const cookieHeader = (jar: Jar) => [...jar.cookies].map(([k, v]) => `${k}=${v}`).join('; ');

/** A fresh cookie jar holding the CSRF cookie, and its token (GET /csrf-token, as a script does). */
async function freshJar(base: string): Promise<{ jar: Jar; csrfToken: string }> {
  const jar: Jar = { cookies: new Map() };
  const tokenRes = await fetch(`${base}/csrf-token`, { headers: { accept: 'application/json' } });
  keepCookies(jar, tokenRes);
  const { csrfToken } = (await tokenRes.json()) as { csrfToken: string };
  return { jar, csrfToken };
}

async function register(base: string, login: string, password: string) {
  const { jar, csrfToken } = await freshJar(base);
  const res = await fetch(`${base}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': csrfToken, cookie: cookieHeader(jar), origin: base },
    body: JSON.stringify({ login, email: `${login}@example.com`, password }),
  });
  if (res.status !== 201) throw new Error(`registration: ${res.status} ${await res.text()}`);
}

/** One browser sign-in: a fresh jar, GET /csrf-token, the form POST /login; the session cookie. */
async function signIn(base: string, login: string, password: string): Promise<string> {
  const { jar, csrfToken } = await freshJar(base);
  const res = await fetch(`${base}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieHeader(jar), origin: base },
    body: new URLSearchParams({ login, password, _csrf: csrfToken }).toString(),
  });
  if (res.status !== 303) throw new Error(`sign-in: ${res.status}`);
  keepCookies(jar, res);
  return `sid=${jar.cookies.get('sid')}`;
}

async function logins(base: string, users: { login: string; password: string }[]): Promise<{ ops: number; perSecond: number; cookies: string[] }> {
  const cookies: string[] = [];
  let next = 0;
  const until = Date.now() + SECONDS * 2 * 1000;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (Date.now() < until) {
        const u = users[next++ % users.length]!;
        cookies.push(await signIn(base, u.login, u.password));
      }
    }),
  );
  return { ops: cookies.length, perSecond: cookies.length / ((Date.now() - started) / 1000), cookies };
}

/** Opens `count` sockets at once; handshakes/s, RSS growth per socket, then broadcast latency p99. */
async function sockets(base: string, pid: number, options: { cookies?: string[]; origin?: string; event: string }) {
  const rss0 = rssMiB(pid);
  const opened: Socket[] = [];
  const started = Date.now();
  // At most 200 handshakes in flight (a crowd beyond the listen backlog is refused).
  let nextSocket = 0;
  const open = (i: number) => {
      const socket = connectSocket(base, {
        transports: ['websocket'],
        reconnection: false,
        extraHeaders: { ...(options.cookies ? { cookie: options.cookies[i % options.cookies.length]! } : {}), ...(options.origin ? { origin: options.origin } : {}) },
      });
      opened.push(socket);
      return new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', (err) => reject(err));
      });
  };
  await Promise.all(
    Array.from({ length: Math.min(200, SOCKETS) }, async () => {
      while (nextSocket < SOCKETS) await open(nextSocket++);
    }),
  );
  const handshakesPerSecond = SOCKETS / ((Date.now() - started) / 1000);
  await new Promise((r) => setTimeout(r, 1000));
  const rssPerSocketKiB = ((rssMiB(pid) - rss0) * 1024) / SOCKETS;

  const latencies: number[] = [];
  for (let m = 0; m < 20; m++) {
    const text = `bench ${m} ${randomBytes(4).toString('hex')}`;
    const t0 = performance.now();
    let got = 0;
    await new Promise<void>((resolve) => {
      // A message that does not reach everyone within 5 s counts as 5 s (and says so).
      const late = setTimeout(() => {
        progress(`broadcast ${m}: ${got} of ${opened.length} sockets within 5 s`);
        resolve();
      }, 5000);
      const onMessage = (message: { text: string }) => {
        if (message.text !== text) return;
        if (++got === opened.length) {
          clearTimeout(late);
          resolve();
        }
      };
      for (const s of opened) s.on(options.event, onMessage);
      // A different sender each time: the product limits one user to 10 messages in 10 s.
      opened[(m * 7) % opened.length]!.emit('chat:send', { text }, () => {});
    });
    latencies.push(performance.now() - t0);
    for (const s of opened) s.removeAllListeners(options.event);
  }
  latencies.sort((a, b) => a - b);
  for (const s of opened) s.disconnect();
  return { handshakesPerSecond, rssPerSocketKiB, broadcastP99: latencies[Math.floor(latencies.length * 0.99)] ?? latencies.at(-1)! };
}

// ---- the run -----------------------------------------------------------------------------------

const logger = createLogger({ level: 'error' });
const dataDir = mkdtempSync(path.join(tmpdir(), 'eac-bench-'));
const embedded = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres({ dataDir: path.join(root, '.data/bench-postgres'), port: 54399, logger });
const adminUrl = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL || embedded!.adminUrl;
const dbName = `eac_bench_${randomBytes(4).toString('hex')}`;
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${dbName}`);
const databaseUrl = Object.assign(new URL(adminUrl), { pathname: `/${dbName}` }).toString();

const figures: { figure: string; bound: number | null; product: number; ratio: number | null; target: string; good: 'high' | 'low' }[] = [];
function figure(name: string, bound: number | null, product: number, good: 'high' | 'low', target: string) {
  const ratio = bound ? product / bound : null;
  figures.push({ figure: name, bound, product, ratio, target, good });
  const n = (x: number | null) => (x === null ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(2));
  console.log(`${name.padEnd(44)} bound ${n(bound).padStart(8)}  product ${n(product).padStart(8)}  ratio ${n(ratio).padStart(6)}  target ${target}`);
}

try {
  progress('bounds: raw bcrypt compares');
  const compares = await bcryptCompares();

  const [appPort, httpPort, ioPort] = [await freePort(), await freePort(), await freePort()];
  const base = `http://127.0.0.1:${appPort}`;
  progress('starting the app (node dist/server.js), a bare Express server and a bare Socket.IO server');
  const appEnv = (port: number) => ({
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      APP_ORIGIN: `http://127.0.0.1:${port}`,
      DATABASE_URL: databaseUrl,
      DATA_DIR: dataDir,
      BCRYPT_COST: String(COST),
      SESSION_SECRET: 'bench-'.repeat(8),
      LOGIN_MAX_FAILURES: '1000',
      LOGIN_IP_DAILY_FAILURES: '1000000',
      REGISTER_IP_HOURLY: '0',
  });
  const app = await startProcess('app', ['dist/server.js'], appEnv(appPort), `${base}/health`);
  await startProcess('bare Express', ['-e', BARE_HTTP], { PORT: String(httpPort) }, `http://127.0.0.1:${httpPort}/`);
  const bareIo = await startProcess('bare socket.io', ['-e', BARE_SOCKET_IO], { PORT: String(ioPort) }, `http://127.0.0.1:${ioPort}/`);

  progress(`registering ${USERS} users`);
  const users = Array.from({ length: USERS }, (_, i) => ({ login: `bench${i}`, password: randomBytes(12).toString('base64url') }));
  for (let i = 0; i < users.length; i += 4) await Promise.all(users.slice(i, i + 4).map((u) => register(base, u.login, u.password)));

  progress('wrong passwords: a known login against an unknown one (the same bcrypt work)');
  const { jar: probe, csrfToken: probeCsrf } = await freshJar(base);
  const wrongPassword = async (login: string) => {
    const t0 = performance.now();
    const res = await fetch(`${base}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', origin: base, 'x-csrf-token': probeCsrf, cookie: cookieHeader(probe) },
      body: JSON.stringify({ login, password: 'definitely wrong 1' }),
    });
    await res.arrayBuffer();
    if (res.status !== 401) throw new Error(`a wrong password got ${res.status}, not 401`);
    return performance.now() - t0;
  };
  const known: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < 10; i++) {
    known.push(await wrongPassword(users[i % users.length]!.login));
    unknown.push(await wrongPassword(`nobody${i}`));
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  figure('wrong password ms: unknown login [bound: known]', mean(known), mean(unknown), 'low', '~ 1 x bound (no login enumeration)');

  progress('sign-ins');
  const signIns = await withCpu(app.pid!, () => logins(base, users));
  figure('sign-in logins/s [bound: bcrypt compares/s]', compares.perSecond, signIns.perSecond, 'high', '>= 0.95 x bound');
  figure('CPU ms per login, app + postgres [bound: 1 compare]', compares.cpuMsEach, signIns.appMsPerOp + signIns.pgMsPerOp, 'low', '<= 1.05 x bound');
  figure('  of which postgres ms per login', null, signIns.pgMsPerOp, 'low', '-');

  progress('HTTP: bare Express, /health, anonymous and signed-in GET /');
  const bound = await httpRate(`http://127.0.0.1:${httpPort}/`);
  const health = await httpRate(`${base}/health`);
  const anonymous = await withCpu(app.pid!, async () => {
    const r = await httpRate(`${base}/`);
    return { ...r, ops: r.rps * SECONDS };
  });
  const signedIn = await withCpu(app.pid!, async () => {
    const r = await httpRate(`${base}/`, { cookie: signIns.cookies[0]! });
    return { ...r, ops: r.rps * SECONDS };
  });
  figure('/health req/s [bound: bare Express]', bound.rps, health.rps, 'high', '-');
  figure('anonymous GET / req/s [bound: bare Express]', bound.rps, anonymous.rps, 'high', '>= 1 x peer (../shared/bench)');
  figure('CPU ms per anonymous GET /, app + postgres', null, anonymous.appMsPerOp + anonymous.pgMsPerOp, 'low', '-');
  figure('signed-in GET / req/s [bound: bare Express]', bound.rps, signedIn.rps, 'high', '>= 2 x peer (../shared/bench)');
  figure('CPU ms per signed-in GET /, app + postgres', null, signedIn.appMsPerOp + signedIn.pgMsPerOp, 'low', '<= 0.5 x peer (../shared/bench)');
  if (anonymous.non2xx || signedIn.non2xx) console.log(`non-2xx answers: anonymous ${anonymous.non2xx}, signed-in ${signedIn.non2xx}`);

  // Sockets and memory on a fresh process of the app (the HTTP runs left garbage in the first one).
  const socketPort = await freePort();
  const socketBase = `http://127.0.0.1:${socketPort}`;
  const socketApp = await startProcess('app for sockets', ['dist/server.js'], appEnv(socketPort), `${socketBase}/health`);
  progress(`sockets: ${SOCKETS} at once, bare Socket.IO then the product (a fresh process)`);
  const bareSockets = await withCpu(bareIo.pid!, async () => ({ ...(await sockets(`http://127.0.0.1:${ioPort}`, bareIo.pid!, { event: 'chat:message' })), ops: SOCKETS }));
  const productSockets = await withCpu(socketApp.pid!, async () => ({
    ...(await sockets(socketBase, socketApp.pid!, { cookies: signIns.cookies.slice(0, USERS), origin: socketBase, event: 'chat:message' })),
    ops: SOCKETS,
  }));
  figure(`handshakes/s, ${SOCKETS} sockets [bound: bare Socket.IO]`, bareSockets.handshakesPerSecond, productSockets.handshakesPerSecond, 'high', '>= 0.85 x bound');
  figure('CPU ms per handshake (+ 20 broadcasts), app + pg', bareSockets.appMsPerOp + bareSockets.pgMsPerOp, productSockets.appMsPerOp + productSockets.pgMsPerOp, 'low', '<= 1.5 x bound');
  figure('broadcast to all p99 ms [bound: bare Socket.IO]', bareSockets.broadcastP99, productSockets.broadcastP99, 'low', '<= 1.1 x bound');
  figure('RSS growth KiB per socket [bound: bare Socket.IO]', bareSockets.rssPerSocketKiB, productSockets.rssPerSocketKiB, 'low', '-');

  if (SCALE_SOCKETS > 0) {
    // Memory at scale, each on a fresh process: the bare server, then the product.
    const [bareScalePort, scalePort] = [await freePort(), await freePort()];
    const bareScale = await startProcess('bare socket.io (scale)', ['-e', BARE_SOCKET_IO], { PORT: String(bareScalePort) }, `http://127.0.0.1:${bareScalePort}/`);
    progress(`memory: ${SCALE_SOCKETS} sockets at once from ${CLIENTS} client processes, bare Socket.IO then the product (fresh processes)`);
    const bareAtScale = await memoryAtScale(`http://127.0.0.1:${bareScalePort}`, bareScale.pid!, SCALE_SOCKETS, {});
    bareScale.kill('SIGTERM');
    const scaleBase = `http://127.0.0.1:${scalePort}`;
    const scaleApp = await startProcess('app (scale)', ['dist/server.js'], appEnv(scalePort), `${scaleBase}/health`);
    const productAtScale = await memoryAtScale(scaleBase, scaleApp.pid!, SCALE_SOCKETS, { cookies: signIns.cookies, origin: scaleBase });
    figure(`RSS growth KiB per socket, ${productAtScale.opened} sockets [bound: bare]`, bareAtScale.rssPerSocketKiB, productAtScale.rssPerSocketKiB, 'low', '<= 60 KiB a socket at 10,000');
    figure(`RSS MiB with ${productAtScale.opened} sockets [bound: bare]`, bareAtScale.rssMiB, productAtScale.rssMiB, 'low', '-');
  }

  mkdirSync(path.join(root, 'bench-results'), { recursive: true });
  const file = path.join(root, 'bench-results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const commit = await new Promise<string>((resolve) => {
    const git = spawn('git', ['rev-parse', '--short', 'HEAD'], { cwd: root });
    let out = '';
    git.stdout.on('data', (d: Buffer) => (out += d.toString()));
    git.on('close', () => resolve(out.trim()));
    git.on('error', () => resolve(''));
  });
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), commit, node: process.version, seconds: SECONDS, users: USERS, sockets: SOCKETS, figures }, null, 2) + '\n');
  console.log(`results: ${path.relative(root, file)}`);
} finally {
  for (const child of children) child.kill('SIGTERM');
  // A child killed by a signal (the bare servers have no handler) has a signalCode and no exitCode.
  await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
  await admin.end();
  await embedded?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
