import type { Pool, PoolClient } from '../db/pool.js';
import { withTransaction } from '../db/pool.js';
import type { ChatUser } from './events.js';

const lockUser = (client: PoolClient, userId: number) => client.query("SELECT pg_advisory_xact_lock(hashtext('presence'), $1::int)", [userId]);

const socketsOf = async (client: PoolClient, userId: number) =>
  (
    await client.query<{ n: number }>(
      `SELECT (SELECT coalesce(sum(cardinality(socket_ids)), 0) FROM express_sessions WHERE user_id = $1)
            + (SELECT count(*) FROM chat_token_sockets WHERE user_id = $1) AS n`,
      [userId],
    )
  ).rows[0]!.n;

/** What holds a socket: a browser session (its row records the socket) or a token sign-in. */
export type SocketOwner = { sid: string } | { familyId: string };

/**
 * Each session row records the ids of its live sockets (express_sessions.socket_ids); chat_online
 * holds the users with at least one. A per-user advisory lock serialises one user's connects and
 * disconnects across processes, so a join and a leave are each announced exactly once.
 */
export class SocketPresence {
  constructor(private readonly pool: Pool) {}

  /** Records the socket on its session (or token sign-in); true when the user just came online. */
  async add(userId: number, owner: SocketOwner, socketId: string): Promise<boolean> {
    return withTransaction(this.pool, async (client) => {
      await lockUser(client, userId);
      const { rowCount } =
        'sid' in owner
          ? await client.query('UPDATE express_sessions SET socket_ids = array_append(array_remove(socket_ids, $2), $2) WHERE sid = $1', [owner.sid, socketId])
          : await client.query('INSERT INTO chat_token_sockets (socket_id, user_id, family_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [socketId, userId, owner.familyId]);
      if (rowCount !== 1) return false; // the session ended meanwhile; the socket is being closed
      const joined = await client.query('INSERT INTO chat_online (user_id) VALUES ($1) ON CONFLICT DO NOTHING', [userId]);
      return joined.rowCount === 1;
    });
  }

  /** Forgets the socket (if its session still exists); true when the user just went offline. */
  async remove(userId: number, owner: SocketOwner, socketId: string): Promise<boolean> {
    return withTransaction(this.pool, async (client) => {
      await lockUser(client, userId);
      if ('sid' in owner) await client.query('UPDATE express_sessions SET socket_ids = array_remove(socket_ids, $2) WHERE sid = $1', [owner.sid, socketId]);
      else await client.query('DELETE FROM chat_token_sockets WHERE socket_id = $1', [socketId]);
      if ((await socketsOf(client, userId)) > 0) return false;
      const left = await client.query('DELETE FROM chat_online WHERE user_id = $1', [userId]);
      return left.rowCount === 1;
    });
  }

  /** Every socket id the session rows claim, for checking against the sockets that really exist. */
  async recordedSocketIds(): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      'SELECT unnest(socket_ids) AS id FROM express_sessions WHERE cardinality(socket_ids) > 0 UNION ALL SELECT socket_id FROM chat_token_sockets',
    );
    return rows.map((r) => r.id);
  }

  /**
   * Drops socket ids that no process holds any more (a process that crashed could not clean up) and
   * returns the users who are thereby offline. Callers pass only ids recorded before they asked the
   * cluster which sockets exist, so a socket connecting meanwhile is never dropped.
   */
  async forget(staleSocketIds: string[]): Promise<ChatUser[]> {
    if (!staleSocketIds.length) return [];
    return withTransaction(this.pool, async (client) => {
      await client.query(
        `UPDATE express_sessions SET socket_ids = ARRAY(SELECT unnest(socket_ids) EXCEPT SELECT unnest($1::text[]))
          WHERE socket_ids && $1::text[]`,
        [staleSocketIds],
      );
      await client.query('DELETE FROM chat_token_sockets WHERE socket_id = ANY($1::text[])', [staleSocketIds]);
      const { rows } = await client.query<ChatUser>(
        `WITH gone AS (
           DELETE FROM chat_online o
            WHERE NOT EXISTS (SELECT 1 FROM express_sessions e WHERE e.user_id = o.user_id AND cardinality(e.socket_ids) > 0)
              AND NOT EXISTS (SELECT 1 FROM chat_token_sockets t WHERE t.user_id = o.user_id)
            RETURNING user_id)
         SELECT u.id, u.login, u.name FROM users u JOIN gone ON gone.user_id = u.id`,
      );
      return rows;
    });
  }

  /** Everyone online, on every process. */
  async online(): Promise<ChatUser[]> {
    const { rows } = await this.pool.query<ChatUser>(
      'SELECT u.id, u.login, u.name FROM chat_online o JOIN users u ON u.id = o.user_id ORDER BY o.since, u.id',
    );
    return rows;
  }
}
