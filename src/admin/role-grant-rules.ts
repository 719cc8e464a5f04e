import { z } from 'zod';
import { InvalidInput } from '../http/errors.js';

export const ROLE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/;

/** ISO 8601: `YYYY-MM-DD` means 00:00 UTC; a date-time needs its offset. Undefined when it does not parse. */
function parseWhen(value: string): Date | undefined {
  if (!DATE_ONLY.test(value) && !DATE_TIME.test(value)) return undefined;
  const date = new Date(DATE_ONLY.test(value) ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(date.getTime())) return undefined;
  // 2026-02-31 rolls over in Date: refuse it instead.
  if (DATE_ONLY.test(value) && date.toISOString().slice(0, 10) !== value) return undefined;
  return date;
}

const when = () =>
  z
    .string({ error: 'validation.date' })
    .trim()
    .optional()
    .transform((v, ctx) => {
      if (!v) return null;
      const date = parseWhen(v);
      if (!date) {
        ctx.addIssue({ code: 'custom', message: 'validation.date' });
        return z.NEVER;
      }
      return date;
    });

const grant = z.object({
  role: z.string({ error: 'validation.role' }).trim().regex(ROLE_NAME, 'validation.role'),
  startsAt: when(),
  endsAt: when(),
});

export interface RoleGrantInput {
  role: string;
  startsAt: Date | null;
  endsAt: Date | null;
}

/** The role and its optional dates; an end at or before the start is refused. */
export function parseRoleGrant(body: unknown): RoleGrantInput {
  const parsed = grant.safeParse(body ?? {});
  if (!parsed.success) {
    const fields: Record<string, string> = {};
    for (const issue of parsed.error.issues) fields[String(issue.path[0] ?? 'form')] ??= issue.message;
    throw new InvalidInput(fields);
  }
  const { role, startsAt, endsAt } = parsed.data;
  if (startsAt && endsAt && endsAt <= startsAt) throw new InvalidInput({ endsAt: 'validation.end_before_start' });
  return { role, startsAt, endsAt };
}
