import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import express from 'express';
import { createAppServer } from '../src/http/app-server.js';

/**
 * The server's requests and responses are made with the app's own prototypes (src/http/app-server.ts),
 * so that Express's Object.setPrototypeOf on each of them is a no-op and V8 keeps their properties
 * fast. Whether that is faster is the benchmark's to say; here: they are born that way, and the app
 * behaves as on a plain server.
 */
test('requests and responses are born with the adopted app\'s prototypes, and the app answers as usual', async () => {
  const { server, adopt } = createAppServer();
  const app = express();
  const born: boolean[] = [];
  // A listener that runs before Express has touched the request.
  server.on('request', (req, res) => born.push(Object.getPrototypeOf(req) === app.request && Object.getPrototypeOf(res) === app.response));
  app.get('/hello', (req, res) => void res.status(201).json({ path: req.path, query: req.query, accepts: req.accepts(['json', 'html']) }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    server.on('request', app);
    const before = await fetch(`${url}/hello?x=1`);
    assert.equal(before.status, 201, 'before adopt: a plain server, Express sets the prototypes itself');
    adopt(app);
    const after = await fetch(`${url}/hello?x=1`, { headers: { accept: 'application/json' } });
    assert.equal(after.status, 201);
    assert.deepEqual(await after.json(), { path: '/hello', query: { x: '1' }, accepts: 'json' });
    assert.deepEqual(born, [false, true]);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
