import type http from 'node:http';
import { fileURLToPath } from 'node:url';
import cookieParser from 'cookie-parser';
import ejs from 'ejs';
import express, { type RequestHandler } from 'express';

import { showAccount } from './account/account-controller.js';
import { AccountDataController } from './account/account-data-controller.js';
import { EmailController } from './account/email-controller.js';
import { PasswordController } from './account/password-controller.js';
import { AccountSessionsController } from './account/sessions-controller.js';
import { AdminController } from './admin/admin-controller.js';
import { SignedAssetCookies } from './assets/cloudfront-cookies.js';
import { SecurityEvents } from './audit/security-events.sql.js';
import { AttemptGuard } from './auth/attempt-guard.js';
import { Authentication } from './auth/authentication.js';
import { CurrentPassword } from './auth/current-password.js';
import { DeviceCookie } from './auth/device-cookie.js';
import { EmailConfirmations } from './auth/email-confirmations.sql.js';
import { KnownDevices } from './auth/known-devices.sql.js';
import { BLANK_LOGIN, LoginController } from './auth/login-controller.js';
import { LogoutController } from './auth/logout-controller.js';
import { createPassport } from './auth/passport-setup.js';
import { PasswordHasher } from './auth/passwords.js';
import { RateCounters } from './auth/rate-counters.sql.js';
import { BLANK_REGISTER, RegistrationController } from './auth/registration-controller.js';
import { SignInAttempts } from './auth/sign-in.js';
import { UserStore } from './auth/users.sql.js';
import { ChatController } from './chat/chat-controller.js';
import { ChatMessages } from './chat/chat-messages.sql.js';
import type { HandshakeInputs } from './chat/socket-auth.js';
import type { SignInAnnouncements } from './chat/socket-server.js';
import type { Config } from './config.js';
import { describeDbError, type Pool } from './db/pool.js';
import { healthCheck } from './health/health-controller.js';
import { showHome } from './home/home-controller.js';
import { RoleStore } from './roles/roles.sql.js';
import { createCsrf, type Csrf } from './http/csrf.js';
import { errorHandler, notFound } from './http/error-handler.js';
import { LanguageController } from './i18n/language-controller.js';
import { anonymousPages } from './http/anonymous-pages.js';
import { pageLocals } from './http/page-locals.js';
import { plainCookies } from './http/plain-cookies.js';
import { logRequest, requestLogger } from './http/request-logger.js';
import { protectedByDefault } from './http/routes.js';
import { securityHeaders } from './http/security-headers.js';
import type { Logger } from './logger.js';
import { AccountMail } from './mail/account-mail.js';
import { MailQueue } from './mail/mail-queue.js';
import { createMailer, type Mailer } from './mail/mailer.js';
import { MailTemplates } from './mail/templates.js';
import { AccountLinks } from './recovery/account-links.sql.js';
import { NotMeController } from './recovery/not-me-controller.js';
import { BLANK_FORGOT, noReferrer, PasswordResetController } from './recovery/password-reset-controller.js';
import { SignInNotices } from './recovery/sign-in-notices.js';
import { PasskeySignInController } from './passkeys/passkey-sign-in-controller.js';
import { PasskeysController } from './passkeys/passkeys-controller.js';
import { PasskeyStore } from './passkeys/passkeys.sql.js';
import { WebAuthnChallenges } from './passkeys/webauthn-challenges.sql.js';
import { webauthn } from './passkeys/webauthn-response.js';
import { SecretBox } from './secrets/secret-box.js';
import { LoginTwoFactorController } from './two-factor/login-two-factor-controller.js';
import { PendingSignIns } from './two-factor/pending-sign-ins.sql.js';
import { SecondFactor } from './two-factor/second-factor.js';
import { TwoFactorController } from './two-factor/two-factor-controller.js';
import { TwoFactorStore } from './two-factor/two-factor.sql.js';
import { derivedKeys } from './secrets/derived-keys.js';
import { AppSignInSockets } from './sessions/app-sign-in-sockets.sql.js';
import { enforceSessionLifetime } from './sessions/session-lifetime.js';
import { SessionRecords } from './sessions/session-records.sql.js';
import { SignInBus } from './sessions/sign-in-bus.js';
import { createSessionMiddleware, sessionCookieName } from './sessions/session-middleware.js';
import { SessionStore } from './sessions/session-store.js';
import { SignIns } from './sessions/sign-ins.js';
import { socketSignIns } from './sessions/socket-sign-ins.js';
import { AccessTokens } from './tokens/access-tokens.js';
import { BearerCheck } from './tokens/bearer.js';
import { RefreshTokens } from './tokens/refresh-tokens.sql.js';
import type { SigningKey } from './tokens/signing-key.js';
import { apiAuthGuard, TokenController } from './tokens/token-controller.js';

const VIEWS_DIR = fileURLToPath(new URL('../views', import.meta.url));
const PUBLIC_DIR = fileURLToPath(new URL('../public', import.meta.url));
/** @simplewebauthn/browser's own bundle, served from this site (no CDN: the CSP allows only 'self'). */
const WEBAUTHN_BROWSER_BUNDLE = fileURLToPath(import.meta.resolve('@simplewebauthn/browser').replace(/esm\/index\.js$/, 'dist/bundle/index.umd.min.js'));

/**
 * The routes anyone may reach without signing in. Every other route wired below needs a signed-in
 * user (and answers 303 to /login or 401 unauthenticated), so a route added later is protected.
 */
export const PUBLIC_ROUTES = [
  'GET /',
  'GET /csrf-token',
  'GET /register',
  'POST /register',
  'GET /register/confirm',
  'POST /register/confirm',
  'POST /register/confirm/resend',
  'GET /login',
  'POST /login',
  'POST /logout',
  'GET /password/forgot',
  'POST /password/forgot',
  'GET /password/reset',
  'POST /password/reset',
  'GET /account/not-me',
  'POST /account/not-me',
  'GET /account/email/confirm',
  'POST /account/email/confirm',
  'GET /login/two-factor',
  'POST /login/two-factor',
  'POST /login/passkey/options',
  'POST /login/passkey',
  'POST /language',
] as const;

export interface AppDeps {
  config: Config;
  pool: Pool;
  logger: Logger;
  /** Newest first. Each derives its own CSRF and emailed-code keys. */
  sessionSecrets: string[];
  signingKey: SigningKey;
  /**
   * The database's URL, for the mail queue's worker and for the sign-in bus (LISTEN/NOTIFY) that lets
   * every process cache sessions when SESSION_CACHE is on.
   */
  databaseUrl: string;
  /** How the mail worker delivers: defaults to SMTP_URL or the DATA_DIR outbox. */
  mailer?: Mailer;
}

export interface Application {
  app: express.Express;
  /** The server's request listener: the kept anonymous pages answered at once, the rest by `app`. */
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** The sign-in lifecycle: every start and end of a sign-in, and its announcement. */
  signIns: SignIns;
  sessionStore: SessionStore;
  /** Stops what the app started on its own (the mail worker, the sign-in bus). */
  close(): Promise<void>;
  /** Resolves once this process has heard every session change committed so far (a change made by SQL). */
  sessionChangesHeard(): Promise<void>;
  /** Forgets stale failed-attempt and rate counters (the sweeper runs it hourly). */
  pruneCounters(): Promise<void>;
  /** What the socket layer gets: the handshake, the lifecycle's announcement, the headers. */
  socketInputs: {
    handshake: HandshakeInputs;
    announcements: SignInAnnouncements;
    securityHeaders: (req: http.IncomingMessage, res: http.ServerResponse) => void;
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
  res.setHeader('Cache-Control', 'no-store');
  next();
};

/**
 * A page read (GET/HEAD) without a session cookie cannot be signed in and will not start a session:
 * it skips express-session and Passport altogether (no session object, no id generated). Anything
 * else, or a request with the cookie, goes through them.
 */
function sessionIfNeeded(chain: RequestHandler[], cookieName: string): RequestHandler {
  const marker = `${cookieName}=`;
  return (req, res, next) => {
    const readOnly = req.method === 'GET' || req.method === 'HEAD';
    if (readOnly && !(req.headers.cookie ?? '').includes(marker)) return next();
    let i = 0;
    const step = (err?: unknown): void => {
      if (err || i === chain.length) return next(err);
      chain[i++]!(req, res, step);
    };
    step();
  };
}

export function createApp({ config, pool, logger, sessionSecrets, signingKey, mailer, databaseUrl }: AppDeps): Application {
  const cookieName = sessionCookieName(config.https);
  const sessionStore = new SessionStore(pool, config.sessionIdleMs, (...args) => logger.warn({ detail: args.map(String).join(' ') }, 'session store'));
  const sessions = createSessionMiddleware({ store: sessionStore, secrets: sessionSecrets, https: config.https, idleMs: config.sessionIdleMs });
  const events = new SecurityEvents(pool);
  const users = new UserStore(pool, config.passwordMaxAgeDays);
  const refresh = new RefreshTokens(pool, config.refreshTokenMs);
  const appSockets = new AppSignInSockets(pool);
  const bus =
    config.sessionCache &&
    new SignInBus({
      databaseUrl,
      logger,
      onMessage: ({ sids }) => sessionStore.forget(sids),
      onOutage: () => sessionStore.setCaching(false),
      onConnected: () => sessionStore.setCaching(true),
    });
  if (bus) void bus.start();
  const records = new SessionRecords(pool);
  const signIns = new SignIns({ pool, sessions: sessionStore, refresh, records, events, users, appSockets, idleMs: config.sessionIdleMs, settle: bus ? () => bus.settle() : undefined });
  const hasher = new PasswordHasher(config.bcryptCost, config.passwordPepper);
  const mailQueue = new MailQueue({ databaseUrl, pool, logger, transport: mailer ?? createMailer({ smtpUrl: config.smtpUrl, from: config.mailFrom, dataDir: config.dataDir, logger }) });
  const mailStarted = mailQueue.start().catch((err) => logger.error({ err: (err as Error).message }, 'the mail worker did not start; messages wait in the queue'));
  const mail = new AccountMail({ queue: mailQueue, templates: new MailTemplates(), users, appOrigin: config.appOrigin });
  const links = new AccountLinks(pool);
  const notices = new SignInNotices({ devices: new KnownDevices(), links, mail });
  const guard = new AttemptGuard(pool, { maxFailures: config.loginMaxFailures, ipDailyFailures: config.loginIpDailyFailures });
  const devices = new DeviceCookie(config.https);
  const rates = new RateCounters(pool);
  const passport = createPassport({ users, hasher, onRehashError: (err) => logger.warn({ err: describeDbError(err) }, 'rehashing a password failed') });
  const csrf = createCsrf({ secrets: derivedKeys(sessionSecrets, 'csrf-token-secret'), appOrigin: config.appOrigin, https: config.https, exemptPrefix: '/api/auth/' });
  const assetCookies = config.cloudFront && new SignedAssetCookies(config.cloudFront, config.https);
  const auth = new Authentication({
    passport, csrf, signIns, cookieName, https: config.https, absoluteMs: config.sessionAbsoluteMs, passwordMaxAgeDays: config.passwordMaxAgeDays, assetCookies: assetCookies || undefined,
  });
  const registration = new RegistrationController({
    auth, users, hasher, pool, guard, events, devices, rates, mail, notices,
    ipHourly: config.registerIpHourly,
    requireConfirmation: config.requireEmailConfirmation,
    confirmations: new EmailConfirmations(pool, derivedKeys(sessionSecrets, 'email-confirmation-codes'), config.confirmationCodeMinutes),
  });
  const secondFactor = new SecondFactor({
    pool, guard, events, store: new TwoFactorStore(pool), issuer: 'Parlour',
    // Its own key per SESSION_SECRET: kept secrets open under every secret still listed.
    box: new SecretBox(sessionSecrets, 'totp-secrets'),
  });
  const pendings = new PendingSignIns(pool);
  const passkeys = new PasskeyStore(pool);
  const challenges = new WebAuthnChallenges(pool);
  const attempts = new SignInAttempts({ auth, guard, users, events, secondFactor, pool });
  const loginTwoFactor = new LoginTwoFactorController({ auth, pendings, users, secondFactor, notices, devices, appOrigin: config.appOrigin, https: config.https });
  const accessTokens = new AccessTokens(signingKey, config.appOrigin, config.accessTokenSeconds);
  const bearer = new BearerCheck({ access: accessTokens, refresh, users });
  const tokens = new TokenController({ attempts, access: accessTokens, refresh, signIns, users, notices, https: config.https, refreshMs: config.refreshTokenMs });
  const login = new LoginController({ auth, attempts, devices, notices, beginSecondFactor: loginTwoFactor.begin, appOrigin: config.appOrigin });
  const logout = new LogoutController({ auth });
  const currentPassword = new CurrentPassword({ guard, users, hasher, events });
  const password = new PasswordController({ auth, users, hasher, currentPassword, signIns, mail });
  const reset = new PasswordResetController({ pool, auth, users, hasher, links, mail, rates, guard, signIns, events });
  const notMe = new NotMeController({ auth, links, users, signIns, reset });
  const email = new EmailController({ pool, users, currentPassword, links, mail, signIns, events });
  const accountSessions = new AccountSessionsController({ auth, signIns });
  const chatMessages = new ChatMessages(pool);
  const chat = new ChatController(chatMessages);
  const accountData = new AccountDataController({ auth, users, currentPassword, guard, signIns, records, events, messages: chatMessages, secondFactor, passkeys });
  const rp = { name: 'Parlour', id: new URL(config.appOrigin).hostname, origin: config.appOrigin };
  const accountPasskeys = new PasskeysController({ pool, passkeys, challenges, rp, events, mail });
  // Loaded soon after start rather than on the first /login (whose autofill asks for options at once).
  setTimeout(() => void webauthn().catch(() => {}), 1500).unref();
  const passkeySignIn = new PasskeySignInController({ auth, passkeys, challenges, rp, users, guard, notices, devices, events });
  const twoFactor = new TwoFactorController({ pool, secondFactor, currentPassword, mail, events });
  const language = new LanguageController({ users, appOrigin: config.appOrigin, https: config.https });
  const admin = new AdminController({ signIns, users, throttle: guard, events, pool, roles: new RoleStore(pool) });
  const requireAdmin = auth.requireRole('admin');
  const headers = securityHeaders({ https: config.https });
  const passportInit = passport.initialize();
  const passportSession = passport.session();

  const app = express();
  // For every page that speaks of the emailed code's lifetime (views/register-confirm.ejs).
  app.locals.codeMinutes = config.confirmationCodeMinutes;
  app.disable('x-powered-by');
  // Dynamic answers are no-store, so an ETag (a SHA-1 of every body) could never be revalidated.
  // Static files keep theirs (express.static has its own).
  app.set('etag', false);
  app.set('trust proxy', config.trustProxy);
  app.set('views', VIEWS_DIR);
  app.set('view engine', 'ejs');
  // Includes name their file from the views root (`/partials/head`): EJS then resolves them without a
  // filesystem check on every render. Templates are compiled once when Express caches views (production).
  app.engine('ejs', (file, data, done) => {
    ejs.renderFile(file, data as Record<string, unknown>, { root: VIEWS_DIR, views: [VIEWS_DIR], cache: app.enabled('view cache') }, done as (err: Error | null, html?: string) => void);
  });

  if (config.https) app.use(assumeSsl);
  app.use(headers);
  app.use(requestLogger(logger));
  // Static files and the health check come before the session: they never create or read one.
  app.use('/public', express.static(PUBLIC_DIR, { index: false, maxAge: '1h', fallthrough: true }));
  app.get('/public/vendor/simplewebauthn-browser.js', (_req, res) => res.sendFile(WEBAUTHN_BROWSER_BUNDLE, { maxAge: '1h' }));
  app.get('/health', healthCheck(pool));
  app.get('/.well-known/jwks.json', (_req, res) => void res.set('Cache-Control', 'public, max-age=300').json({ keys: [signingKey.publicJwk] }));

  app.use(noStore);
  app.use(cookieParser(), plainCookies);
  const firstPages = anonymousPages({
    pages: {
      '/': { view: 'home' },
      '/login': { view: 'login', locals: BLANK_LOGIN },
      '/register': { view: 'register', locals: BLANK_REGISTER },
      '/password/forgot': { view: 'password-forgot', locals: BLANK_FORGOT },
    },
    sessionCookie: cookieName,
    csrf,
    tokenPath: '/csrf-token',
    // What the middleware above gives every dynamic answer (assumeSsl changes nothing these pages say).
    everyResponse: (req, res) => {
      headers(req as express.Request, res as express.Response, () => {});
      logRequest(logger, req, res);
      res.setHeader('Cache-Control', 'no-store');
    },
  });
  app.use(firstPages.middleware);
  app.use(pageLocals(csrf));
  app.use(express.json({ limit: '100kb' }));
  app.use(express.urlencoded({ extended: false, limit: '100kb', parameterLimit: 100 }));
  // The token API needs no session: it is mounted before the session is even read.
  app.use('/api/auth', apiAuthGuard(config.appOrigin));
  app.post('/api/auth/login', tokens.login);
  app.post('/api/auth/refresh-tokens', tokens.refreshTokens);
  app.post('/api/auth/logout', tokens.logout);
  app.get('/api/me', bearer.requireBearer, tokens.me);
  app.use(sessionIfNeeded([sessions.renewRemembered, sessions.middleware, passportInit, passportSession], cookieName));
  app.use(enforceSessionLifetime({ signIns, cookieName, https: config.https }));
  app.use(csrf.protect);
  app.use(auth.restrictExpiredPassword);
  app.use(language.rememberLanguage);
  if (assetCookies) app.use(assetCookies.refresh(auth.isRestricted));

  const route = protectedByDefault(app, auth.requireUser, PUBLIC_ROUTES);
  route.get('/', showHome);
  route.get('/csrf-token', (req, res) => void res.json({ csrfToken: csrf.token(req, res) }));
  route.get('/register', registration.show);
  route.post('/register', registration.submit);
  route.get('/register/confirm', registration.showConfirm);
  route.post('/register/confirm', registration.confirm);
  route.post('/register/confirm/resend', registration.resend);
  route.get('/login', login.show);
  route.post('/login', login.submit);
  route.get('/login/two-factor', loginTwoFactor.show);
  route.post('/login/two-factor', loginTwoFactor.submit);
  route.post('/login/passkey/options', passkeySignIn.options);
  route.post('/login/passkey', passkeySignIn.submit);
  route.post('/logout', logout.submit);
  route.post('/language', language.submit);
  route.get('/password/forgot', reset.showForgot);
  route.post('/password/forgot', reset.forgot);
  route.get('/password/reset', noReferrer, reset.showReset);
  route.post('/password/reset', noReferrer, reset.reset);
  route.get('/account/not-me', noReferrer, notMe.show);
  route.post('/account/not-me', noReferrer, notMe.submit);
  route.get('/chat', chat.show);
  route.get('/account', showAccount);
  route.get('/account/two-factor', twoFactor.show);
  route.post('/account/two-factor/setup', twoFactor.setup);
  route.post('/account/two-factor/enable', twoFactor.enable);
  route.post('/account/two-factor/disable', twoFactor.disable);
  route.post('/account/two-factor/recovery-codes', twoFactor.regenerate);
  route.get('/account/passkeys', accountPasskeys.list);
  route.post('/account/passkeys/options', accountPasskeys.options);
  route.post('/account/passkeys', accountPasskeys.add);
  route.post('/account/passkeys/:id/rename', accountPasskeys.rename);
  route.post('/account/passkeys/:id/remove', accountPasskeys.remove);
  route.post('/account/email', email.request);
  route.get('/account/email/confirm', noReferrer, email.showConfirm);
  route.post('/account/email/confirm', noReferrer, email.confirm);
  route.get('/account/password', password.show);
  route.post('/account/password', password.submit);
  route.get('/account/sessions', accountSessions.list);
  route.post('/account/sessions/:handle/revoke', accountSessions.revoke);
  route.post('/account/delete', accountData.delete);
  route.get('/account/export', accountData.export);
  route.get('/admin', requireAdmin, admin.show);
  route.post('/admin/users/:id/unlock', requireAdmin, admin.unlock);
  route.post('/admin/users/:id/expire-password', requireAdmin, admin.expirePassword);
  route.post('/admin/users/:id/disable', requireAdmin, admin.disable);
  route.post('/admin/users/:id/enable', requireAdmin, admin.enable);
  route.post('/admin/users/:id/roles', requireAdmin, admin.grantRole);
  route.post('/admin/users/:id/roles/:role/revoke', requireAdmin, admin.revokeRole);
  route.verify();

  app.use(notFound);
  app.use(errorHandler(logger));

  return {
    app,
    handle(req, res) {
      if (!firstPages.answer(req, res)) app(req, res);
    },
    signIns,
    sessionStore,
    async close() {
      await mailStarted;
      await mailQueue.stop();
      if (bus) await bus.stop();
    },
    async sessionChangesHeard() {
      if (bus) await bus.heard();
    },
    async pruneCounters() {
      await Promise.all([guard.pruneStale(), rates.pruneStale(), links.pruneExpired(), pendings.pruneExpired(), challenges.pruneExpired()]);
    },
    socketInputs: {
      handshake: {
        sessionMiddleware: [sessions.middleware, passportInit, passportSession],
        isRestricted: auth.isRestricted,
        verifyToken: (token) => bearer.check(token),
        signIns: socketSignIns({ sessions: sessionStore, appSockets, refresh }),
      },
      announcements: signIns,
      securityHeaders: (req, res) => headers(req as express.Request, res as express.Response, () => {}),
    },
  };
}
