import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { describeDbError, isDatabaseUnavailable } from '../db/pool.js';
import type { Logger } from '../logger.js';
import { translator } from '../i18n/i18n.js';
import { languageOf, pageLanguage } from '../i18n/language.js';
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
  if (e?.type === 'entity.parse.failed') return new AppError(400, 'invalid_input', 'errors.invalid_json');
  if (e?.type === 'entity.too.large') return new AppError(413, 'payload_too_large', 'errors.payload_too_large');
  const status = e?.status ?? e?.statusCode;
  // A request Express could not even route (a broken % escape in a path parameter) is bad input.
  if (status === 400) return new AppError(400, 'invalid_input', 'errors.bad_request');
  if (typeof status === 'number' && status >= 400 && status < 500) return new AppError(status, 'bad_request', 'errors.bad_request');
  logger.error({ err, method: req.method, path: req.path }, 'unexpected error');
  return new AppError(500, 'internal_error', 'errors.internal_error');
}

/**
 * The message and the field messages are catalogue keys, written here in the request's language;
 * the code never changes with it.
 */
function send(req: Request, res: Response, error: AppError): void {
  if (error.headers) res.set(error.headers);
  res.status(error.status);
  const t = translator(languageOf(req));
  if (wantsJson(req)) {
    const fields = error.fields && Object.fromEntries(Object.entries(error.fields).map(([name, key]) => [name, t(key)]));
    res.json({ error: { code: error.code, message: t(error.message), ...(fields ? { fields } : {}) } });
    return;
  }
  // Rendered with the page helpers even when the error came before they were set (a static file).
  if (!res.locals.t) pageLanguage(req, res, () => {});
  res.render('error', { status: error.status, message: error.message, fields: error.fields ?? {} }, (renderErr: Error | null, html: string) => {
    if (renderErr) res.type('text/plain').send(t(error.message));
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
