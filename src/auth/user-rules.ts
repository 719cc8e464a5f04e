import { z } from 'zod';
import { InvalidInput } from '../http/errors.js';
import { isCommonPassword } from './common-passwords.js';

/** The rules the forms enforce. Inputs come from forms or JSON, so anything may arrive: arrays, objects, NUL. */

// C0 and C1 control characters (NUL, escape, DEL, ...) have no place in any field.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const length = (s: string) => [...s].length; // code points, so any script counts fairly

/** Messages are catalogue keys (locales/*.json): the error handler writes them in the reader's language. */
const text = () =>
  z
    .string({ error: (issue) => (issue.input === undefined ? 'validation.required' : 'validation.not_text') })
    .refine((s) => !CONTROL.test(s), 'validation.control_characters');

export const loginName = text()
  .transform((s) => s.trim().toLowerCase())
  .refine((s) => length(s) >= 3 && length(s) <= 32, 'validation.login_length')
  .refine((s) => /^[a-z0-9_.-]*$/.test(s), 'validation.login_characters');

export const email = text()
  .transform((s) => s.trim())
  .refine((s) => s.length <= 254 && z.email().safeParse(s).success, 'validation.email');

export const displayName = text()
  .transform((s) => s.trim())
  .refine((s) => length(s) <= 64, 'validation.name_length');

export const newPassword = text()
  .refine((s) => length(s.normalize('NFC')) >= 8, 'validation.password_short')
  .refine((s) => length(s.normalize('NFC')) <= 128, 'validation.password_long')
  .refine((s) => !isCommonPassword(s), 'validation.password_common');

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
  login: text()
    .transform((s) => s.trim())
    .refine((s) => s.length >= 1 && s.length <= 254, 'validation.sign_in_login'),
  // Existing passwords are checked as they are; only an absurd length is refused outright.
  password: text().refine((s) => s.length >= 1 && s.length <= 1024, 'validation.sign_in_password'),
});

const passwordChange = z.object({
  currentPassword: z.string({ error: 'validation.current_password' }).min(1, 'validation.current_password').max(1024),
  newPassword,
});

const addressField = z
    .string({ error: 'validation.registered_email' })
    .transform((s) => s.trim())
    .refine((s) => s.length <= 254 && !CONTROL.test(s) && z.email().safeParse(s).success, 'validation.registered_email');

const resend = z.object({ email: addressField });

const emailConfirmation = z.object({
  email: z
    .string({ error: 'validation.registered_email' })
    .transform((s) => s.trim())
    .refine((s) => s.length <= 254 && !CONTROL.test(s) && z.email().safeParse(s).success, 'validation.registered_email'),
  code: z
    .string({ error: 'validation.email_code' })
    .transform((s) => s.trim())
    .refine((s) => /^\d{6}$/.test(s), 'validation.email_code'),
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
  currentPassword: z.string({ error: 'validation.current_password' }).min(1, 'validation.current_password').max(1024),
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
