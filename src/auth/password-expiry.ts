/**
 * The one expired-password rule, for every path (form and token sign-in, refresh, bearer requests,
 * both kinds of socket): marked by an administrator, or older than PASSWORD_MAX_AGE_DAYS (0 = never).
 */
export function isPasswordExpired(state: { marked: boolean; changedAt: number }, maxAgeDays: number, now = Date.now()): boolean {
  if (state.marked) return true;
  return maxAgeDays > 0 && state.changedAt < now - maxAgeDays * 86_400_000;
}
