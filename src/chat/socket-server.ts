import type http from 'node:http';
import type { Request, RequestHandler } from 'express';
import { Server, type Socket } from 'socket.io';
import type { Application } from '../app.js';
import type { Config } from '../config.js';
import { describeDbError, isDatabaseUnavailable, type Pool } from '../db/pool.js';
import type { Logger } from '../logger.js';
import { ChatMessages } from './chat-messages.sql.js';
import { HISTORY_SIZE, messageText, RATE_LIMIT, RATE_WINDOW_MS } from './chat-rules.js';
import type { ChatUser, ClientToServerEvents, InterServerEvents, SendAck, ServerToClientEvents, SocketData } from './events.js';
import { SocketPresence, type SocketOwner } from './socket-presence.sql.js';

type ChatServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
type ChatSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export interface SocketLayer {
  io: ChatServer;
  /** Closes every socket with a transport close (clients reconnect by themselves) and the HTTP server. */
  close(): Promise<void>;
}

/** Express middleware runs on the engine's handshake request only, not on every polling request. */
function onlyForHandshake(middleware: RequestHandler): RequestHandler {
  return (req, res, next) => {
    const isHandshake = (req as unknown as { _query: Record<string, string> })._query.sid === undefined;
    if (isHandshake) middleware(req, res, next);
    else next();
  };
}

const sessionRoom = (sid: string) => `session:${sid}`;
const familyRoom = (familyId: string) => `family:${familyId}`;
const userRoom = (id: number) => `user:${id}`;
const ownerOf = (data: SocketData): SocketOwner => (data.sid ? { sid: data.sid } : { familyId: data.familyId! });

/**
 * The chat on the app's own HTTP server. The handshake goes through the very same session
 * middleware and Passport as Express, so socket.request.user is the req.user of that session.
 * Ending a session anywhere (SessionEnding's announcement) disconnects its sockets on every process,
 * through the adapter.
 */
export function createSocketLayer(deps: {
  httpServer: http.Server;
  application: Application;
  pool: Pool;
  config: Config;
  logger: Logger;
  adapter?: Parameters<ChatServer['adapter']>[0];
  reconcileIntervalMs?: number;
}): SocketLayer {
  const { application, config, logger } = deps;
  const messages = new ChatMessages(deps.pool);
  const presence = new SocketPresence(deps.pool);

  const io: ChatServer = new Server(deps.httpServer, {
    path: '/socket.io',
    serveClient: true,
    // WebSockets are not subject to CORS: check the Origin on every transport. Browsers omit it on
    // same-origin polling GETs, so only a present, foreign Origin is refused.
    allowRequest: (req, callback) => {
      const origin = req.headers.origin;
      callback(null, origin === undefined || origin === config.appOrigin);
    },
  });
  if (deps.adapter) io.adapter(deps.adapter);

  io.engine.use(onlyForHandshake(application.sessionMiddleware));
  io.engine.use(onlyForHandshake(application.passport.initialize()));
  io.engine.use(onlyForHandshake(application.passport.session()));

  io.use((socket, next) => {
    const req = socket.request as Request;
    if (req.user && req.session) {
      // A session restricted to changing an expired password gets no socket.
      if (req.session.passwordExpired) return next(new Error('unauthorized'));
      const { id, login, name } = req.user;
      socket.data = { user: { id, login, name }, sid: req.sessionID, absoluteExpiresAt: req.session.absoluteExpiresAt };
      return next();
    }
    // Non-browser clients: an access token in the handshake instead of a cookie.
    const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
    if (token === undefined) return next(new Error('unauthorized'));
    void (async () => {
      const claims = await application.accessTokens.verify(token);
      const [found, live] = await Promise.all([application.users.findById(claims.userId), application.refreshTokens.isFamilyLive(claims.familyId)]);
      if (!found || !live || found.passwordExpired) throw new Error('unauthorized');
      const { id, login, name } = found.user;
      socket.data = { user: { id, login, name }, familyId: claims.familyId, absoluteExpiresAt: undefined };
    })().then(
      () => next(),
      (err) => next(new Error(isDatabaseUnavailable(err) ? 'unavailable' : 'unauthorized')),
    );
  });

  // Presence writes still running, so close() can wait for them before the pool goes.
  const pending = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>) => {
    pending.add(p);
    void p.finally(() => pending.delete(p)).catch(() => {});
    return p;
  };

  io.on('connection', (socket: ChatSocket) => {
    const { user, sid, familyId } = socket.data;
    void socket.join([sid ? sessionRoom(sid) : familyRoom(familyId!), userRoom(user.id)]);

    const added = track(
      (async () => {
        const joined = await presence.add(user.id, ownerOf(socket.data), socket.id);
        const [history, online] = await Promise.all([messages.latest(HISTORY_SIZE), presence.online()]);
        socket.emit('chat:history', history);
        socket.emit('presence', { users: online });
        if (joined) socket.broadcast.emit('presence:join', { user });
      })(),
    ).catch((err) => {
      logger.warn({ err: describeDbError(err), userId: user.id }, 'socket set-up failed; closing it so the client retries');
      socket.disconnect(true);
    });

    socket.on('chat:send', (payload, ack) => {
      void send(socket, payload).then((reply) => {
        if (typeof ack === 'function') ack(reply);
        // A socket whose session ended is told why, then closed.
        if (!reply.ok && reply.error.code === 'unauthorized') socket.disconnect(true);
      });
    });

    socket.on('disconnect', () => {
      void track(
        (async () => {
          await added;
          if (await presence.remove(user.id, ownerOf(socket.data), socket.id)) io.emit('presence:leave', { user });
        })(),
      ).catch((err) => logger.warn({ err: describeDbError(err), userId: user.id }, 'presence update on disconnect failed'));
    });
  });

  async function send(socket: ChatSocket, payload: unknown): Promise<SendAck> {
    const text = messageText(payload);
    if (text === undefined) return { ok: false, error: { code: 'invalid_input' } };
    const { user, sid, familyId, absoluteExpiresAt } = socket.data;
    try {
      // A socket event is activity: it keeps the session alive, and a session that ended refuses it.
      const live = sid ? await application.sessionStore.keepAlive(sid, absoluteExpiresAt) : await application.refreshTokens.isFamilyLive(familyId!);
      if (!live) return { ok: false, error: { code: 'unauthorized' } };
      const message = await messages.addWithinLimit(user, text, RATE_LIMIT, RATE_WINDOW_MS);
      if (!message) return { ok: false, error: { code: 'rate_limited' } };
      io.emit('chat:message', message);
      return { ok: true, message };
    } catch (err) {
      if (!isDatabaseUnavailable(err)) logger.error({ err, userId: user.id }, 'chat:send failed');
      return { ok: false, error: { code: 'unavailable' } };
    }
  }

  // The one seam between sessions and sockets: whatever ended a session, its sockets go, everywhere.
  application.ending.onEnded(({ sids }) => io.in(sids.map(sessionRoom)).disconnectSockets(true));
  // An expired password restricts every way the user is signed in: all their sockets go.
  application.ending.onRestricted(({ userId }) => io.in(userRoom(userId)).disconnectSockets(true));
  application.refreshTokens.onRevoked(({ familyIds }) => io.in(familyIds.map(familyRoom)).disconnectSockets(true));

  // A process that crashed left its socket ids on session rows: drop the ones no process holds.
  const reconcile = setInterval(async () => {
    try {
      const recorded = await presence.recordedSocketIds();
      if (!recorded.length) return;
      const live = new Set((await io.fetchSockets()).map((s) => s.id));
      const gone: ChatUser[] = await presence.forget(recorded.filter((id) => !live.has(id)));
      for (const user of gone) io.emit('presence:leave', { user });
    } catch (err) {
      logger.debug({ err: describeDbError(err) }, 'presence reconciliation skipped');
    }
  }, deps.reconcileIntervalMs ?? 60_000);
  reconcile.unref();

  return {
    io,
    async close() {
      clearInterval(reconcile);
      await new Promise<void>((resolve) => io.close(() => resolve()));
      await Promise.allSettled([...pending]);
    },
  };
}
