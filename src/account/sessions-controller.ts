import type { Request, Response } from 'express';
import type { Authentication } from '../auth/authentication.js';
import { NotFound } from '../http/errors.js';
import { wantsJson } from '../http/negotiation.js';
import type { SignIns } from '../sessions/sign-ins.js';
import { describeBrowser } from './user-agent.js';
import { translator } from '../i18n/i18n.js';
import { languageOf } from '../i18n/language.js';

/** Handles are 16 random bytes in base64url: anything else names no sign-in, and is refused before any query. */
export const HANDLE_SHAPE = /^[A-Za-z0-9_-]{22}$/;

/** GET /account/sessions and POST /account/sessions/:handle/revoke, for browser and app sign-ins alike. */
export class AccountSessionsController {
  constructor(private readonly deps: { auth: Authentication; signIns: SignIns }) {}

  list = async (req: Request, res: Response) => {
    const live = await this.deps.signIns.listLive(req.user!.id);
    const sessions = live.map((s) => ({
      handle: s.handle,
      kind: s.kind,
      startedAt: s.startedAt.toISOString(),
      lastSeenAt: s.lastSeenAt.toISOString(),
      ip: s.ip,
      client: describeBrowser(s.userAgent, translator(languageOf(req))),
      sockets: s.sockets,
      current: s.kind === 'browser' && s.handle === req.session.handle,
    }));
    if (wantsJson(req)) return res.json({ sessions });
    const userAgents = new Map(live.map((s) => [s.handle, s.userAgent]));
    res.render('account-sessions', { sessions: sessions.map((s) => ({ ...s, userAgent: userAgents.get(s.handle) })) });
  };

  revoke = async (req: Request<{ handle: string }>, res: Response) => {
    const { handle } = req.params;
    if (!HANDLE_SHAPE.test(handle)) throw new NotFound();
    if (handle === req.session.handle) {
      await this.deps.auth.terminateSession(req, res, 'revoked');
      if (wantsJson(req)) return res.status(204).end();
      return res.redirect(303, '/');
    }
    const ended = await this.deps.signIns.end({ userId: req.user!.id, handle }, 'revoked', { ip: req.ip });
    if (!ended) throw new NotFound();
    if (wantsJson(req)) return res.status(204).end();
    res.redirect(303, '/account/sessions');
  };
}
