import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Logger } from '../logger.js';
import { pathOf } from './negotiation.js';

/**
 * One line per request, when its answer is sent: method, path (never the query string, which may
 * carry tokens), status, time, and the user when signed in. For Express and for the pages answered
 * before it alike.
 */
export function logRequest(logger: Logger, req: IncomingMessage & { user?: { id: number } }, res: ServerResponse): void {
  const started = process.hrtime.bigint();
  res.on('finish', () => {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    logger.info({ method: req.method, path: pathOf(req), status: res.statusCode, ms: Math.round(ms * 10) / 10, userId: req.user?.id }, 'request');
  });
}

export function requestLogger(logger: Logger): RequestHandler {
  return (req, res, next) => {
    logRequest(logger, req, res);
    next();
  };
}
