import { Batcher } from '../db/batcher.js';
import type { Pool } from '../db/pool.js';
import { withTransaction } from '../db/pool.js';
import type { ChatUser } from './events.js';

/**
 * Chat's own presence: chat_sockets holds every live socket with its user, chat_online the users
 * with at least one. A per-user advisory lock serialises one user's connects and disconnects across
 * processes, so a join and a leave are each announced exactly once.
 */
export class ChatPresence {
  constructor(private readonly pool: Pool) {}

  /**
   * Records the socket; true when the user just came online. Sockets connecting together are
   * recorded in one statement: each user's advisory lock is taken (in user order, so batches on
   * several processes cannot deadlock) before that user's rows are written, which serialises this
   * with remove(); whether a user is new is decided by chat_online's primary key
   * (snapshot-independent), and of one user's sockets in a batch the first is the one that joined.
   */
  add(userId: number, socketId: string): Promise<boolean> {
    return this.additions.add({ userId, socketId });
  }

  private readonly additions = new Batcher<{ userId: number; socketId: string }, boolean>(
    async (items) => {
      const { rows } = await this.pool.query<{ user_id: number }>(
        `WITH input AS (SELECT * FROM unnest($1::int[], $2::text[]) AS t(user_id, socket_id)),
         locked AS MATERIALIZED (
           SELECT user_id, pg_advisory_xact_lock(hashtext('presence'), user_id) AS lock
             FROM (SELECT DISTINCT user_id FROM input ORDER BY user_id) users
         ),
         recorded AS (
           INSERT INTO chat_sockets (socket_id, user_id)
           SELECT i.socket_id, i.user_id FROM input i JOIN locked l USING (user_id) ON CONFLICT DO NOTHING
         )
         INSERT INTO chat_online (user_id) SELECT user_id FROM locked ON CONFLICT DO NOTHING RETURNING user_id`,
        [items.map((i) => i.userId), items.map((i) => i.socketId)],
      );
      const joined = new Set(rows.map((r) => r.user_id));
      return items.map((i) => joined.delete(i.userId));
    },
    { delayMs: 10, maxSize: 500 },
  );

  /**
   * Forgets the socket; true when the user just went offline. Sockets closing together (a crowd
   * leaving, a process shutting down) are forgotten in one transaction: the users' advisory locks
   * first (in user order, as add() takes them), then, in statements that see what every racing
   * connect committed under those locks, their sockets go, and so do the users left with none. Of one
   * user's sockets in a batch, the first is the one reported as the leave.
   */
  remove(userId: number, socketId: string): Promise<boolean> {
    return this.removals.add({ userId, socketId });
  }

  private readonly removals = new Batcher<{ userId: number; socketId: string }, boolean>(
    (items) =>
      withTransaction(this.pool, async (client) => {
        const users = [...new Set(items.map((i) => i.userId))].sort((a, b) => a - b);
        // unnest yields the ids in the array's (ascending) order, and each lock is taken as its row is read.
        await client.query("SELECT pg_advisory_xact_lock(hashtext('presence'), u::int) FROM unnest($1::int[]) AS u", [users]);
        await client.query('DELETE FROM chat_sockets WHERE socket_id = ANY($1::text[])', [items.map((i) => i.socketId)]);
        const { rows } = await client.query<{ user_id: string | number }>(
          'DELETE FROM chat_online o WHERE o.user_id = ANY($1::int[]) AND NOT EXISTS (SELECT 1 FROM chat_sockets s WHERE s.user_id = o.user_id) RETURNING o.user_id',
          [users],
        );
        const left = new Set(rows.map((r) => Number(r.user_id)));
        return items.map((i) => left.delete(i.userId));
      }),
    { delayMs: 10, maxSize: 500 },
  );

  async recordedSocketIds(): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>('SELECT socket_id AS id FROM chat_sockets');
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
      await client.query('DELETE FROM chat_sockets WHERE socket_id = ANY($1::text[])', [staleSocketIds]);
      const { rows } = await client.query<ChatUser>(
        `WITH gone AS (
           DELETE FROM chat_online o WHERE NOT EXISTS (SELECT 1 FROM chat_sockets s WHERE s.user_id = o.user_id)
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
