import type { NextFunction, Request, Response } from 'express';
import type { Authentication } from '../auth/authentication.js';
import type { UserStore } from '../auth/users.sql.js';
import { wantsJson } from '../http/negotiation.js';
import type { SignIns } from '../sessions/sign-ins.js';
import { LinkInvalid, tokenFrom, type AccountLinks } from './account-links.sql.js';
import type { PasswordResetController } from './password-reset-controller.js';

/**
 * /account/not-me: the link of a "new sign-in" notice (7 days, single use, no sign-in needed). The
 * GET only shows a confirm button (mail scanners open links); the POST ends every sign-in of the user
 * (cause `not_me`) and sends a reset link, in one transaction.
 */
export class NotMeController {
  constructor(private readonly deps: { auth: Authentication; links: AccountLinks; users: UserStore; signIns: SignIns; reset: PasswordResetController }) {}

  show = async (req: Request, res: Response, next: NextFunction) => {
    if (!(await this.deps.links.peek('not_me', req.query.token))) return this.invalid(req, res, next);
    res.render('not-me', { token: tokenFrom(req.query.token) });
  };

  submit = async (req: Request, res: Response, next: NextFunction) => {
    const token = tokenFrom(req.body?.token);
    const target = await this.deps.links.peek('not_me', token);
    if (!target) return this.invalid(req, res, next);
    try {
      await this.deps.signIns.end({ userId: target.userId }, 'not_me', { ip: req.ip }, async (tx) => {
        const used = await this.deps.links.use(tx, 'not_me', token);
        const user = used?.userId === target.userId && (await this.deps.users.findById(target.userId, tx));
        if (!user) throw new LinkInvalid('not_me');
        await this.deps.reset.sendLink(tx, { id: user.user.id, credentialsVersion: user.credentialsVersion });
      });
    } catch (err) {
      if (err instanceof LinkInvalid) return this.invalid(req, res, next);
      throw err;
    }
    if (req.user?.id === target.userId) this.deps.auth.leaveAnonymous(req, res);
    if (wantsJson(req)) return res.status(204).end();
    res.redirect(303, '/password/forgot?sent=1');
  };

  private invalid(req: Request, res: Response, next: NextFunction): void {
    const err = new LinkInvalid('not_me');
    if (wantsJson(req)) return next(err);
    res.status(400).render('link-invalid', { message: err.message });
  }
}
