import type { RequestHandler } from 'express';
import type { Logger } from '../logger.js';

/** One line per request: method, path (never the query string, which may carry tokens), status, time. */
export function requestLogger(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      logger.info({ method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 10) / 10, userId: req.user?.id }, 'request');
    });
    next();
  };
}
