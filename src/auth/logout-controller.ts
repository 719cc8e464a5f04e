import type { Request, Response } from 'express';
import { wantsJson } from '../http/negotiation.js';
import type { Authentication } from './authentication.js';

/** POST /logout: this session, or with everywhere=1 every sign-in of the user. Anonymous: same answer. */
export class LogoutController {
  constructor(private readonly deps: { auth: Authentication }) {}

  submit = async (req: Request, res: Response) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const everywhere = body.everywhere === '1' || body.everywhere === 1 || body.everywhere === true;
    await this.deps.auth.terminateSession(req, res, everywhere ? 'logout_everywhere' : 'logout', { everywhere });
    if (wantsJson(req)) return res.status(204).end();
    res.redirect(303, '/');
  };
}
