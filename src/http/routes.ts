import type { Express, RequestHandler } from 'express';

type Method = 'get' | 'post';

export interface Routes {
  get(path: string, ...handlers: RequestHandler<any>[]): void;
  post(path: string, ...handlers: RequestHandler<any>[]): void;
  /** Throws if a route was declared public but never wired (a typo would otherwise go unnoticed). */
  verify(): void;
}

/**
 * Routes are protected by default (Rails' allow_unauthenticated_access turned around): every route
 * wired here needs a signed-in user unless "METHOD /path" is in the one list of public routes, so a
 * route added later is never public by accident.
 */
export function protectedByDefault(app: Express, requireUser: RequestHandler, publicRoutes: readonly string[]): Routes {
  const unused = new Set(publicRoutes);
  const add = (method: Method) => (path: string, ...handlers: RequestHandler<any>[]) => {
    const key = `${method.toUpperCase()} ${path}`;
    const isPublic = publicRoutes.includes(key);
    unused.delete(key);
    app[method](path, ...(isPublic ? [] : [requireUser]), ...handlers);
  };
  return {
    get: add('get'),
    post: add('post'),
    verify() {
      if (unused.size) throw new Error(`public routes that are not wired: ${[...unused].join(', ')}`);
    },
  };
}
