import type { RoleGrant } from '../types.js';

/** The roles of these grants that are active at `now`: started (or no start) and not ended. */
export function activeRoles(grants: readonly RoleGrant[], now = Date.now()): string[] {
  return grants.filter((g) => (g.startsAt === null || g.startsAt <= now) && (g.endsAt === null || g.endsAt > now)).map((g) => g.role);
}
