import { z } from 'zod';
import { InvalidInput } from '../http/errors.js';
import { isCommonPassword } from './common-passwords.js';

/** The rules the forms enforce. Inputs come from forms or JSON, so anything may arrive: arrays, objects, NUL. */

// C0 and C1 control characters (NUL, escape, DEL, ...) have no place in any field.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const length = (s: string) => [...s].length; // code points, so any script counts fairly

const text = (label: string) =>
  z
    .string({ error: (issue) => (issue.input === undefined ? `${label} is required.` : `${label} must be text.`) })
    .refine((s) => !CONTROL.test(s), `${label} contains characters that are not allowed.`);

export const loginName = text('Login')
  .transform((s) => s.trim().toLowerCase())
  .refine((s) => length(s) >= 3 && length(s) <= 32, 'Login must be 3 to 32 characters.')
  .refine((s) => /^[a-z0-9_.-]*$/.test(s), 'Login may contain only letters a-z, digits, and _ . -');

export const email = text('Email')
  .transform((s) => s.trim())
  .refine((s) => s.length <= 254 && z.email().safeParse(s).success, 'Enter a valid email address.');

export const displayName = text('Name')
  .transform((s) => s.trim())
  .refine((s) => length(s) <= 64, 'Name must be at most 64 characters.');

export const newPassword = text('Password')
  .refine((s) => length(s.normalize('NFC')) >= 8, 'Password must be at least 8 characters.')
  .refine((s) => length(s.normalize('NFC')) <= 128, 'Password must be at most 128 characters.')
  .refine((s) => !isCommonPassword(s), 'This password is too common. Choose one that is harder to guess.');

/**
 * A path on this site, judged after normalisation: the WHATWG URL parser resolves it against
 * APP_ORIGIN, and only a same-origin result whose path cannot be read as another host (`//x`,
 * `/\\x`) is kept. `/.//evil.example` normalises to `//evil.example` and is refused.
 */
export function safeReturnTo(value: unknown, appOrigin: string): string | undefined {
  if (typeof value !== 'string' || value.length > 2048 || CONTROL.test(value)) return undefined;
  if (!value.startsWith('/') || value.includes('\\')) return undefined;
  let url: URL;
  try {
    url = new URL(value, appOrigin);
  } catch {
    return undefined;
  }
  if (url.origin !== appOrigin) return undefined;
  const path = url.pathname + url.search + url.hash;
  if (!path.startsWith('/') || path.startsWith('//') || path.startsWith('/\\')) return undefined;
  return path;
}

const registration = z.object({
  login: loginName,
  email,
  name: displayName.optional(),
  password: newPassword,
});

const signIn = z.object({
  login: text('Login')
    .transform((s) => s.trim())
    .refine((s) => s.length >= 1 && s.length <= 254, 'Enter your login or email.'),
  // Existing passwords are checked as they are; only an absurd length is refused outright.
  password: text('Password').refine((s) => s.length >= 1 && s.length <= 1024, 'Enter your password.'),
});

const passwordChange = z.object({
  currentPassword: z.string({ error: 'Enter your current password.' }).min(1, 'Enter your current password.').max(1024),
  newPassword,
});

const addressField = z
    .string({ error: 'Enter the email address you registered with.' })
    .transform((s) => s.trim())
    .refine((s) => s.length <= 254 && !CONTROL.test(s) && z.email().safeParse(s).success, 'Enter the email address you registered with.');

const resend = z.object({ email: addressField });

const emailConfirmation = z.object({
  email: z
    .string({ error: 'Enter the email address you registered with.' })
    .transform((s) => s.trim())
    .refine((s) => s.length <= 254 && !CONTROL.test(s) && z.email().safeParse(s).success, 'Enter the email address you registered with.'),
  code: z
    .string({ error: 'Enter the 6-digit code from the email.' })
    .transform((s) => s.trim())
    .refine((s) => /^\d{6}$/.test(s), 'Enter the 6-digit code from the email.'),
});

export type Registration = { login: string; email: string; name: string; password: string };
export type SignIn = z.infer<typeof signIn>;

function parse<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const fields: Record<string, string> = {};
  for (const issue of result.error.issues) {
    const key = String(issue.path[0] ?? 'form');
    fields[key] ??= issue.message;
  }
  throw new InvalidInput(fields);
}

export function parseRegistration(body: unknown): Registration {
  const data = parse(registration, body);
  return { ...data, name: data.name || data.login };
}

export function parseSignIn(body: unknown): SignIn {
  return parse(signIn, body);
}

export function parsePasswordChange(body: unknown): z.infer<typeof passwordChange> {
  return parse(passwordChange, body);
}

export function parseEmailConfirmation(body: unknown): z.infer<typeof emailConfirmation> {
  return parse(emailConfirmation, body);
}

export function parseResend(body: unknown): z.infer<typeof resend> {
  return parse(resend, body);
}

const forgotPassword = z.object({ email: addressField.transform((s) => s.toLowerCase()) });
const resetPassword = z.object({ newPassword });
const emailChange = z.object({
  currentPassword: z.string({ error: 'Enter your current password.' }).min(1, 'Enter your current password.').max(1024),
  newEmail: email,
});

/** POST /password/forgot: the address (lower-cased: the per-address cap counts it once). */
export function parseForgotPassword(body: unknown): z.infer<typeof forgotPassword> {
  return parse(forgotPassword, body);
}

/** POST /password/reset: the new password, by the registration rules (the token is judged apart). */
export function parseResetPassword(body: unknown): z.infer<typeof resetPassword> {
  return parse(resetPassword, body);
}

/** POST /account/email. */
export function parseEmailChange(body: unknown): z.infer<typeof emailChange> {
  return parse(emailChange, body);
}
