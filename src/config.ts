import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/** The only file that reads process.env. Everything else receives a validated Config. */

const intIn = (min: number, max: number, fallback: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, `expected a whole number between ${min} and ${max}`)
    .transform(Number)
    .pipe(z.number().min(min, `expected a whole number between ${min} and ${max}`).max(max, `expected a whole number between ${min} and ${max}`))
    .optional()
    .transform((v) => v ?? fallback);

const optionalText = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v ? v : undefined));

const booleanText = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', ''], { message: 'expected true or false' })
    .optional()
    .transform((v) => (v === undefined || v === '' ? fallback : ['true', '1', 'yes'].includes(v)));

/** express's "trust proxy": false, true, a hop count, or a list of addresses/subnets. */
const trustProxy = z
  .string()
  .trim()
  .optional()
  .transform((v, ctx): boolean | number | string[] => {
    if (!v || v === 'false' || v === '0') return false;
    if (v === 'true') return true;
    if (/^\d+$/.test(v)) return Number(v);
    const list = v.split(',').map((s) => s.trim()).filter(Boolean);
    if (list.every((s) => /^[0-9a-fA-F.:/]+$/.test(s) || ['loopback', 'linklocal', 'uniquelocal'].includes(s))) return list;
    ctx.addIssue({ code: 'custom', message: 'expected false, true, a hop count, or a comma-separated list of addresses' });
    return z.NEVER;
  });

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test'], { message: 'expected development, production or test' }).optional().transform((v) => v ?? 'development'),
  PORT: intIn(0, 65535, 3000),
  HOST: z.string().trim().min(1).optional().transform((v) => v ?? '127.0.0.1'),
  DATABASE_URL: optionalText.pipe(z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL').optional()),
  DATA_DIR: optionalText,
  APP_ORIGIN: optionalText,
  SESSION_SECRET: optionalText.pipe(z.string().min(32, 'expected at least 32 characters').optional()),
  PASSWORD_PEPPER: optionalText.pipe(z.string().min(16, 'expected at least 16 characters').optional()),
  TRUST_PROXY: trustProxy,
  SESSION_IDLE_MINUTES: intIn(1, 525_600, 720),
  SESSION_ABSOLUTE_HOURS: intIn(1, 87_600, 240),
  BCRYPT_COST: intIn(4, 31, 12),
  LOGIN_MAX_FAILURES: intIn(1, 1000, 5),
  LOGIN_IP_DAILY_FAILURES: intIn(1, 1_000_000, 100),
  PASSWORD_MAX_AGE_DAYS: intIn(0, 36_500, 0),
  REGISTER_IP_HOURLY: intIn(0, 1_000_000, 20),
  SESSION_CACHE: booleanText(true),
  ACCESS_TOKEN_SECONDS: intIn(5, 86_400, 1800),
  CLOUDFRONT_COOKIE_MINUTES: intIn(1, 10_080, 10),
  REDIS_URL: optionalText.pipe(z.string().regex(/^rediss?:\/\//, 'expected a redis:// URL').optional()),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { message: 'expected fatal, error, warn, info, debug, trace or silent' })
    .optional()
    .transform((v) => v ?? 'info'),
  EMBEDDED_PG_PORT: intIn(1024, 65535, 54329),
  DB_POOL_MAX: intIn(1, 200, 10),
  SHUTDOWN_TIMEOUT_MS: intIn(100, 60_000, 8000),
  LOG_PRETTY: booleanText(false),
  JWT_PRIVATE_KEY_PATH: optionalText,
  REFRESH_TOKEN_DAYS: intIn(1, 365, 30),
  CLOUDFRONT_KEY_PAIR_ID: optionalText,
  CLOUDFRONT_PRIVATE_KEY_PATH: optionalText,
  CLOUDFRONT_RESOURCE: optionalText.pipe(z.string().regex(/^https:\/\/\S+$/, 'expected an https:// URL (wildcards allowed)').optional()),
  CLOUDFRONT_COOKIE_DOMAIN: optionalText,
  REQUIRE_EMAIL_CONFIRMATION: booleanText(false),
  CONFIRMATION_CODE_MINUTES: intIn(1, 1440, 15),
  SMTP_URL: optionalText.pipe(z.string().regex(/^smtps?:\/\//, 'expected an smtp:// or smtps:// URL').optional()),
  MAIL_FROM: optionalText,
});

export interface Config {
  nodeEnv: 'development' | 'production' | 'test';
  port: number;
  host: string;
  databaseUrl: string | undefined;
  dataDir: string;
  appOrigin: string;
  /** APP_ORIGIN was not set: with PORT=0 the server fills in the port it got. */
  appOriginDefaulted: boolean;
  /** True when APP_ORIGIN is https: secure cookies, __Host- prefix, HSTS. */
  https: boolean;
  /** Newest first; older ones still verify cookies signed before a rotation. */
  sessionSecrets: string[] | undefined;
  passwordPepper: string | undefined;
  trustProxy: boolean | number | string[];
  sessionIdleMs: number;
  sessionAbsoluteMs: number;
  bcryptCost: number;
  loginMaxFailures: number;
  loginIpDailyFailures: number;
  passwordMaxAgeDays: number;
  /** Cache sessions in each process (invalidated through LISTEN/NOTIFY) instead of reading each per request. */
  sessionCache: boolean;
  /** Registration attempts one IP may make an hour (0 = no limit). */
  registerIpHourly: number;
  accessTokenSeconds: number;
  redisUrl: string | undefined;
  logLevel: string;
  logPretty: boolean;
  embeddedPgPort: number;
  dbPoolMax: number;
  shutdownTimeoutMs: number;
  /** Where the JWT signing key is read from; unset: generated once into DATA_DIR. */
  jwtPrivateKeyPath: string | undefined;
  refreshTokenMs: number;
  /** Set when all three CloudFront settings are: signed asset cookies at sign-in. */
  cloudFront: { keyPairId: string; privateKeyPath: string; resource: string; cookieDomain: string | undefined; cookieMinutes: number } | undefined;
  requireEmailConfirmation: boolean;
  /** How long an emailed confirmation code lives. */
  confirmationCodeMinutes: number;
  smtpUrl: string | undefined;
  mailFrom: string;
}

export class ConfigError extends Error {}

/** Reads `.env` (if present) into process.env without overriding what is already set. */
export function loadDotEnv(file = '.env'): void {
  if (existsSync(file)) process.loadEnvFile(file);
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`Invalid setting ${String(issue.path[0])}: ${issue.message}`);
  }
  const e = parsed.data;

  const appOriginText = e.APP_ORIGIN ?? `http://localhost:${e.PORT}`;
  let appOrigin: URL;
  try {
    appOrigin = new URL(appOriginText);
  } catch {
    throw new ConfigError('Invalid setting APP_ORIGIN: expected an origin such as https://chat.example.com');
  }
  if (!['http:', 'https:'].includes(appOrigin.protocol) || appOrigin.origin !== appOriginText.replace(/\/$/, '')) {
    throw new ConfigError('Invalid setting APP_ORIGIN: expected an origin such as https://chat.example.com (scheme, host and port only)');
  }
  const cloudFrontSettings = { CLOUDFRONT_KEY_PAIR_ID: e.CLOUDFRONT_KEY_PAIR_ID, CLOUDFRONT_PRIVATE_KEY_PATH: e.CLOUDFRONT_PRIVATE_KEY_PATH, CLOUDFRONT_RESOURCE: e.CLOUDFRONT_RESOURCE };
  const cloudFrontMissing = Object.entries(cloudFrontSettings).filter(([, v]) => !v).map(([k]) => k);
  if (cloudFrontMissing.length === 1 || cloudFrontMissing.length === 2) {
    throw new ConfigError(`Invalid setting ${cloudFrontMissing[0]}: required when any CLOUDFRONT_* setting is set`);
  }
  if (e.NODE_ENV === 'production' && !e.SESSION_SECRET) {
    throw new ConfigError('Invalid setting SESSION_SECRET: required when NODE_ENV=production (at least 32 characters)');
  }

  return {
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.DATA_DIR ?? '.data'),
    appOrigin: appOrigin.origin,
    appOriginDefaulted: e.APP_ORIGIN === undefined,
    https: appOrigin.protocol === 'https:',
    sessionSecrets: e.SESSION_SECRET?.split(',').map((s) => s.trim()),
    passwordPepper: e.PASSWORD_PEPPER,
    trustProxy: e.TRUST_PROXY,
    sessionIdleMs: e.SESSION_IDLE_MINUTES * 60_000,
    sessionAbsoluteMs: e.SESSION_ABSOLUTE_HOURS * 3_600_000,
    bcryptCost: e.BCRYPT_COST,
    loginMaxFailures: e.LOGIN_MAX_FAILURES,
    loginIpDailyFailures: e.LOGIN_IP_DAILY_FAILURES,
    passwordMaxAgeDays: e.PASSWORD_MAX_AGE_DAYS,
    registerIpHourly: e.REGISTER_IP_HOURLY,
    sessionCache: e.SESSION_CACHE,
    accessTokenSeconds: e.ACCESS_TOKEN_SECONDS,
    redisUrl: e.REDIS_URL,
    logLevel: e.LOG_LEVEL,
    logPretty: e.LOG_PRETTY,
    embeddedPgPort: e.EMBEDDED_PG_PORT,
    dbPoolMax: e.DB_POOL_MAX,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    jwtPrivateKeyPath: e.JWT_PRIVATE_KEY_PATH,
    refreshTokenMs: e.REFRESH_TOKEN_DAYS * 86_400_000,
    cloudFront: cloudFrontMissing.length
      ? undefined
      : { keyPairId: e.CLOUDFRONT_KEY_PAIR_ID!, privateKeyPath: e.CLOUDFRONT_PRIVATE_KEY_PATH!, resource: e.CLOUDFRONT_RESOURCE!, cookieDomain: e.CLOUDFRONT_COOKIE_DOMAIN, cookieMinutes: e.CLOUDFRONT_COOKIE_MINUTES },
    requireEmailConfirmation: e.REQUIRE_EMAIL_CONFIRMATION,
    confirmationCodeMinutes: e.CONFIRMATION_CODE_MINUTES,
    smtpUrl: e.SMTP_URL,
    mailFrom: e.MAIL_FROM ?? `Parlour <no-reply@${appOrigin.hostname}>`,
  };
}
