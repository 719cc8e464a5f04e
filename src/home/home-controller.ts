import type { Request, Response } from 'express';
import { wantsJson } from '../http/negotiation.js';

/** GET /: the user's name and links when signed in; links to sign in and register otherwise. */
export function showHome(req: Request, res: Response): void {
  if (wantsJson(req)) {
    res.json({ user: req.user ? { id: req.user.id, login: req.user.login, name: req.user.name, email: req.user.email, roles: req.user.roles } : null });
    return;
  }
  res.render('home');
}
