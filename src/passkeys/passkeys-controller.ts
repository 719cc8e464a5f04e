import type { RegistrationResponseJSON } from '@simplewebauthn/server';
import type { NextFunction, Request, Response } from 'express';
import { z } from 'zod';
import type { SecurityEvents } from '../audit/security-events.sql.js';
import { withTransaction, type Pool } from '../db/pool.js';
import { InvalidInput, NotFound } from '../http/errors.js';
import { wantsJson } from '../http/negotiation.js';
import { circumstancesOf, type AccountMail } from '../mail/account-mail.js';
import type { PasskeyStore } from './passkeys.sql.js';
import { challengeOf, registrationShape, webauthn } from './webauthn-response.js';
import type { WebAuthnChallenges } from './webauthn-challenges.sql.js';

const nameShape = z.string().trim().min(1).max(64).refine((s) => !/[\u0000-\u001f\u007f-\u009f]/.test(s));

/** A passkey's id in a path: digits only, or nothing (404). */
const passkeyId = (value: unknown): number | undefined => (typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : undefined);

/** The relying party: APP_ORIGIN's host (browsers refuse WebAuthn on an IP-address origin; `localhost` works). */
export interface RelyingParty {
  name: string;
  id: string;
  origin: string;
}

/** /account/passkeys: list, add (options, then the credential), remove. */
export class PasskeysController {
  constructor(private readonly deps: { pool: Pool; passkeys: PasskeyStore; challenges: WebAuthnChallenges; rp: RelyingParty; events: SecurityEvents; mail: AccountMail }) {}

  list = async (req: Request, res: Response) => {
    const keys = await this.deps.passkeys.forUser(req.user!.id);
    const passkeys = keys.map((k) => ({ id: k.id, name: k.name, createdAt: k.createdAt.toISOString(), lastUsedAt: k.lastUsedAt?.toISOString() ?? null }));
    if (wantsJson(req)) return res.json({ passkeys });
    res.render('passkeys', { passkeys });
  };

  /** Creation options: a discoverable credential with user verification, none of the user's own again. */
  options = async (req: Request, res: Response) => {
    const me = req.user!;
    const existing = await this.deps.passkeys.forUser(me.id);
    const options = await (await webauthn()).generateRegistrationOptions({
      rpName: this.deps.rp.name,
      rpID: this.deps.rp.id,
      userName: me.login,
      userDisplayName: me.name,
      userID: new TextEncoder().encode(`user:${me.id}`),
      attestationType: 'none',
      authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
      excludeCredentials: existing.map((k) => ({ id: k.credentialId, transports: k.transports })),
    });
    await this.deps.challenges.remember(options.challenge, 'register', me.id);
    res.json(options);
  };

  add = async (req: Request, res: Response) => {
    const me = req.user!;
    const parsed = registrationShape.safeParse(req.body);
    if (!parsed.success) throw new InvalidInput({ credential: 'validation.passkey_credential' });
    const name = nameShape.safeParse((req.body as Record<string, unknown>).name ?? `Passkey ${new Date().toISOString().slice(0, 10)}`);
    if (!name.success) throw new InvalidInput({ name: 'validation.passkey_name' });
    const challenge = challengeOf(parsed.data.response.clientDataJSON);
    // Single use: the challenge goes now, whatever the verification says.
    if (!challenge || !(await this.deps.challenges.use(challenge, 'register', me.id))) throw new InvalidInput({ credential: 'validation.passkey_challenge' });
    let verified;
    try {
      verified = await (await webauthn()).verifyRegistrationResponse({
        response: parsed.data as unknown as RegistrationResponseJSON,
        expectedChallenge: challenge,
        expectedOrigin: this.deps.rp.origin,
        expectedRPID: this.deps.rp.id,
        requireUserVerification: true,
      });
    } catch {
      verified = undefined;
    }
    if (!verified?.verified) throw new InvalidInput({ credential: 'validation.passkey_unverified' });
    const info = verified.registrationInfo;
    const where = circumstancesOf(req);
    const added = await withTransaction(this.deps.pool, async (tx) => {
      const row = await this.deps.passkeys.add(tx, {
        userId: me.id,
        credentialId: info.credential.id,
        publicKey: info.credential.publicKey,
        counter: info.credential.counter,
        transports: info.credential.transports ?? [],
        deviceType: info.credentialDeviceType,
        backedUp: info.credentialBackedUp,
        name: name.data,
      });
      if (!row) return undefined;
      await this.deps.events.record({ type: 'passkey_added', userId: me.id, ip: where.ip, detail: { passkey: row.id } }, tx);
      await this.deps.mail.toUser(tx, me.id, 'passkey-added', { ...where, passkeyName: row.name });
      return row;
    });
    if (!added) throw new InvalidInput({ credential: 'validation.passkey_exists' });
    res.status(201).json({ passkey: { id: added.id, name: added.name, createdAt: added.createdAt.toISOString() } });
  };

  /** POST /account/passkeys/:id/rename (name). */
  rename = async (req: Request, res: Response, next: NextFunction) => {
    const id = passkeyId(req.params.id);
    if (id === undefined) return next(new NotFound());
    const name = nameShape.safeParse((req.body as Record<string, unknown> | undefined)?.name);
    if (!name.success) throw new InvalidInput({ name: 'validation.passkey_name' });
    const renamed = await this.deps.passkeys.rename(req.user!.id, id, name.data);
    if (!renamed) return next(new NotFound());
    if (wantsJson(req)) return res.json({ passkey: { id: renamed.id, name: renamed.name, createdAt: renamed.createdAt.toISOString(), lastUsedAt: renamed.lastUsedAt?.toISOString() ?? null } });
    res.redirect(303, '/account/passkeys');
  };

  remove = async (req: Request, res: Response, next: NextFunction) => {
    const me = req.user!;
    const id = passkeyId(req.params.id);
    if (id === undefined) return next(new NotFound());
    const where = circumstancesOf(req);
    const removed = await withTransaction(this.deps.pool, async (tx) => {
      const row = await this.deps.passkeys.remove(tx, me.id, id);
      if (!row) return undefined;
      await this.deps.events.record({ type: 'passkey_removed', userId: me.id, ip: where.ip, detail: { passkey: row.id } }, tx);
      await this.deps.mail.toUser(tx, me.id, 'passkey-removed', { ...where, passkeyName: row.name });
      return row;
    });
    if (!removed) return next(new NotFound());
    if (wantsJson(req)) return res.status(204).end();
    res.redirect(303, '/account/passkeys');
  };
}
