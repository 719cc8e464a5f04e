import type { Request } from 'express';

/** A script request prefers JSON in Accept, sends a JSON body, or calls /api; everything else is a browser. */
export function wantsJson(req: Request): boolean {
  // The API speaks JSON whatever the Accept header says.
  if (req.path.startsWith('/api/') || req.path === '/api') return true;
  if (req.is('application/json')) return true;
  return req.accepts(['html', 'json']) === 'json';
}
