import type { Pool } from '../db/pool.js';
import { withTransaction } from '../db/pool.js';
import type { ChatUser, Message } from './events.js';

interface MessageRow {
  id: number;
  text: string;
  sent_at: Date;
  user_id: number;
  login: string;
  name: string;
}

const toMessage = (r: MessageRow): Message => ({
  id: r.id,
  text: r.text,
  sentAt: r.sent_at.toISOString(),
  user: { id: r.user_id, login: r.login, name: r.name },
});

/** chat_messages: its SQL and row mapping. */
export class ChatMessages {
  constructor(private readonly pool: Pool) {}

  /** The latest messages, oldest first. */
  async latest(limit = 50): Promise<Message[]> {
    const { rows } = await this.pool.query<MessageRow>(
      `SELECT * FROM (
         SELECT m.id, m.text, m.sent_at, m.user_id, u.login, u.name
           FROM chat_messages m JOIN users u ON u.id = m.user_id
          ORDER BY m.id DESC LIMIT $1
       ) latest ORDER BY id`,
      [limit],
    );
    return rows.map(toMessage);
  }

  /**
   * Stores the message unless the user already sent `limit` messages within `windowMs`. A per-user
   * advisory lock makes the count and the insert one step even when the user's sockets are spread over
   * several processes. Returns undefined when the limit is reached.
   */
  async addWithinLimit(user: ChatUser, text: string, limit: number, windowMs: number): Promise<Message | undefined> {
    return withTransaction(this.pool, async (client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext('chat-rate'), $1::int)", [user.id]);
      const { rows: recent } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM chat_messages WHERE user_id = $1 AND sent_at > now() - $2 * interval '1 millisecond'`,
        [user.id, windowMs],
      );
      if (recent[0]!.n >= limit) return undefined;
      const { rows } = await client.query<{ id: number; sent_at: Date }>(
        'INSERT INTO chat_messages (user_id, text) VALUES ($1, $2) RETURNING id, sent_at',
        [user.id, text],
      );
      return { id: rows[0]!.id, text, sentAt: rows[0]!.sent_at.toISOString(), user: { id: user.id, login: user.login, name: user.name } };
    });
  }
}
