import type { Request, Response } from 'express';
import { z } from 'zod';
import type { SecurityEvents } from '../audit/security-events.sql.js';
import type { AttemptGuard } from '../auth/attempt-guard.js';
import { WrongCredentials, type Authentication } from '../auth/authentication.js';
import type { CurrentPassword } from '../auth/current-password.js';
import type { UserStore } from '../auth/users.sql.js';
import type { ChatMessages } from '../chat/chat-messages.sql.js';
import { InvalidInput } from '../http/errors.js';
import { rerenderForm } from '../http/forms.js';
import { wantsJson } from '../http/negotiation.js';
import type { SessionRecords } from '../sessions/session-records.sql.js';
import type { SignIns } from '../sessions/sign-ins.js';
import type { PasskeyStore } from '../passkeys/passkeys.sql.js';
import { WrongCode, type SecondFactor } from '../two-factor/second-factor.js';
import { describeBrowser } from './user-agent.js';

const deletion = z.object({ currentPassword: z.string().min(1).max(1024) });

/** POST /account/delete and GET /account/export: the end of an account, and its data to take along. */
export class AccountDataController {
  constructor(
    private readonly deps: {
      auth: Authentication;
      users: UserStore;
      currentPassword: CurrentPassword;
      guard: AttemptGuard;
      signIns: SignIns;
      records: SessionRecords;
      events: SecurityEvents;
      messages: ChatMessages;
      secondFactor: SecondFactor;
      passkeys: PasskeyStore;
    },
  ) {}

  /**
   * With the current password (through the attempt guard): every sign-in ends (cause `deleted`) and,
   * in the same transaction, the user's row and what hangs off it go; messages stay as "Deleted
   * user", the audit keeps its events, the login and email are free again.
   */
  delete = async (req: Request, res: Response) => {
    try {
      await this.deleteAccount(req, res);
    } catch (err) {
      // The form lives on /account: a wrong password shows it again there.
      if (!rerenderForm(req, res, err, 'account', {})) throw err;
    }
  };

  private async deleteAccount(req: Request, res: Response): Promise<void> {
    const me = req.user!;
    const parsed = deletion.safeParse(req.body ?? {});
    if (!parsed.success) throw new InvalidInput({ currentPassword: 'validation.current_password' });
    const ip = req.ip ?? 'unknown';
    if (!(await this.deps.currentPassword.verify(me, parsed.data.currentPassword, ip, 'delete'))) throw new WrongCredentials();
    // With two-factor on, a stolen password alone cannot delete the account.
    if (await this.deps.secondFactor.isOn(me.id)) {
      const code = (req.body as Record<string, unknown>).code;
      if (code === undefined || code === '') throw new InvalidInput({ code: 'validation.totp_or_recovery' });
      if (!(await this.deps.secondFactor.check(me, ip, code, 'delete'))) throw new WrongCode();
    }
    // The user's row is locked first: a sign-in committing meanwhile is ended with the others, not left behind.
    await this.deps.signIns.end({ userId: me.id }, 'deleted', { ip, detail: { login: me.login } }, (tx) => this.deps.users.lockForChange(tx, me.id), async (tx) => {
      await this.deps.guard.forgetSubjects(tx, [me.login, me.email.toLowerCase()]);
      await this.deps.users.delete(tx, me.id);
    });
    this.deps.auth.leaveAnonymous(req, res);
    if (wantsJson(req)) return void res.status(204).end();
    res.redirect(303, '/');
  }

  /** One JSON download of the user's own data: no hash, token or session id in it. */
  export = async (req: Request, res: Response) => {
    const me = req.user!;
    const [found, signIns, events, messages, passkeys] = await Promise.all([
      this.deps.users.findById(me.id),
      this.deps.records.allForUser(me.id),
      this.deps.events.list({ userId: me.id, limit: 10_000 }),
      this.deps.messages.byUser(me.id),
      this.deps.passkeys.forUser(me.id),
    ]);
    const iso = (d: Date | number | null) => (d === null ? null : new Date(d).toISOString());
    const data = {
      user: found?.user ?? me,
      roles: (found?.stored.grants ?? []).map((g) => ({ role: g.role, startsAt: iso(g.startsAt), endsAt: iso(g.endsAt) })),
      signIns: signIns.map((s) => ({
        kind: s.kind,
        startedAt: iso(s.startedAt),
        lastSeenAt: iso(s.lastSeenAt),
        endedAt: iso(s.endedAt),
        endReason: s.endReason,
        ip: s.ip,
        client: describeBrowser(s.userAgent),
        userAgent: s.userAgent,
      })),
      securityEvents: events.map((e) => ({ at: iso(e.at), type: e.type, ip: e.ip })),
      messages,
      passkeys: passkeys.map((k) => ({ name: k.name, createdAt: iso(k.createdAt), lastUsedAt: iso(k.lastUsedAt) })),
    };
    res.set('Content-Disposition', `attachment; filename="account-${me.login}.json"`);
    res.json(data);
  };
}
