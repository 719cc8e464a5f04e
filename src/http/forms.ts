import type { Request, Response } from 'express';
import { AppError } from './errors.js';
import { wantsJson } from './negotiation.js';

/** Only these typed values are echoed back into a re-rendered form; passwords never are. */
export function formValues(body: unknown, keep: string[]): Record<string, string> {
  const values: Record<string, string> = {};
  const source = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  for (const key of keep) if (typeof source[key] === 'string') values[key] = source[key] as string;
  return values;
}

/**
 * A browser whose form failed a rule gets the same form back, with the message, the field errors
 * and what it typed, under the status a script would get. Scripts (and unexpected errors) go on to
 * the error handler. Returns true when it answered.
 */
export function rerenderForm(req: Request, res: Response, err: unknown, view: string, values: Record<string, string>): boolean {
  if (!(err instanceof AppError) || wantsJson(req)) return false;
  if (err.headers) res.set(err.headers);
  res.status(err.status).render(view, { error: err.message, fields: err.fields ?? {}, values });
  return true;
}

/** A checkbox: checked when the form (or JSON) sent 1, "1", "on" or true. */
export function checked(body: unknown, name: string): boolean {
  const value = body && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
  return value === '1' || value === 1 || value === true || value === 'on' || value === 'true';
}
