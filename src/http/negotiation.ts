import type { IncomingMessage } from 'node:http';
import accepts from 'accepts';
import typeis from 'type-is';

/**
 * A request's path: Express's `req.path` (which the app server's requests have from birth, see
 * app-server.ts), else the URL's path (a request on a plain server, before Express has seen it).
 */
export function pathOf(req: IncomingMessage & { path?: string }): string {
  if (req.path !== undefined) return req.path;
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/**
 * A script request prefers JSON in Accept, sends a JSON body, or calls /api; everything else is a
 * browser. Read with Express's own accepts and type-is, so it says the same of a request Express has
 * not seen.
 */
export function wantsJson(req: IncomingMessage): boolean {
  // The API speaks JSON whatever the Accept header says.
  const path = pathOf(req);
  if (path.startsWith('/api/') || path === '/api') return true;
  if (typeis(req, ['application/json'])) return true;
  return accepts(req).types(['html', 'json']) === 'json';
}
