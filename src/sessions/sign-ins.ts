import { randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { SessionData } from 'express-session';
import type { SecurityEvents } from '../audit/security-events.sql.js';
import type { UserStore } from '../auth/users.sql.js';
import type { Language } from '../i18n/i18n.js';
import { withTransaction, type Pool, type PoolClient } from '../db/pool.js';
import type { RefreshTokens, RevokedFamily } from '../tokens/refresh-tokens.sql.js';
import type { AppSignInSockets } from './app-sign-in-sockets.sql.js';
import type { SessionRecords, SignInKind } from './session-records.sql.js';
import type { EndedSessionRow, SessionStore } from './session-store.js';

/** Why a sign-in ended: the audit event's type, and the cause the announcement carries. */
export type EndCause =
  | 'logout'
  | 'logout_everywhere'
  | 'revoked'
  | 'password_changed'
  | 'password_reset'
  | 'not_me'
  | 'disabled'
  | 'deleted'
  | 'expired'
  | 'replaced';

/** The one announcement: which sign-ins of a user ended (or were restricted), and why. */
export interface SignInsChanged {
  kind: 'ended' | 'restricted' | 'roles_changed';
  userId: number;
  sids: string[];
  families: string[];
  reason: EndCause | 'password_expired' | 'roles_changed';
}

/** What to end: one browser session, one sign-in by its public handle, one token family, or all of a user's. */
export type EndTarget = { sid: string } | { userId: number; handle: string } | { family: string } | { userId: number; exceptSid?: string };

export interface EndContext {
  /** Who ended it, when not the user themself (an administrator). */
  actorId?: number;
  ip?: string;
  detail?: Record<string, unknown>;
}

/** Work that must commit with the end, or not at all (the password change that causes it). */
export type Change = (tx: PoolClient) => Promise<void>;

export interface LiveSignIn {
  handle: string;
  kind: SignInKind;
  startedAt: Date;
  lastSeenAt: Date;
  ip: string | null;
  userAgent: string | null;
  sockets: number;
}

export class CredentialsChanged extends Error {}

/**
 * The sign-in lifecycle, for browser sessions and token families alike: every start and every end,
 * whatever the cause, goes through here. Each is one transaction that writes the rows, the
 * security.sessions record and the audit event through their stores; then one typed announcement
 * tells the listeners (sockets on every process, caches) what ended. Callers never touch those
 * tables or know who listens.
 */
export class SignIns {
  private readonly emitter = new EventEmitter();

  constructor(
    private readonly deps: {
      pool: Pool;
      sessions: SessionStore;
      refresh: RefreshTokens;
      records: SessionRecords;
      events: SecurityEvents;
      users: UserStore;
      appSockets: AppSignInSockets;
      idleMs: number;
      /**
       * Waits until every other process has heard of a change just committed (the sign-in bus), so an
       * ended or changed session is stale nowhere once the answer leaves. Absent: no process caches.
       */
      settle?: () => Promise<void>;
    },
  ) {
    this.emitter.setMaxListeners(50);
  }

  onChanged(listener: (change: SignInsChanged) => void): void {
    this.emitter.on('changed', listener);
  }

  private announce(change: SignInsChanged): void {
    this.emitter.emit('changed', change);
  }

  /**
   * Starts a browser sign-in: the session row, its record and the audit event, only if the
   * credentials checked (at `credentialsVersion`) are still the user's. Throws CredentialsChanged.
   * `within` commits with it (the device, and the "new sign-in" notice).
   */
  async startBrowser(input: { sid: string; sess: SessionData & { handle: string }; userId: number; credentialsVersion: number; ip?: string; userAgent?: string; language?: Language; within?: Change }): Promise<void> {
    const { sessions, records, events, users } = this.deps;
    await withTransaction(this.deps.pool, (tx) =>
      heldThen(users.holdCredentials(tx, input.userId, input.credentialsVersion), [
        sessions.insert(tx, input.sid, input.sess),
        records.open(tx, { handle: input.sess.handle, kind: 'browser', userId: input.userId, ip: input.ip, userAgent: input.userAgent }),
        events.record({ type: 'sign_in', userId: input.userId, sessionHandle: input.sess.handle, ip: input.ip ?? null }, tx),
        // Only when the user signs in in another language than before: their mail follows it.
        input.language && users.setLanguage(input.userId, input.language, tx),
        input.within?.(tx),
      ]),
    );
  }

  /** Starts a token sign-in (a refresh-token family), on the same terms. Throws CredentialsChanged. */
  async startFamily(input: { userId: number; credentialsVersion: number; fingerprint: string; ip?: string; userAgent?: string; language?: Language; within?: Change }): Promise<{ token: string; familyId: string; handle: string }> {
    const { refresh, records, events, users } = this.deps;
    const familyId = randomUUID();
    const handle = randomBytes(16).toString('base64url');
    const token = await withTransaction(this.deps.pool, async (tx) => {
      const held = users.holdCredentials(tx, input.userId, input.credentialsVersion);
      const created = refresh.create(tx, input.userId, familyId, input.fingerprint);
      await heldThen(held, [
        created,
        records.open(tx, { handle, kind: 'app', familyId, userId: input.userId, ip: input.ip, userAgent: input.userAgent }),
        events.record({ type: 'sign_in', userId: input.userId, sessionHandle: handle, ip: input.ip ?? null, detail: { kind: 'app' } }, tx),
        input.language && users.setLanguage(input.userId, input.language, tx),
        input.within?.(tx),
      ]);
      return created;
    });
    return { token, familyId, handle };
  }

  /**
   * Ends the target's sign-ins for `reason`. `change` runs first in the same transaction (the new
   * password), `after` once the sign-ins are ended (deleting the account). Returns how many ended.
   */
  async end(target: EndTarget, reason: EndCause, context: EndContext = {}, change?: Change, after?: Change): Promise<number> {
    const { sessions, refresh, records } = this.deps;
    const ended = await withTransaction(this.deps.pool, async (tx) => {
      if (change) await change(tx);
      let rows: EndedSessionRow[] = [];
      let families: RevokedFamily[] = [];
      if ('sid' in target) rows = await sessions.deleteBySid(tx, target.sid);
      else if ('family' in target) families = await refresh.revokeFamilies(tx, [target.family], reason);
      else if ('handle' in target) {
        const found = await records.findOpen(target.userId, target.handle);
        if (found?.kind === 'browser') rows = await sessions.deleteByHandle(tx, target.userId, target.handle);
        else if (found?.familyId) families = await refresh.revokeFamilies(tx, [found.familyId], reason);
      } else {
        rows = await sessions.deleteByUser(tx, target.userId, target.exceptSid);
        families = await refresh.revokeByUser(tx, target.userId, reason);
      }
      await this.closeAndAudit(tx, rows, families, reason, context);
      if (after) await after(tx);
      return { rows, families };
    });
    this.deps.sessions.forget(ended.rows.map((r) => r.sid));
    if (ended.rows.length) await this.deps.settle?.();
    this.announceEnded(ended.rows, ended.families, reason);
    return ended.rows.length + ended.families.length;
  }

  /** Sign-ins past their idle or absolute end, and token families that ran out: cause `expired`. */
  async endExpired(): Promise<number> {
    const { sessions, refresh } = this.deps;
    const ended = await withTransaction(this.deps.pool, async (tx) => {
      const rows = await sessions.deleteExpired(tx);
      const families = await refresh.revokeExpired(tx);
      await this.closeAndAudit(tx, rows, families, 'expired', {});
      return { rows, families };
    });
    this.deps.sessions.forget(ended.rows.map((r) => r.sid));
    this.announceEnded(ended.rows, ended.families, 'expired');
    return ended.rows.length + ended.families.length;
  }

  /**
   * Restricts every sign-in of the user to changing the password (an administrator expired it):
   * browser sessions at their next request, token sign-ins at their next use, sockets at once.
   */
  async restrictAll(userId: number, change?: Change): Promise<void> {
    const sids = await withTransaction(this.deps.pool, async (tx) => {
      if (change) await change(tx);
      return this.deps.sessions.restrictAllForUser(tx, userId);
    });
    this.deps.sessions.forget(sids);
    if (sids.length) await this.deps.settle?.();
    this.announce({ kind: 'restricted', userId, sids, families: [], reason: 'password_expired' });
  }

  /**
   * A role grant or revocation (`change`) reaches every live browser session of the user at its next
   * request, in the same transaction; token sign-ins get it at their next refresh.
   */
  async refreshRoles(userId: number, change: Change): Promise<void> {
    const sids = await this.refreshStoredUser(userId, change);
    this.announce({ kind: 'roles_changed', userId, sids, families: [], reason: 'roles_changed' });
  }

  /** A changed profile (a confirmed new address), with `change`, reaches every live browser sign-in of the user. */
  async refreshProfile(userId: number, change: Change): Promise<void> {
    await this.refreshStoredUser(userId, change);
  }

  /** Runs `change`, then rewrites the user (grants, address) that every live session of theirs keeps, in one transaction. */
  private async refreshStoredUser(userId: number, change: Change): Promise<string[]> {
    const sids = await withTransaction(this.deps.pool, async (tx) => {
      await change(tx);
      return this.deps.sessions.refreshStoredUser(tx, userId);
    });
    this.deps.sessions.forget(sids);
    if (sids.length) await this.deps.settle?.();
    return sids;
  }

  /** The user's live sign-ins of both kinds, newest first. */
  async listLive(userId: number): Promise<LiveSignIn[]> {
    const { sessions, refresh, records, appSockets } = this.deps;
    const [open, browsers, families] = await Promise.all([records.openForUser(userId), sessions.liveForUser(userId), refresh.liveFamilies(userId)]);
    const browserByHandle = new Map(browsers.map((b) => [b.handle, b]));
    const familyById = new Map(families.map((f) => [f.familyId, f]));
    const socketsByFamily = await appSockets.countByFamily(families.map((f) => f.familyId));
    const now = Date.now();
    const live: LiveSignIn[] = [];
    for (const r of open) {
      const base = { handle: r.handle, kind: r.kind, startedAt: r.startedAt, ip: r.ip, userAgent: r.userAgent };
      const browser = r.kind === 'browser' ? browserByHandle.get(r.handle) : undefined;
      const family = r.familyId ? familyById.get(r.familyId) : undefined;
      if (browser) {
        // The row's expiry is the last activity plus the idle time (and the touch slack).
        const seen = Math.max(r.startedAt.getTime(), Math.min(now, browser.expire.getTime() - this.deps.idleMs));
        live.push({ ...base, lastSeenAt: new Date(seen), sockets: browser.sockets });
      } else if (family) {
        live.push({ ...base, lastSeenAt: family.lastSeenAt, sockets: socketsByFamily.get(r.familyId!) ?? 0 });
      }
    }
    return live;
  }

  private async closeAndAudit(tx: PoolClient, rows: EndedSessionRow[], families: RevokedFamily[], reason: EndCause, context: EndContext): Promise<void> {
    const now = Date.now();
    const handles = rows.flatMap((r) => (r.handle ? [r.handle] : []));
    const lastSeen = new Map(rows.flatMap((r) => (r.handle ? [[r.handle, new Date(Math.min(now, r.expire.getTime() - this.deps.idleMs))] as const] : [])));
    const familyHandles = await this.deps.records.close(tx, { handles, familyIds: families.map((f) => f.family_id) }, reason, lastSeen);
    // One audit event per user, naming the cause (and the sign-in when it was just one).
    const byUser = new Map<number, { sessions: number; families: number; handle?: string }>();
    for (const r of rows) {
      if (r.user_id === null) continue;
      const entry = byUser.get(r.user_id) ?? { sessions: 0, families: 0 };
      entry.sessions += 1;
      entry.handle = r.handle ?? undefined;
      byUser.set(r.user_id, entry);
    }
    for (const f of families) {
      const entry = byUser.get(f.user_id) ?? { sessions: 0, families: 0 };
      entry.families += 1;
      entry.handle = familyHandles.get(f.family_id);
      byUser.set(f.user_id, entry);
    }
    for (const [userId, n] of byUser) {
      const single = n.sessions + n.families === 1;
      await this.deps.events.record(
        {
          type: reason,
          userId,
          sessionHandle: single && n.handle ? n.handle : null,
          actorId: context.actorId ?? null,
          ip: context.ip ?? null,
          detail: { sessions: n.sessions, tokenSignIns: n.families, ...context.detail },
        },
        tx,
      );
    }
  }

  private announceEnded(rows: EndedSessionRow[], families: RevokedFamily[], reason: EndCause): void {
    const byUser = new Map<number, { sids: string[]; families: string[] }>();
    const entry = (userId: number) => {
      let e = byUser.get(userId);
      if (!e) byUser.set(userId, (e = { sids: [], families: [] }));
      return e;
    };
    for (const r of rows) if (r.user_id !== null) entry(r.user_id).sids.push(r.sid);
    for (const f of families) entry(f.user_id).families.push(f.family_id);
    for (const [userId, e] of byUser) this.announce({ kind: 'ended', userId, sids: e.sids, families: e.families, reason });
  }
}

/**
 * A sign-in's writes, sent with the check that the credentials it checked are still the user's
 * (which holds the user's row until commit): the client pipelines them, so they cost one round trip
 * instead of one each. They run after the check, in its transaction; when it fails they are rolled
 * back with it (CredentialsChanged).
 */
async function heldThen(held: Promise<boolean>, writes: Array<Promise<unknown> | undefined | '' | false>): Promise<void> {
  const written = Promise.all(writes);
  // Judged after the check: a failed check is the error reported, whatever the writes did.
  written.catch(() => {});
  if (!(await held)) throw new CredentialsChanged();
  await written;
}
