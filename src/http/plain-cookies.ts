import type { RequestHandler } from 'express';

/**
 * cookie-parser turns a value written `j:<json>` into whatever that JSON holds. No cookie of ours is
 * written that way, and every reader (csrf-csrf above all) expects a string: such a cookie sent by
 * anyone made a request fail with 500. It is dropped here, as an absent cookie.
 */
export const plainCookies: RequestHandler = (req, _res, next) => {
  const cookies = req.cookies as Record<string, unknown> | undefined;
  if (cookies) {
    for (const name of Object.keys(cookies)) if (typeof cookies[name] !== 'string') delete cookies[name];
  }
  next();
};
