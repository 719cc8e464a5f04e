import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { describeDbError, isDatabaseUnavailable } from '../db/pool.js';
import type { Logger } from '../logger.js';
import { AppError, NotFound, Unavailable } from './errors.js';
import { wantsJson } from './negotiation.js';

export const notFound: RequestHandler = (_req, _res, next) => next(new NotFound());

/** Maps anything thrown to the contract's status and code. Only known messages reach the client. */
function toAppError(err: unknown, logger: Logger, req: Request): AppError {
  if (err instanceof AppError) return err;
  if (isDatabaseUnavailable(err)) {
    logger.warn({ err: describeDbError(err), path: req.path }, 'database unavailable');
    return new Unavailable();
  }
  const e = err as { type?: string; status?: number; statusCode?: number };
  if (e?.type === 'entity.parse.failed') return new AppError(400, 'invalid_input', 'The request body is not valid JSON.');
  if (e?.type === 'entity.too.large') return new AppError(413, 'payload_too_large', 'The request body is too large.');
  const status = e?.status ?? e?.statusCode;
  // A request Express could not even route (a broken % escape in a path parameter) is bad input.
  if (status === 400) return new AppError(400, 'invalid_input', 'The request could not be understood.');
  if (typeof status === 'number' && status >= 400 && status < 500) return new AppError(status, 'bad_request', 'The request could not be understood.');
  logger.error({ err, method: req.method, path: req.path }, 'unexpected error');
  return new AppError(500, 'internal_error', 'Something went wrong on our side. Please try again.');
}

function send(req: Request, res: Response, error: AppError): void {
  if (error.headers) res.set(error.headers);
  res.status(error.status);
  if (wantsJson(req)) {
    res.json({ error: { code: error.code, message: error.message, ...(error.fields ? { fields: error.fields } : {}) } });
    return;
  }
  res.render('error', { status: error.status, message: error.message }, (renderErr: Error | null, html: string) => {
    if (renderErr) res.type('text/plain').send(error.message);
    else res.send(html);
  });
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const error = toAppError(err, logger, req);
    if (res.headersSent) {
      res.end();
      return;
    }
    send(req, res, error);
  };
}
