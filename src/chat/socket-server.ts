import type http from 'node:http';
import { Server } from 'socket.io';
import { describeDbError, type Pool } from '../db/pool.js';
import type { Logger } from '../logger.js';
import { ChatMessages } from './chat-messages.sql.js';
import { ChatPresence } from './chat-presence.sql.js';
import { CHAT_ROOM, familyRoom, handleChat, sessionRoom, userRoom } from './chat-handlers.js';
import type { ChatUser, ClientToServerEvents, InterServerEvents, ServerToClientEvents, SocketData } from './events.js';
import { authenticateSockets, type HandshakeInputs } from './socket-auth.js';
import { CoalescingWebSocketServer } from './coalescing-ws.js';

type ChatServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

/** The lifecycle's announcement, as the socket layer hears it. */
export interface SignInAnnouncements {
  onChanged(listener: (change: { kind: 'ended' | 'restricted' | 'roles_changed'; userId: number; sids: string[]; families: string[] }) => void): void;
}

export interface SocketLayer {
  io: ChatServer;
  /** Closes every socket with a transport close (clients reconnect by themselves) and the HTTP server. */
  close(): Promise<void>;
}

/** How long an end is remembered, for a socket whose connect raced it. */
const RECENT_END_MS = 60_000;

/**
 * The chat on the app's own HTTP server. It gets narrow inputs: the handshake (the shared session
 * middleware, the token check, the sign-in side of sockets), the lifecycle's announcement, the
 * origin, a pool for chat's own tables and a logger. Whatever ended a sign-in, its sockets go, on
 * every process (the adapter carries the disconnect).
 */
export function createSocketLayer(deps: {
  httpServer: http.Server;
  handshake: HandshakeInputs;
  announcements: SignInAnnouncements;
  origin: string;
  /** Sets the security headers on a raw response (for /socket.io/ responses, which bypass Express). */
  securityHeaders: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  pool: Pool;
  logger: Logger;
  adapter?: Parameters<ChatServer['adapter']>[0];
  reconcileIntervalMs?: number;
}): SocketLayer {
  const { logger, origin } = deps;
  const messages = new ChatMessages(deps.pool);
  const presence = new ChatPresence(deps.pool);

  const io: ChatServer = new Server(deps.httpServer, {
    path: '/socket.io',
    serveClient: true,
    // WebSockets are not subject to CORS: check the Origin on every transport. Browsers omit it on
    // same-origin polling GETs, so only a present, foreign Origin is refused.
    allowRequest: (req, callback) => callback(null, req.headers.origin === undefined || req.headers.origin === origin),
    // ws, with each connection's frames of one turn written together (src/chat/coalescing-ws.ts).
    wsEngine: CoalescingWebSocketServer,
  });
  if (deps.adapter) io.adapter(deps.adapter);
  // Socket.IO answers /socket.io/ before Express sees it: the same headers as every other response.
  deps.httpServer.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url?.startsWith('/socket.io/')) deps.securityHeaders(req, res);
  });

  authenticateSockets(io, deps.handshake, logger);

  const pending = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>) => {
    pending.add(p);
    void p.finally(() => pending.delete(p)).catch(() => {});
    return p;
  };

  const recentlyEnded = new Map<string, number>();
  const remember = (keys: string[]) => {
    const now = Date.now();
    for (const [k, at] of recentlyEnded) if (at < now - RECENT_END_MS) recentlyEnded.delete(k);
    for (const k of keys) recentlyEnded.set(k, now);
  };
  deps.announcements.onChanged((change) => {
    if (change.kind === 'restricted') {
      // An expired password restricts every way the user is signed in: all their sockets go.
      void io.in(userRoom(change.userId)).disconnectSockets(true);
      return;
    }
    if (change.kind !== 'ended') return;
    const rooms = [...change.sids.map(sessionRoom), ...change.families.map(familyRoom)];
    remember(rooms);
    if (rooms.length) void io.in(rooms).disconnectSockets(true);
  });

  handleChat({
    io,
    messages,
    presence,
    signIns: deps.handshake.signIns,
    ended: (data) => recentlyEnded.has(data.sid ? sessionRoom(data.sid) : familyRoom(data.familyId!)),
    logger,
    clustered: deps.adapter !== undefined,
    track,
  });

  // A process that crashed left socket ids behind: drop the ones no process holds.
  const reconcile = setInterval(async () => {
    try {
      const [onSignIns, inChat] = await Promise.all([deps.handshake.signIns.recordedSocketIds(), presence.recordedSocketIds()]);
      if (!onSignIns.length && !inChat.length) return;
      const live = new Set((await io.fetchSockets()).map((s) => s.id));
      await deps.handshake.signIns.forgetSockets(onSignIns.filter((id) => !live.has(id)));
      const gone: ChatUser[] = await presence.forget(inChat.filter((id) => !live.has(id)));
      for (const user of gone) io.to(CHAT_ROOM).emit('presence:leave', { user });
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
