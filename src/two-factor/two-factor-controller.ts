import type { Request, Response } from 'express';
import { z } from 'zod';
import type { SecurityEvents } from '../audit/security-events.sql.js';
import { WrongCredentials } from '../auth/authentication.js';
import type { CurrentPassword } from '../auth/current-password.js';
import { withTransaction, type Pool } from '../db/pool.js';
import { AppError, InvalidInput } from '../http/errors.js';
import { rerenderForm } from '../http/forms.js';
import { wantsJson } from '../http/negotiation.js';
import { circumstancesOf, type AccountMail } from '../mail/account-mail.js';
import { WrongCode, type SecondFactor } from './second-factor.js';
import { qrSvg } from './totp.js';

const passwordField = z.string().min(1).max(1024);

function currentPasswordOf(body: unknown): string {
  const parsed = passwordField.safeParse((body as Record<string, unknown> | undefined)?.currentPassword);
  if (!parsed.success) throw new InvalidInput({ currentPassword: 'validation.current_password' });
  return parsed.data;
}

function codeOf(body: unknown): unknown {
  const code = (body as Record<string, unknown> | undefined)?.code;
  if (code === undefined || code === '') throw new InvalidInput({ code: 'validation.totp' });
  return code;
}

export class AlreadyEnabled extends AppError {
  constructor() {
    super(409, 'already_enabled', 'errors.already_enabled');
  }
}

/** /account/two-factor: turn TOTP on (password, then a first code), off (password and a code), and new recovery codes (a code). */
export class TwoFactorController {
  constructor(
    private readonly deps: { pool: Pool; secondFactor: SecondFactor; currentPassword: CurrentPassword; mail: AccountMail; events: SecurityEvents },
  ) {}

  show = async (req: Request, res: Response) => {
    await this.render(req, res, 200, {});
  };

  private async render(req: Request, res: Response, status: number, extra: Record<string, unknown>) {
    const me = req.user!;
    const on = await this.deps.secondFactor.isOn(me.id);
    const remaining = on ? await this.deps.secondFactor.remainingRecoveryCodes(me.id) : 0;
    if (wantsJson(req) && status === 200 && !extra.setup && !extra.recoveryCodes) return void res.json({ enabled: on, recoveryCodesLeft: remaining });
    res.status(status).render('two-factor', { error: undefined, fields: {}, values: {}, on, remaining, setup: undefined, recoveryCodes: undefined, ...extra });
  }

  private async guarded(req: Request, res: Response, work: () => Promise<void>) {
    try {
      await work();
    } catch (err) {
      if (err instanceof AppError && !wantsJson(req)) {
        if (err.headers) res.set(err.headers);
        return this.render(req, res, err.status, { error: err.message, fields: err.fields ?? {} });
      }
      if (!rerenderForm(req, res, err, 'two-factor', {})) throw err;
    }
  }

  setup = (req: Request, res: Response) =>
    this.guarded(req, res, async () => {
      const me = req.user!;
      const password = currentPasswordOf(req.body);
      if (!(await this.deps.currentPassword.verify(me, password, req.ip ?? 'unknown', 'two-factor'))) throw new WrongCredentials();
      const started = await this.deps.secondFactor.startEnrolment(me);
      if (!started) throw new AlreadyEnabled();
      if (wantsJson(req)) return void res.json(started);
      const qr = `data:image/svg+xml;base64,${Buffer.from(await qrSvg(started.otpauthUrl)).toString('base64')}`;
      await this.render(req, res, 200, { setup: { secret: started.secret, qr } });
    });

  enable = (req: Request, res: Response) =>
    this.guarded(req, res, async () => {
      const me = req.user!;
      const code = codeOf(req.body);
      const where = circumstancesOf(req);
      const codes = await withTransaction(this.deps.pool, async (tx) => {
        if (!(await this.deps.secondFactor.check(me, where.ip, code, 'enable', { db: tx, state: 'enrolling' }))) return undefined;
        const fresh = await this.deps.secondFactor.newRecoveryCodes(tx, me.id);
        await this.deps.events.record({ type: 'two_factor_enabled', userId: me.id, ip: where.ip }, tx);
        await this.deps.mail.toUser(tx, me.id, 'two-factor-on', { ...where });
        return fresh;
      });
      if (!codes) throw new WrongCode();
      if (wantsJson(req)) return void res.json({ recoveryCodes: codes });
      await this.render(req, res, 200, { recoveryCodes: codes });
    });

  disable = (req: Request, res: Response) =>
    this.guarded(req, res, async () => {
      const me = req.user!;
      const password = currentPasswordOf(req.body);
      const code = codeOf(req.body);
      const where = circumstancesOf(req);
      if (!(await this.deps.currentPassword.verify(me, password, where.ip, 'two-factor'))) throw new WrongCredentials();
      const done = await withTransaction(this.deps.pool, async (tx) => {
        if (!(await this.deps.secondFactor.check(me, where.ip, code, 'disable', { db: tx }))) return false;
        await this.deps.secondFactor.remove(tx, me.id);
        await this.deps.events.record({ type: 'two_factor_disabled', userId: me.id, ip: where.ip }, tx);
        await this.deps.mail.toUser(tx, me.id, 'two-factor-off', { ...where });
        return true;
      });
      if (!done) throw new WrongCode();
      if (wantsJson(req)) return void res.status(204).end();
      res.redirect(303, '/account/two-factor');
    });

  regenerate = (req: Request, res: Response) =>
    this.guarded(req, res, async () => {
      const me = req.user!;
      const code = codeOf(req.body);
      const where = circumstancesOf(req);
      const codes = await withTransaction(this.deps.pool, async (tx) => {
        if (!(await this.deps.secondFactor.check(me, where.ip, code, 'recovery-codes', { db: tx }))) return undefined;
        const fresh = await this.deps.secondFactor.newRecoveryCodes(tx, me.id);
        await this.deps.events.record({ type: 'recovery_codes_regenerated', userId: me.id, ip: where.ip }, tx);
        return fresh;
      });
      if (!codes) throw new WrongCode();
      if (wantsJson(req)) return void res.json({ recoveryCodes: codes });
      await this.render(req, res, 200, { recoveryCodes: codes });
    });
}
