import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { registeredScript } from './support/client.js';
import { connected, send } from './support/sockets.js';
import { startTestApp, type TestApp } from './support/test-app.js';

/**
 * SESSION_IDLE_MINUTES=1, in real time (about two minutes; it runs beside the other files): a session
 * used more often than the idle limit is never ended for idleness, by requests or by socket events.
 */
let app: TestApp;
before(async () => (app = await startTestApp({ env: { SESSION_IDLE_MINUTES: '1' } })));
after(() => app.close());

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('SESSION_IDLE_MINUTES=1', () => {
  test('a request every 20 s keeps the session for two minutes, and one socket event every 20 s keeps another', async () => {
    const byRequests = await registeredScript(app.url);
    const bySocket = await registeredScript(app.url);
    const { socket } = await connected(app.url, bySocket.client);
    try {
      for (let i = 0; i < 6; i++) {
        await pause(20_000);
        await app.application.signIns.endExpired(); // the sweeper, now rather than every 15 s
        assert.ok((await byRequests.client.get('/')).json.user, `still signed in after ${(i + 1) * 20} s of requests`);
        const reply = await send(socket, { text: `still here ${i}` });
        assert.equal(reply.ok, true, `socket event ${i + 1} accepted`);
      }
      assert.ok(socket.connected);
    } finally {
      socket.disconnect();
    }
  });
});
