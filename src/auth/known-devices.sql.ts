import type { Queryable } from '../db/pool.js';

/**
 * user_devices: the browsers (by the hash of their `device` cookie) and apps (by their fingerprint)
 * each user has signed in from. The attempt guard reads it to spare the owner's devices the per-login
 * delay; a sign-in from a device not in it is news to the user.
 */
export class KnownDevices {
  /** Records that the user signed in from this device; resolves true when it is a new one. */
  async remember(db: Queryable, userId: number, deviceHash: string): Promise<boolean> {
    const { rows } = await db.query<{ inserted: boolean }>(
      `INSERT INTO user_devices (user_id, device_hash) VALUES ($1, $2)
       ON CONFLICT (user_id, device_hash) DO UPDATE SET last_seen_at = now()
       RETURNING (xmax = 0) AS inserted`,
      [userId, deviceHash],
    );
    return rows[0]?.inserted === true;
  }
}
