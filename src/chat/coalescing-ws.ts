import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';

/**
 * The WebSocket server under Socket.IO (its `wsEngine` option): ws's own, except that each
 * connection writes what it sends in one turn of the event loop as one system call. ws writes each
 * frame on its own, and a crowd connecting sends every socket a `presence:join` per user that
 * arrives: on a small host those writes were the dearest part of a handshake. The first write of a
 * turn corks the connection and the end of the turn (process.nextTick) uncorks it; nothing waits
 * longer than the work already under way in that turn.
 */
export class CoalescingWebSocketServer extends WebSocketServer {
  override handleUpgrade(request: IncomingMessage, socket: Duplex, upgradeHead: Buffer, callback: Parameters<WebSocketServer['handleUpgrade']>[3]): void {
    writeByTurn(socket);
    super.handleUpgrade(request, socket, upgradeHead, callback);
  }
}

function writeByTurn(socket: Duplex): void {
  const write = socket.write;
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  socket.write = function (this: Duplex, ...args: Parameters<Duplex['write']>) {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    return write.apply(this, args);
  } as Duplex['write'];
}
