import type { Request, Response } from 'express';
import { wantsJson } from '../http/negotiation.js';
import type { SessionEnding } from '../sessions/session-ending.js';
import type { RefreshTokens } from '../tokens/refresh-tokens.sql.js';
import type { Authentication } from './authentication.js';

/** POST /logout: this session, or with everywhere=1 every session of the user. Anonymous: same answer. */
export class LogoutController {
  constructor(private readonly deps: { auth: Authentication; ending: SessionEnding; refreshTokens: RefreshTokens }) {}

  submit = async (req: Request, res: Response) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const everywhere = body.everywhere === '1' || body.everywhere === 1 || body.everywhere === true;
    if (req.user && everywhere) {
      await this.deps.ending.endAllForUser(req.user.id, 'logout_everywhere', req.sessionID, { ip: req.ip });
      await this.deps.refreshTokens.revokeAllForUser(req.user.id, 'logout_everywhere');
    }
    await this.deps.auth.terminateSession(req, res, everywhere ? 'logout_everywhere' : 'logout');
    if (wantsJson(req)) return res.status(204).end();
    res.redirect(303, '/');
  };
}
