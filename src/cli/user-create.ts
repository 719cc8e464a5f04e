import { translator } from '../i18n/i18n.js';
import { parseArgs } from 'node:util';
import { PasswordHasher } from '../auth/passwords.js';
import { parseRegistration } from '../auth/user-rules.js';
import { UserStore } from '../auth/users.sql.js';
import { ConfigError, loadConfig, loadDotEnv } from '../config.js';
import { openDatabase } from '../db/database.js';
import { AppError } from '../http/errors.js';
import { createLogger } from '../logger.js';
import { RoleStore } from '../roles/roles.sql.js';

/**
 * npm run user:create -- --login NAME --email E [--name N] [--role admin] [--password-stdin]
 * The password is read from standard input (first line), never from the command line.
 */
const USAGE = 'usage: npm run user:create -- --login NAME --email EMAIL [--name "Display Name"] [--role admin] [--password-stdin] < password.txt';

async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Password (input is shown; prefer piping it in): ');
  let data = '';
  for await (const chunk of process.stdin) {
    data += chunk;
    if (data.includes('\n')) break;
  }
  return data.split(/\r?\n/)[0] ?? '';
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      login: { type: 'string' },
      email: { type: 'string' },
      name: { type: 'string' },
      role: { type: 'string', multiple: true },
      'password-stdin': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help || !values.login || !values.email) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  loadDotEnv();
  const config = loadConfig();
  const password = await readPassword();
  const input = parseRegistration({ login: values.login, email: values.email, name: values.name, password });
  const logger = createLogger({ level: 'warn' });
  const db = await openDatabase(config, logger);
  try {
    const hasher = new PasswordHasher(config.bcryptCost, config.passwordPepper);
    const { user } = await new UserStore(db.pool).create({ ...input, passwordHash: await hasher.hash(input.password) });
    for (const role of values.role ?? []) await new RoleStore(db.pool).grant(user.id, role);
    console.log(`Created user ${user.login} (id ${user.id})${values.role?.length ? ` with role ${values.role.join(', ')}` : ''}.`);
    return 0;
  } finally {
    await db.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof ConfigError) console.error(err.message);
    else if (err instanceof AppError) {
      const t = translator('en');
      console.error(`${t(err.message)}${err.fields ? ' ' + Object.entries(err.fields).map(([name, key]) => `${name}: ${t(key)}`).join(' ') : ''}`);
    }
    else console.error(`Could not create the user: ${(err as Error).message}`);
    process.exit(1);
  },
);
