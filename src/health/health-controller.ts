import type { RequestHandler } from 'express';
import type { Pool } from '../db/pool.js';

/** GET /health: mounted before the session middleware, so it never creates or reads a session. */
export function healthCheck(pool: Pool): RequestHandler {
  return async (_req, res) => {
    try {
      await pool.query('SELECT 1');
      res.json({ status: 'ok' });
    } catch {
      res.status(503).set('Retry-After', '5').json({ status: 'unavailable' });
    }
  };
}
