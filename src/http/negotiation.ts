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
  return prefersJson(req);
}

/**
 * What an Accept header prefers depends on its text alone, and clients send few distinct ones: the
 * answer is kept per text (negotiator's parse is the dearest step of a signed-in page's routing).
 */
const preferences = new Map<string, boolean>();
const PREFERENCES_MAX = 1000;

function prefersJson(req: IncomingMessage): boolean {
  const header = req.headers.accept;
  if (header === undefined) return false;
  let json = preferences.get(header);
  if (json === undefined) {
    json = accepts(req).types(['html', 'json']) === 'json';
    // Headers are the client's to choose: past the cap, new texts are judged afresh every time.
    if (preferences.size < PREFERENCES_MAX && header.length <= 1024) preferences.set(header, json);
  }
  return json;
}
