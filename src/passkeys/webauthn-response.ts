import { z } from 'zod';

const b64url = z.string().min(1).max(16_384).regex(/^[A-Za-z0-9_-]+={0,2}$/);

/** The shape of `credential.toJSON()` for a registration or an authentication: anything else is refused before any crypto. */
const base = z.object({ id: b64url, rawId: b64url, type: z.literal('public-key'), clientExtensionResults: z.record(z.string(), z.unknown()).default({}), authenticatorAttachment: z.string().max(32).optional() });

export const registrationShape = base.extend({
  response: z.object({ clientDataJSON: b64url, attestationObject: b64url, transports: z.array(z.string().max(32)).max(10).optional() }).passthrough(),
});

export const authenticationShape = base.extend({
  response: z.object({ clientDataJSON: b64url, authenticatorData: b64url, signature: b64url, userHandle: b64url.optional() }).passthrough(),
});

/**
 * @simplewebauthn/server, loaded on first use: it is the largest import of the app (~0.4 s), and most
 * starts never see a passkey before they are warm.
 */
let loading: Promise<typeof import('@simplewebauthn/server')> | undefined;
export const webauthn = () => (loading ??= import('@simplewebauthn/server'));

/** The challenge a response answers, read from its clientDataJSON; undefined when that is not readable. */
export function challengeOf(clientDataJSON: string): string | undefined {
  try {
    const data = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown };
    return typeof data.challenge === 'string' && data.challenge.length <= 512 ? data.challenge : undefined;
  } catch {
    return undefined;
  }
}
