import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

/** A real app process (`src/server.ts` through tsx), as a second node behind a load balancer would be. */
export interface AppProcess {
  url: string;
  port: number;
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export async function startAppProcess(env: Record<string, string>, port?: number): Promise<AppProcess> {
  const p = port ?? (await freePort());
  const url = `http://127.0.0.1:${p}`;
  const { TEST_ADMIN_URL: _a, TEST_TEMPLATE_DB: _b, ...inherited } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { ...inherited, NODE_ENV: 'test', PORT: String(p), APP_ORIGIN: url, BCRYPT_COST: '4', LOG_LEVEL: 'warn', REGISTER_IP_HOURLY: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`app process not ready within 30 s:\n${out}`)), 30_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Serving ')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`app process exited with ${code}:\n${out}`)));
  });
  return {
    url,
    port: p,
    child,
    output: () => out,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
