import { io as connect, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, Message, SendAck, ServerToClientEvents } from '../../src/chat/events.js';
import type { Client } from './client.js';

export type ChatClient = Socket<ServerToClientEvents, ClientToServerEvents>;

/** A real socket.io-client carrying the HTTP client's cookies, as a browser tab would. */
export function openSocket(base: string, from?: Client, options: { origin?: string; transports?: string[]; auth?: Record<string, string> } = {}): ChatClient {
  return connect(base, {
    path: '/socket.io',
    transports: options.transports ?? ['websocket'],
    reconnection: false,
    forceNew: true,
    extraHeaders: {
      ...(from?.cookies.size ? { cookie: from.cookieHeader() } : {}),
      origin: options.origin ?? base,
    },
    ...(options.auth ? { auth: options.auth } : {}),
  }) as ChatClient;
}

/** Resolves with the first emission of an event (rejects after a timeout). */
export function next<T = unknown>(socket: ChatClient, event: string, timeoutMs = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    (socket as unknown as { once(e: string, f: (v: T) => void): void }).once(event, (value: T) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** Connects and waits for the history and presence the server sends first. */
export async function connected(base: string, from: Client, options: { transports?: string[] } = {}) {
  const socket = openSocket(base, from, options);
  const history = next<Message[]>(socket, 'chat:history');
  const presence = next<{ users: { id: number }[] }>(socket, 'presence');
  await next(socket, 'connect');
  return { socket, history: await history, presence: await presence };
}

export function send(socket: ChatClient, payload: unknown, timeoutMs = 3000): Promise<SendAck> {
  return new Promise((resolve, reject) =>
    socket.timeout(timeoutMs).emit('chat:send', payload, (err: Error | null, reply: SendAck) => (err ? reject(new Error('no acknowledgement')) : resolve(reply))),
  );
}

/** Resolves with the disconnect reason (rejects if the socket stays connected). */
export function disconnected(socket: ChatClient, timeoutMs = 1000): Promise<string> {
  if (!socket.connected) return Promise.resolve('already disconnected');
  return next<string>(socket, 'disconnect', timeoutMs);
}

export const connectError = (socket: ChatClient) => next<Error>(socket, 'connect_error');
