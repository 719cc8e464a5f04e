import type { Pool, Queryable } from '../db/pool.js';

export interface Passkey {
  id: number;
  userId: number;
  credentialId: string;
  publicKey: Uint8Array;
  counter: number;
  transports: string[];
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

interface Row {
  id: number;
  user_id: number;
  credential_id: string;
  public_key: Buffer;
  counter: number;
  transports: string[];
  name: string;
  created_at: Date;
  last_used_at: Date | null;
}
const COLUMNS = 'id, user_id, credential_id, public_key, counter, transports, name, created_at, last_used_at';
const toPasskey = (r: Row): Passkey => ({
  id: r.id,
  userId: r.user_id,
  credentialId: r.credential_id,
  publicKey: new Uint8Array(r.public_key),
  counter: Number(r.counter),
  transports: r.transports,
  name: r.name,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
});

/** passkeys: the WebAuthn credentials of each user. */
export class PasskeyStore {
  constructor(private readonly pool: Pool) {}

  async forUser(userId: number): Promise<Passkey[]> {
    const { rows } = await this.pool.query<Row>(`SELECT ${COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id`, [userId]);
    return rows.map(toPasskey);
  }

  async byCredentialId(credentialId: string): Promise<Passkey | undefined> {
    const { rows } = await this.pool.query<Row>(`SELECT ${COLUMNS} FROM passkeys WHERE credential_id = $1`, [credentialId]);
    return rows[0] && toPasskey(rows[0]);
  }

  /** Resolves undefined when that credential is registered already. */
  async add(
    db: Queryable,
    input: { userId: number; credentialId: string; publicKey: Uint8Array; counter: number; transports: string[]; deviceType: string; backedUp: boolean; name: string },
  ): Promise<Passkey | undefined> {
    const { rows } = await db.query<Row>(
      `INSERT INTO passkeys (user_id, credential_id, public_key, counter, transports, device_type, backed_up, name)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (credential_id) DO NOTHING RETURNING ${COLUMNS}`,
      [input.userId, input.credentialId, Buffer.from(input.publicKey), input.counter, input.transports, input.deviceType, input.backedUp, input.name],
    );
    return rows[0] && toPasskey(rows[0]);
  }

  /**
   * A successful use: the new signature counter, only if it moved on from the one this check read
   * (or the authenticator keeps none), so a cloned authenticator or a replay racing this one loses.
   */
  async recordUse(id: number, seenCounter: number, newCounter: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'UPDATE passkeys SET counter = $3, last_used_at = now() WHERE id = $1 AND counter = $2 AND ($3 > $2 OR ($3 = 0 AND $2 = 0))',
      [id, seenCounter, newCounter],
    );
    return rowCount === 1;
  }

  async rename(userId: number, id: number, name: string): Promise<Passkey | undefined> {
    const { rows } = await this.pool.query<Row>(`UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2 RETURNING ${COLUMNS}`, [id, userId, name]);
    return rows[0] && toPasskey(rows[0]);
  }

  async remove(db: Queryable, userId: number, id: number): Promise<Passkey | undefined> {
    const { rows } = await db.query<Row>(`DELETE FROM passkeys WHERE id = $1 AND user_id = $2 RETURNING ${COLUMNS}`, [id, userId]);
    return rows[0] && toPasskey(rows[0]);
  }
}
