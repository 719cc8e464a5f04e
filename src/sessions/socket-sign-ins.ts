import type { SocketOwner, SocketSignIns } from '../chat/socket-auth.js';
import type { RefreshTokens } from '../tokens/refresh-tokens.sql.js';
import type { AppSignInSockets } from './app-sign-in-sockets.sql.js';
import type { SessionStore } from './session-store.js';

/** The sign-in side of sockets: a browser session's row records its sockets; a token sign-in's are in app_sign_in_sockets. */
export function socketSignIns(deps: { sessions: SessionStore; appSockets: AppSignInSockets; refresh: RefreshTokens }): SocketSignIns {
  const { sessions, appSockets, refresh } = deps;
  return {
    attach: (owner: SocketOwner, socketId: string) =>
      'sid' in owner ? sessions.attachSocket(owner.sid, socketId) : appSockets.attach(owner.familyId, owner.userId, socketId),
    detach: (owner: SocketOwner, socketId: string) => ('sid' in owner ? sessions.detachSocket(owner.sid, socketId) : appSockets.detach(socketId)),
    keepAlive: (owner: SocketOwner, absoluteExpiresAt: number | undefined) =>
      'sid' in owner ? sessions.keepAlive(owner.sid, absoluteExpiresAt) : refresh.isFamilyLive(owner.familyId),
    recordedSocketIds: async () => (await Promise.all([sessions.recordedSocketIds(), appSockets.recordedSocketIds()])).flat(),
    forgetSockets: async (ids: string[]) => {
      await Promise.all([sessions.forgetSockets(ids), appSockets.forget(ids)]);
    },
  };
}
