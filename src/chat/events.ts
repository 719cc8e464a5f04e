/** The Socket.IO event map, in one place: the server, the tests and the page script follow it. */

export interface ChatUser {
  id: number;
  login: string;
  name: string;
}

export interface Message {
  id: number;
  text: string;
  /** ISO 8601 */
  sentAt: string;
  /** The author, or {id: null, login: null, name: "Deleted user"} once their account is deleted. */
  user: ChatUser | { id: null; login: null; name: string };
}

export type SendErrorCode = 'invalid_input' | 'rate_limited' | 'unauthorized' | 'unavailable';

export type SendAck = { ok: true; message: Message } | { ok: false; error: { code: SendErrorCode } };

export interface ServerToClientEvents {
  'chat:history': (messages: Message[]) => void;
  'chat:message': (message: Message) => void;
  presence: (state: { users: ChatUser[] }) => void;
  'presence:join': (change: { user: ChatUser }) => void;
  'presence:leave': (change: { user: ChatUser }) => void;
}

export interface ClientToServerEvents {
  'chat:send': (payload: unknown, ack: (reply: SendAck) => void) => void;
}

/**
 * Between app processes (through the adapter): presence changes, which each process hands to its
 * own sockets in one turn of the event loop, so that a crowd's joins reach a socket together.
 */
export interface InterServerEvents {
  'presence:joined': (users: ChatUser[]) => void;
  'presence:left': (users: ChatUser[]) => void;
}

export interface SocketData {
  user: ChatUser;
  /** The browser session the socket shares (cookie handshake)... */
  sid?: string;
  /** ...or the token sign-in it belongs to (auth.token handshake). */
  familyId?: string;
  /** ms since epoch: the session's hard end. */
  absoluteExpiresAt: number | undefined;
  /** ms since epoch: the access token's exp (token sockets are closed then). */
  tokenExpiresAt?: number;
}
