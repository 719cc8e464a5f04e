/**
 * A small cookie-keeping HTTP client: a browser (forms, HTML, Origin header) or a script (JSON).
 * It speaks real HTTP to the server; nothing is mocked.
 */
export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: any;
  setCookies: string[];
  location: string | null;
}

export class Client {
  readonly cookies = new Map<string, string>();
  csrfToken = '';

  constructor(
    readonly base: string,
    private readonly kind: 'browser' | 'script' = 'browser',
  ) {}

  /** The same cookies and CSRF token against another server (the same app restarted elsewhere). */
  rebase(base: string): Client {
    const moved = new Client(base, this.kind);
    for (const [k, v] of this.cookies) moved.cookies.set(k, v);
    moved.csrfToken = this.csrfToken;
    return moved;
  }

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
    const headers: Record<string, string> = {
      accept: this.kind === 'script' ? 'application/json' : 'text/html,application/xhtml+xml',
      ...(this.kind === 'browser' && method !== 'GET' ? { origin: this.base } : {}),
      ...(this.cookies.size ? { cookie: this.cookieHeader() } : {}),
      ...init.headers,
    };
    const res = await fetch(this.base + path, { method, headers, body: init.body, redirect: 'manual' });
    const setCookies = res.headers.getSetCookie();
    for (const line of setCookies) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = /expires=Thu, 01 Jan 1970/i.test(line) || /max-age=0/i.test(line) || value === '';
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const meta = /<meta name="csrf-token" content="([^"]+)"/.exec(text);
    if (meta) this.csrfToken = meta[1]!;
    return { status: res.status, headers: res.headers, text, json, setCookies, location: res.headers.get('location') };
  }

  get(path: string, headers?: Record<string, string>) {
    return this.request('GET', path, { headers });
  }

  /** Fetches a CSRF token the way a script does. */
  async fetchCsrf(): Promise<string> {
    const reply = await this.request('GET', '/csrf-token', { headers: { accept: 'application/json' } });
    this.csrfToken = reply.json.csrfToken;
    return this.csrfToken;
  }

  /** A browser form post carrying the page's token in _csrf (pass csrf: false to leave it out). */
  postForm(path: string, fields: Record<string, string | string[]>, options: { csrf?: boolean; headers?: Record<string, string> } = {}) {
    const body = new URLSearchParams();
    if (options.csrf !== false) body.append('_csrf', this.csrfToken);
    for (const [k, v] of Object.entries(fields)) for (const item of [v].flat()) body.append(k, item);
    return this.request('POST', path, {
      body: body.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...options.headers },
    });
  }

  /** A script's JSON post with the token in X-CSRF-Token (pass csrf: false to leave it out). */
  postJson(path: string, payload: unknown, options: { csrf?: boolean; headers?: Record<string, string> } = {}) {
    return this.request('POST', path, {
      body: typeof payload === 'string' ? payload : JSON.stringify(payload),
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        ...(options.csrf !== false ? { 'x-csrf-token': this.csrfToken } : {}),
        ...options.headers,
      },
    });
  }
}

let counter = 0;
/** A fresh, valid registration. */
export function newUser(overrides: Record<string, string> = {}) {
  counter += 1;
  const login = `user${process.pid % 10000}_${counter}`;
  return { login, email: `${login}@example.com`, name: `User ${counter}`, password: 'a sturdy passphrase 42', ...overrides };
}

/** Registers through the JSON side and returns a signed-in script client. */
export async function registeredScript(base: string, overrides: Record<string, string> = {}) {
  const client = new Client(base, 'script');
  await client.fetchCsrf();
  const user = newUser(overrides);
  const reply = await client.postJson('/register', user);
  if (reply.status !== 201) throw new Error(`registration failed: ${reply.status} ${reply.text}`);
  await client.fetchCsrf();
  return { client, user, id: reply.json.user.id as number };
}

/** Registers through the HTML form and returns a signed-in browser client. */
export async function registeredBrowser(base: string, overrides: Record<string, string> = {}) {
  const client = new Client(base, 'browser');
  await client.get('/register');
  const user = newUser(overrides);
  const reply = await client.postForm('/register', user);
  if (reply.status !== 303) throw new Error(`registration failed: ${reply.status} ${reply.text.slice(0, 300)}`);
  await client.get('/');
  return { client, user };
}
