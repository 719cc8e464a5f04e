import type { Request } from 'express';

/** A script request prefers JSON in Accept or sends a JSON body; everything else is a browser. */
export function wantsJson(req: Request): boolean {
  if (req.is('application/json')) return true;
  return req.accepts(['html', 'json']) === 'json';
}
