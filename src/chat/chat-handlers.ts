import type { Server, Socket } from 'socket.io';
import { sharedRead } from '../db/batcher.js';
import { describeDbError, isDatabaseUnavailable } from '../db/pool.js';
import type { Logger } from '../logger.js';
import type { ChatMessages } from './chat-messages.sql.js';
import type { ChatPresence } from './chat-presence.sql.js';
import { HISTORY_SIZE, messageText, RATE_LIMIT, RATE_WINDOW_MS } from './chat-rules.js';
import type { ClientToServerEvents, InterServerEvents, SendAck, ServerToClientEvents, SocketData } from './events.js';
import { announceLeave, announcePresence, crowdWelcome } from './crowd-welcome.js';
import { EventRate, SendWindow } from './send-gate.js';
import { ownerOf, type SocketSignIns } from './socket-auth.js';

type ChatServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
type ChatSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

/** A socket sending more than this many events a second is a flood: it is disconnected. */
export const MAX_EVENTS_PER_SECOND = 100;

/** Sockets join this room once set up: only they get messages and presence changes. */
export const CHAT_ROOM = 'chat';
export const sessionRoom = (sid: string) => `session:${sid}`;
export const familyRoom = (familyId: string) => `family:${familyId}`;
export const userRoom = (id: number) => `user:${id}`;

/**
 * The chat itself, for sockets that passed the handshake: history and presence on connect, then
 * chat:send and presence changes. Each socket joins its sign-in's rooms before anything else, so an
 * end announced from then on reaches it; `ended(socket)` covers one announced just before.
 */
export function handleChat(deps: {
  io: ChatServer;
  messages: ChatMessages;
  presence: ChatPresence;
  signIns: SocketSignIns;
  ended: (data: SocketData) => boolean;
  logger: Logger;
  /** Whether other app processes may exist (an adapter carries messages between them). */
  clustered: boolean;
  /** Work under way, so closing can wait for it before the pool goes. */
  track: <T>(p: Promise<T>) => Promise<T>;
}): void {
  const { io, messages, presence, signIns, logger, track } = deps;
  const window = new SendWindow(RATE_LIMIT, RATE_WINDOW_MS);
  // A crowd connecting at once shares one read of each (every answer is fresher than its question).
  const latestHistory = sharedRead(() => messages.latest(HISTORY_SIZE));
  const everyoneOnline = sharedRead(() => presence.online());
  // History, presence, then the room: a crowd's history and list are encoded once.
  const welcome = crowdWelcome(io, CHAT_ROOM, deps.clustered);
  announcePresence(io, CHAT_ROOM);

  io.on('connection', (socket: ChatSocket) => {
    const { user, sid, familyId, tokenExpiresAt } = socket.data;
    void socket.join([sid ? sessionRoom(sid) : familyRoom(familyId!), userRoom(user.id)]);
    if (deps.ended(socket.data)) {
      socket.disconnect(true);
      return;
    }
    // A token socket lives no longer than its token; the client reconnects with a fresh one.
    const expiry = tokenExpiresAt === undefined ? undefined : setTimeout(() => socket.disconnect(true), Math.max(0, tokenExpiresAt - Date.now()));
    expiry?.unref();

    const rate = new EventRate(MAX_EVENTS_PER_SECOND);
    socket.use((_packet, next) => {
      if (rate.over()) {
        logger.warn({ userId: user.id }, 'socket flooding events; disconnected');
        socket.disconnect(true);
        return;
      }
      next();
    });

    const added = track(
      (async () => {
        const joined = await presence.add(user.id, socket.id);
        const [history, online] = await Promise.all([latestHistory(), everyoneOnline()]);
        if (!socket.connected) return;
        await welcome({ socket, user, joined, history, online });
      })(),
    ).catch((err) => {
      // A transport close, not a server disconnect: the client comes back by itself.
      logger.warn({ err: describeDbError(err), userId: user.id }, 'socket set-up failed; closing the transport so the client retries');
      socket.conn.close();
    });

    socket.on('chat:send', (payload, ack) => {
      void send(socket, payload).then((reply) => {
        if (typeof ack === 'function') ack(reply);
        // A socket whose sign-in ended is told why, then closed.
        if (!reply.ok && reply.error.code === 'unauthorized') socket.disconnect(true);
      });
    });

    socket.on('disconnect', () => {
      if (expiry) clearTimeout(expiry);
      void track(
        (async () => {
          await added;
          await signIns.detach(ownerOf(socket.data), socket.id);
          if (await presence.remove(user.id, socket.id)) announceLeave(io, CHAT_ROOM, user, deps.clustered);
        })(),
      ).catch((err) => logger.warn({ err: describeDbError(err), userId: user.id }, 'presence update on disconnect failed'));
    });
  });

  async function send(socket: ChatSocket, payload: unknown): Promise<SendAck> {
    const text = messageText(payload);
    if (text === undefined) return { ok: false, error: { code: 'invalid_input' } };
    const { user, absoluteExpiresAt, tokenExpiresAt } = socket.data;
    if (tokenExpiresAt !== undefined && tokenExpiresAt <= Date.now()) return { ok: false, error: { code: 'unauthorized' } };
    // Over the limit in this process: answered from memory, with no database work.
    if (!window.tryTake(user.id)) return { ok: false, error: { code: 'rate_limited' } };
    try {
      // A socket event is activity: it keeps the session alive, and a sign-in that ended refuses it.
      if (!(await signIns.keepAlive(ownerOf(socket.data), absoluteExpiresAt))) return { ok: false, error: { code: 'unauthorized' } };
      const message = await messages.addWithinLimit(user, text, RATE_LIMIT, RATE_WINDOW_MS);
      if (!message) return { ok: false, error: { code: 'rate_limited' } };
      io.to(CHAT_ROOM).emit('chat:message', message);
      return { ok: true, message };
    } catch (err) {
      if (!isDatabaseUnavailable(err)) logger.error({ err: describeDbError(err), userId: user.id }, 'chat:send failed');
      return { ok: false, error: { code: 'unavailable' } };
    }
  }
}
