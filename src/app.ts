import { createHmac } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import cookieParser from 'cookie-parser';
import express, { type RequestHandler } from 'express';

import { PasswordController } from './account/password-controller.js';
import { AccountSessionsController } from './account/sessions-controller.js';
import { AdminController } from './admin/admin-controller.js';
import { SignedAssetCookies } from './assets/cloudfront-cookies.js';
import { SecurityEvents } from './audit/security-events.sql.js';
import { Authentication } from './auth/authentication.js';
import { EmailConfirmations } from './auth/email-confirmations.sql.js';
import { LoginThrottle } from './auth/login-throttle.js';
import { SignInAttempts } from './auth/sign-in.js';
import { LoginController } from './auth/login-controller.js';
import { LogoutController } from './auth/logout-controller.js';
import { createPassport, type Passport } from './auth/passport-setup.js';
import { PasswordHasher } from './auth/passwords.js';
import { RegistrationController } from './auth/registration-controller.js';
import { UserStore } from './auth/users.sql.js';
import { ChatController } from './chat/chat-controller.js';
import { ChatMessages } from './chat/chat-messages.sql.js';
import type { Config } from './config.js';
import type { Pool } from './db/pool.js';
import { healthCheck } from './health/health-controller.js';
import { showHome } from './home/home-controller.js';
import { createCsrf, type Csrf } from './http/csrf.js';
import { errorHandler, notFound } from './http/error-handler.js';
import { requestLogger } from './http/request-logger.js';
import { securityHeaders } from './http/security-headers.js';
import type { Logger } from './logger.js';
import { createMailer, type Mailer } from './mail/mailer.js';
import { SessionEnding } from './sessions/session-ending.js';
import { enforceSessionLifetime } from './sessions/session-lifetime.js';
import { SessionRecords } from './sessions/session-records.sql.js';
import { createSessionMiddleware, sessionCookieName } from './sessions/session-middleware.js';
import { SessionStore } from './sessions/session-store.js';
import { AccessTokens } from './tokens/access-tokens.js';
import { RefreshTokens } from './tokens/refresh-tokens.sql.js';
import type { SigningKey } from './tokens/signing-key.js';
import { apiAuthGuard, TokenController } from './tokens/token-controller.js';

const VIEWS_DIR = fileURLToPath(new URL('../views', import.meta.url));
const PUBLIC_DIR = fileURLToPath(new URL('../public', import.meta.url));

export interface AppDeps {
  config: Config;
  pool: Pool;
  logger: Logger;
  /** Newest first. */
  sessionSecrets: string[];
  csrfSecret: string;
  signingKey: SigningKey;
  /** Defaults to SMTP_URL or the DATA_DIR outbox. */
  mailer?: Mailer;
}

export interface Application {
  app: express.Express;
  /** The one session middleware instance, for the socket layer's handshake. */
  sessionMiddleware: RequestHandler;
  passport: Passport;
  ending: SessionEnding;
  sessionStore: SessionStore;
  accessTokens: AccessTokens;
  refreshTokens: RefreshTokens;
  users: UserStore;
}

/** What every page template can use: the signed-in user and a CSRF token, computed only when rendered. */
function pageLocals(csrf: Csrf): RequestHandler {
  return (req, res, next) => {
    res.locals.currentUser = () => req.user;
    res.locals.csrfToken = () => csrf.token(req, res);
    next();
  };
}

/**
 * APP_ORIGIN https means browsers reach us over TLS, whoever terminates it (Rails' assume_ssl): the
 * session cookie is then Secure and set even when the hop from the proxy is plain http.
 */
const assumeSsl: RequestHandler = (req, _res, next) => {
  Object.defineProperty(req, 'secure', { value: true, configurable: true });
  next();
};

/** Dynamic answers carry session-bound data and CSRF tokens: never stored by any cache. */
const noStore: RequestHandler = (_req, res, next) => {
  res.set('Cache-Control', 'no-store');
  next();
};

export function createApp({ config, pool, logger, sessionSecrets, csrfSecret, signingKey, mailer }: AppDeps): Application {
  const cookieName = sessionCookieName(config.https);
  const store = new SessionStore(pool, config.sessionIdleMs, (...args) => logger.warn({ detail: args.map(String).join(' ') }, 'session store'));
  const sessionMiddleware = createSessionMiddleware({ store, secrets: sessionSecrets, https: config.https, idleMs: config.sessionIdleMs });
  const ending = new SessionEnding(pool, config.sessionIdleMs);
  const records = new SessionRecords(pool, config.sessionIdleMs);
  const events = new SecurityEvents(pool);
  const users = new UserStore(pool);
  const hasher = new PasswordHasher(config.bcryptCost, config.passwordPepper);
  const throttle = new LoginThrottle(pool, { maxFailures: config.loginMaxFailures, ipDailyFailures: config.loginIpDailyFailures });
  const passport = createPassport({ users, hasher, passwordMaxAgeDays: config.passwordMaxAgeDays });
  const csrf = createCsrf({ secret: csrfSecret, appOrigin: config.appOrigin, https: config.https, exemptPrefix: '/api/auth/' });
  const assetCookies = config.cloudFront && new SignedAssetCookies(config.cloudFront, config.https);
  const auth = new Authentication({ passport, csrf, ending, records, cookieName, https: config.https, absoluteMs: config.sessionAbsoluteMs, assetCookies });
  const registration = new RegistrationController({
    auth, users, hasher, pool, throttle, events, logger,
    requireConfirmation: config.requireEmailConfirmation,
    confirmations: new EmailConfirmations(pool, createHmac('sha256', csrfSecret).update('email-confirmation-codes').digest('hex')),
    mailer: mailer ?? createMailer({ smtpUrl: config.smtpUrl, from: config.mailFrom, dataDir: config.dataDir, logger }),
  });
  const attempts = new SignInAttempts({ auth, throttle, users, events });
  const accessTokens = new AccessTokens(signingKey, config.appOrigin);
  const refreshTokens = new RefreshTokens(pool, config.refreshTokenMs);
  const tokens = new TokenController({ attempts, access: accessTokens, refresh: refreshTokens, users, records, events, https: config.https, refreshMs: config.refreshTokenMs });
  const login = new LoginController({ auth, attempts });
  const logout = new LogoutController({ auth, ending, refreshTokens });
  const password = new PasswordController({
    auth, users, hasher, ending, throttle, events,
    onPasswordChanged: async (userId) => void (await refreshTokens.revokeAllForUser(userId, 'password_changed')),
  });
  const accountSessions = new AccountSessionsController({ auth, records, ending });
  const chat = new ChatController(new ChatMessages(pool));
  const admin = new AdminController({ ending, users, throttle, events });
  const { requireUser } = auth;
  const requireAdmin = auth.requireRole('admin');

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.set('views', VIEWS_DIR);
  app.set('view engine', 'ejs');

  if (config.https) app.use(assumeSsl);
  app.use(securityHeaders({ https: config.https }));
  app.use(requestLogger(logger));
  // Static files and the health check come before the session: they never create or read one.
  app.use('/public', express.static(PUBLIC_DIR, { index: false, maxAge: '1h', fallthrough: true }));
  app.get('/health', healthCheck(pool));
  app.get('/.well-known/jwks.json', (_req, res) => void res.set('Cache-Control', 'public, max-age=300').json({ keys: [signingKey.publicJwk] }));

  app.use(noStore);
  app.use(cookieParser());
  app.use(pageLocals(csrf));
  app.use(express.json({ limit: '100kb' }));
  app.use(express.urlencoded({ extended: false, limit: '100kb', parameterLimit: 100 }));
  // The token API needs no session: it is mounted before the session is even read.
  app.use('/api/auth', apiAuthGuard(config.appOrigin));
  app.post('/api/auth/login', tokens.login);
  app.post('/api/auth/refresh-tokens', tokens.refreshTokens);
  app.post('/api/auth/logout', tokens.logout);
  app.get('/api/me', tokens.requireBearer, tokens.me);
  app.use(sessionMiddleware);
  app.use(passport.initialize());
  app.use(passport.session());
  app.use(enforceSessionLifetime({ ending, cookieName, https: config.https }));
  app.use(csrf.protect);
  app.use(auth.restrictExpiredPassword);

  app.get('/', showHome);
  app.get('/csrf-token', (req, res) => void res.json({ csrfToken: csrf.token(req, res) }));
  app.get('/register', registration.show);
  app.post('/register', registration.submit);
  app.get('/register/confirm', registration.showConfirm);
  app.post('/register/confirm', registration.confirm);
  app.get('/login', login.show);
  app.post('/login', login.submit);
  app.post('/logout', logout.submit);
  app.get('/chat', requireUser, chat.show);
  app.get('/account/password', requireUser, password.show);
  app.post('/account/password', requireUser, password.submit);
  app.get('/account/sessions', requireUser, accountSessions.list);
  app.post('/account/sessions/:handle/revoke', requireUser, accountSessions.revoke);
  app.get('/admin', requireAdmin, admin.show);
  app.post('/admin/users/:id/unlock', requireAdmin, admin.unlock);
  app.post('/admin/users/:id/expire-password', requireAdmin, admin.expirePassword);

  app.use(notFound);
  app.use(errorHandler(logger));

  return { app, sessionMiddleware, passport, ending, sessionStore: store, accessTokens, refreshTokens, users };
}
