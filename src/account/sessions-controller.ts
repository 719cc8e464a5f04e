import type { Request, Response } from 'express';
import type { Authentication } from '../auth/authentication.js';
import { NotFound } from '../http/errors.js';
import { wantsJson } from '../http/negotiation.js';
import type { SessionEnding } from '../sessions/session-ending.js';
import type { SessionRecords } from '../sessions/session-records.sql.js';
import { describeBrowser } from './user-agent.js';

/** GET /account/sessions and POST /account/sessions/:handle/revoke. */
export class AccountSessionsController {
  constructor(private readonly deps: { auth: Authentication; records: SessionRecords; ending: SessionEnding }) {}

  list = async (req: Request, res: Response) => {
    const live = await this.deps.records.listLive(req.user!.id);
    const sessions = live.map((s) => ({
      handle: s.handle,
      startedAt: s.startedAt.toISOString(),
      lastSeenAt: s.lastSeenAt.toISOString(),
      ip: s.ip,
      userAgent: s.userAgent,
      browser: describeBrowser(s.userAgent),
      current: s.handle === req.session.handle,
      sockets: s.sockets,
    }));
    if (wantsJson(req)) return res.json({ sessions });
    res.render('account-sessions', { sessions });
  };

  revoke = async (req: Request<{ handle: string }>, res: Response) => {
    const { handle } = req.params;
    if (handle === req.session.handle) {
      await this.deps.auth.terminateSession(req, res, 'revoked');
      if (wantsJson(req)) return res.status(204).end();
      return res.redirect(303, '/');
    }
    const ended = await this.deps.ending.endByHandle(req.user!.id, handle, 'revoked', { ip: req.ip });
    if (!ended) throw new NotFound();
    if (wantsJson(req)) return res.status(204).end();
    res.redirect(303, '/account/sessions');
  };
}
