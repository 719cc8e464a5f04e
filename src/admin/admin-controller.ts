import type { Request, Response } from 'express';
import type { SecurityEvents } from '../audit/security-events.sql.js';
import type { AttemptGuard } from '../auth/attempt-guard.js';
import type { UserStore } from '../auth/users.sql.js';
import type { SignIns } from '../sessions/sign-ins.js';
import type { Pool } from '../db/pool.js';
import type { RoleStore } from '../roles/roles.sql.js';
import { parseRoleGrant, ROLE_NAME } from './role-grant-rules.js';
import { Forbidden } from '../auth/authentication.js';
import { InvalidInput, NotFound } from '../http/errors.js';
import { wantsJson } from '../http/negotiation.js';

const AUDIT_PAGE = 50;

/** ?user=<id>&type=<event>&before=<id>: each optional, each checked by shape (400 with fields). */
function parseAuditFilter(query: Record<string, unknown>): { userId?: number; type?: string; before?: number } {
  const fields: Record<string, string> = {};
  const read = (name: string, shape: RegExp, message: string) => {
    const v = query[name];
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string' || !shape.test(v)) fields[name] = message;
    return typeof v === 'string' ? v : undefined;
  };
  const user = read('user', /^\d{1,15}$/, 'validation.audit_user');
  const type = read('type', /^[a-z_]{1,40}$/, 'validation.audit_type');
  const before = read('before', /^\d{1,15}$/, 'validation.audit_before');
  if (Object.keys(fields).length) throw new InvalidInput(fields);
  return { ...(user ? { userId: Number(user) } : {}), ...(type ? { type } : {}), ...(before ? { before: Number(before) } : {}) };
}

const userId = (raw: string) => (/^\d{1,15}$/.test(raw) ? Number(raw) : undefined);

/** /admin: users with roles and lock state, unlock, expire password, the latest audit events. */
export class AdminController {
  constructor(private readonly deps: { signIns: SignIns; users: UserStore; throttle: AttemptGuard; events: SecurityEvents; pool: Pool; roles: RoleStore }) {}

  show = async (req: Request, res: Response) => {
    const filter = parseAuditFilter(req.query);
    const [users, events] = await Promise.all([this.deps.users.list(), this.deps.events.list({ ...filter, limit: AUDIT_PAGE })]);
    const locks = await this.deps.throttle.lockState(users.flatMap((u) => [u.login, u.email.toLowerCase()]));
    const rows = users.map((u) => {
      const states = [locks.get(u.login), locks.get(u.email.toLowerCase())].filter((s) => s !== undefined);
      const blockedUntil = states.map((s) => s.blockedUntil).filter((d): d is Date => d !== null).sort((a, b) => b.getTime() - a.getTime())[0] ?? null;
      return {
        id: u.id,
        login: u.login,
        name: u.name,
        email: u.email,
        roles: u.roles,
        passwordExpired: u.passwordExpired,
        disabled: u.disabled,
        failedAttempts: Math.max(0, ...states.map((s) => s.failures)),
        locked: blockedUntil !== null,
        lockedUntil: blockedUntil?.toISOString() ?? null,
      };
    });
    const auditEvents = events.map((e) => ({ ...e, at: e.at.toISOString() }));
    // The next page: events older than the last one shown, with the same filter.
    const older = events.length === AUDIT_PAGE ? events.at(-1)!.id : null;
    if (wantsJson(req)) return res.json({ users: rows, events: auditEvents, nextBefore: older });
    res.render('admin', { users: rows, events: auditEvents, filter, older });
  };

  unlock = async (req: Request<{ id: string }>, res: Response) => {
    const target = await this.target(req.params.id);
    const cleared = await this.deps.throttle.unlock([target.user.login, target.user.email.toLowerCase()]);
    await this.deps.events.record({ type: 'unlock', userId: target.user.id, login: target.user.login, actorId: req.user!.id, ip: req.ip, detail: { cleared } });
    this.done(req, res);
  };

  expirePassword = async (req: Request<{ id: string }>, res: Response) => {
    const target = await this.target(req.params.id);
    // The mark and the restriction of every live sign-in commit together, audited with the administrator.
    await this.deps.signIns.restrictAll(target.user.id, async (tx) => {
      await this.deps.users.markPasswordExpired(tx, target.user.id);
      await this.deps.events.record({ type: 'password_expired_by_admin', userId: target.user.id, login: target.user.login, actorId: req.user!.id, ip: req.ip }, tx);
    });
    this.done(req, res);
  };

  /** POST /admin/users/:id/roles (role, startsAt?, endsAt?): reaches the user's live sessions at their next request. */
  grantRole = async (req: Request<{ id: string }>, res: Response) => {
    const target = await this.target(req.params.id);
    const input = parseRoleGrant(req.body);
    await this.deps.signIns.refreshRoles(target.user.id, async (tx) => {
      await this.deps.roles.grant(target.user.id, input.role, input, tx);
      await this.deps.events.record(
        { type: 'role_granted', userId: target.user.id, login: target.user.login, actorId: req.user!.id, ip: req.ip, detail: { role: input.role, startsAt: input.startsAt, endsAt: input.endsAt } },
        tx,
      );
    });
    this.done(req, res);
  };

  /** POST /admin/users/:id/roles/:role/revoke. No administrator can revoke their own admin role. */
  revokeRole = async (req: Request<{ id: string; role: string }>, res: Response) => {
    const target = await this.target(req.params.id);
    const { role } = req.params;
    if (!ROLE_NAME.test(role)) throw new NotFound();
    if (target.user.id === req.user!.id && role === 'admin') throw new Forbidden();
    let revoked = false;
    await this.deps.signIns.refreshRoles(target.user.id, async (tx) => {
      revoked = await this.deps.roles.revoke(tx, target.user.id, role);
      if (revoked) await this.deps.events.record({ type: 'role_revoked', userId: target.user.id, login: target.user.login, actorId: req.user!.id, ip: req.ip, detail: { role } }, tx);
    });
    if (!revoked) throw new NotFound();
    this.done(req, res);
  };

  /** Disabling ends every sign-in of the user at once (cause `disabled`), in the same transaction. */
  disable = async (req: Request<{ id: string }>, res: Response) => {
    const target = await this.target(req.params.id);
    if (target.user.id === req.user!.id) throw new Forbidden();
    await this.deps.signIns.end({ userId: target.user.id }, 'disabled', { actorId: req.user!.id, ip: req.ip }, async (tx) => {
      await this.deps.users.setDisabled(tx, target.user.id, true);
    });
    this.done(req, res);
  };

  enable = async (req: Request<{ id: string }>, res: Response) => {
    const target = await this.target(req.params.id);
    await this.deps.users.setDisabled(this.deps.pool, target.user.id, false);
    await this.deps.events.record({ type: 'enabled', userId: target.user.id, login: target.user.login, actorId: req.user!.id, ip: req.ip });
    this.done(req, res);
  };

  private async target(raw: string) {
    const id = userId(raw);
    const found = id === undefined ? undefined : await this.deps.users.findById(id);
    if (!found) throw new NotFound();
    return found;
  }

  private done(req: Request, res: Response) {
    if (wantsJson(req)) res.status(204).end();
    else res.redirect(303, '/admin');
  }
}
