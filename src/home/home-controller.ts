import type { Request, Response } from 'express';
import { publicUser } from '../auth/public-user.js';
import { wantsJson } from '../http/negotiation.js';

/** GET /: the user's name and links when signed in; links to sign in and register otherwise. */
export function showHome(req: Request, res: Response): void {
  if (wantsJson(req)) {
    res.json({ user: req.user ? publicUser(req.user) : null });
    return;
  }
  res.render('home');
}
