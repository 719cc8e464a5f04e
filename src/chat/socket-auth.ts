import type { Request, RequestHandler } from 'express';
import type { SessionData } from 'express-session';
import type { Server, Socket } from 'socket.io';
import { describeDbError, isDatabaseUnavailable } from '../db/pool.js';
import type { Logger } from '../logger.js';
import type { SessionUser } from '../types.js';
import type { ClientToServerEvents, InterServerEvents, ServerToClientEvents, SocketData } from './events.js';

type ChatServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
type ChatSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

/** What holds a socket: a browser session (its row records the socket) or a token sign-in. */
export type SocketOwner = { sid: string } | { familyId: string; userId: number };

/** The sign-in side of sockets, as the socket layer needs it (the sessions feature implements it). */
export interface SocketSignIns {
  /** Records the socket on its live sign-in; false when the sign-in has ended. */
  attach(owner: SocketOwner, socketId: string): Promise<boolean>;
  detach(owner: SocketOwner, socketId: string): Promise<void>;
  /** Socket activity: keeps a browser session alive; false when the sign-in has ended. */
  keepAlive(owner: SocketOwner, absoluteExpiresAt: number | undefined): Promise<boolean>;
  recordedSocketIds(): Promise<string[]>;
  forgetSockets(socketIds: string[]): Promise<void>;
}

export interface HandshakeInputs {
  /** The very session middleware Express uses, then passport's initialize and session. */
  sessionMiddleware: RequestHandler[];
  /** A session that may only change its expired password gets no socket. */
  isRestricted(session: SessionData): boolean;
  /** The credential check for `auth.token`: throws when the token does not sign anyone in. */
  verifyToken(token: unknown): Promise<{ user: SessionUser; familyId: string; expiresAt: number }>;
  signIns: SocketSignIns;
}

export const ownerOf = (data: SocketData): SocketOwner => (data.sid ? { sid: data.sid } : { familyId: data.familyId!, userId: data.user.id });

/** Express middleware runs on the engine's handshake request only, not on every polling request. */
function onlyForHandshake(middleware: RequestHandler): RequestHandler {
  return (req, res, next) => {
    const isHandshake = (req as unknown as { _query: Record<string, string> })._query.sid === undefined;
    if (isHandshake) middleware(req, res, next);
    else next();
  };
}

/**
 * Handshake authentication: the engine's handshake runs the shared session middleware (a database
 * error there fails the transport, and the client retries by itself); at the Socket.IO connect the
 * socket is recorded on its sign-in, which also proves that sign-in still lives. No valid sign-in →
 * connect_error `unauthorized`; a database error → a transport close, never a refusal.
 */
export function authenticateSockets(io: ChatServer, inputs: HandshakeInputs, logger: Logger): void {
  for (const middleware of inputs.sessionMiddleware) io.engine.use(onlyForHandshake(middleware));

  io.use((socket: ChatSocket, next) => {
    void (async () => {
      const req = socket.request as Request;
      if (req.user && req.session) {
        if (inputs.isRestricted(req.session)) return false;
        const { id, login, name } = req.user;
        socket.data = { user: { id, login, name }, sid: req.sessionID, absoluteExpiresAt: req.session.absoluteExpiresAt };
      } else {
        // Non-browser clients: an access token in the handshake instead of a cookie.
        const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
        if (token === undefined) return false;
        let holder;
        try {
          holder = await inputs.verifyToken(token);
        } catch (err) {
          if (isDatabaseUnavailable(err)) throw err;
          return false;
        }
        const { id, login, name } = holder.user;
        socket.data = { user: { id, login, name }, familyId: holder.familyId, absoluteExpiresAt: undefined, tokenExpiresAt: holder.expiresAt };
      }
      // What the socket needs is in socket.data now: the handshake request (with its session object,
      // parsed cookies and the rest) is let go instead of living as long as the socket (Socket.IO's
      // own advice for memory; socket.handshake keeps the headers).
      (socket.conn as unknown as { request: unknown }).request = null;
      // A sign-in that ended between the engine handshake and this connect is refused here.
      return inputs.signIns.attach(ownerOf(socket.data), socket.id);
    })().then(
      (ok) => (ok ? next() : next(new Error('unauthorized'))),
      (err) => {
        logger.warn({ err: describeDbError(err) }, 'socket set-up failed; closing the transport so the client retries');
        socket.conn.close();
      },
    );
  });
}
