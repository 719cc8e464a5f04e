import type { Server, Socket } from 'socket.io';
import type { ChatUser, ClientToServerEvents, InterServerEvents, Message, ServerToClientEvents, SocketData } from './events.js';

type ChatServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
type ChatSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

/** A socket set up and ready for the chat: what it read, and whether it is its user's first socket. */
export interface Arrival {
  socket: ChatSocket;
  user: ChatUser;
  joined: boolean;
  history: Message[];
  online: ChatUser[];
}

/**
 * What a set-up socket gets, in this order: `chat:history`, `presence`, then the chat room, and
 * everyone else's `presence:join` when it is its user's first socket.
 *
 * Sockets set up in the same turn of the event loop (a crowd: the presence batch and the shared reads
 * resolve them together) get the history and the list as one local broadcast to their ids. Socket.IO
 * encodes a broadcast (and its WebSocket frame) once; an emit to each socket encoded the 50 messages
 * and the whole list again for every one of them. Each socket still gets its own copy before it
 * joins the room, as before. The joins of a crowd reach each socket in one turn, so they leave in
 * one or two writes rather than one each (src/chat/coalescing-ws.ts). Resolves once the socket is welcomed (or gone); rejects for the whole crowd if that failed.
 */
export function crowdWelcome(io: ChatServer, room: string, clustered: boolean): (arrival: Arrival) => Promise<void> {
  let crowd: { arrivals: Arrival[]; done: Promise<void> } | undefined;

  const welcome = (arrivals: Arrival[]) => {
    const present = arrivals.filter((a) => a.socket.connected);
    // The reads are shared within a turn, so nearly always one history and one list for all.
    for (const group of groupBy(present, (a) => a.history)) {
      io.local.to(group.map((a) => a.socket.id)).emit('chat:history', group[0]!.history);
    }
    for (const group of groupBy(present, (a) => a.online)) {
      io.local.to(group.map((a) => a.socket.id)).emit('presence', { users: group[0]!.online });
    }
    const joiners: ChatUser[] = [];
    for (const { socket, user, joined } of present) {
      void socket.join(room);
      if (!joined) continue;
      // This process's sockets hear of the crowd's users in this one turn (their frames are written
      // together); the other processes get the list in one message and do the same (announcePresence).
      io.local.to(room).except(socket.id).emit('presence:join', { user });
      joiners.push(user);
    }
    if (joiners.length && clustered) io.serverSideEmit('presence:joined', joiners);
  };

  return (arrival) => {
    if (!crowd) {
      const arrivals: Arrival[] = [];
      // After the microtasks of this turn: every socket that resolved in it is in the crowd.
      const done = new Promise<void>((resolve, reject) =>
        process.nextTick(() => {
          crowd = undefined;
          try {
            welcome(arrivals);
            resolve();
          } catch (err) {
            reject(err);
          }
        }),
      );
      crowd = { arrivals, done };
    }
    crowd.arrivals.push(arrival);
    return crowd.done;
  };
}

/** Items grouped by the identity of `key(item)`, in first-seen order. */
function groupBy<T>(items: T[], key: (item: T) => unknown): T[][] {
  const groups = new Map<unknown, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return [...groups.values()];
}

/**
 * Presence changes announced by the other processes, handed to this process's sockets in the chat
 * room (a crowd's changes in one turn); a change made here was handed to them already.
 */
export function announcePresence(io: ChatServer, room: string): void {
  io.on('presence:joined', (users) => {
    for (const user of users) io.local.to(room).emit('presence:join', { user });
  });
  io.on('presence:left', (users) => {
    for (const user of users) io.local.to(room).emit('presence:leave', { user });
  });
}

/**
 * A user's last socket is gone: here at once, on the other processes through one message.
 * `clustered`: an adapter carries messages to other processes (without one there are none, and
 * Socket.IO's in-memory adapter only warns at a serverSideEmit).
 */
export function announceLeave(io: ChatServer, room: string, user: ChatUser, clustered: boolean): void {
  io.local.to(room).emit('presence:leave', { user });
  if (clustered) io.serverSideEmit('presence:left', [user]);
}
