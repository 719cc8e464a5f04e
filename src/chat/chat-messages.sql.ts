import type { Pool } from '../db/pool.js';
import type { ChatUser, Message } from './events.js';

interface MessageRow {
  id: number;
  text: string;
  sent_at: Date;
  user_id: number | null;
  login: string | null;
  name: string | null;
}

/** The author of a message whose account was deleted. */
export const DELETED_USER = { id: null, login: null, name: 'Deleted user' } as const;

const toMessage = (r: MessageRow): Message => ({
  id: r.id,
  text: r.text,
  sentAt: r.sent_at.toISOString(),
  user: r.user_id === null ? DELETED_USER : { id: r.user_id, login: r.login!, name: r.name! },
});

/** chat_messages: its SQL and row mapping. */
export class ChatMessages {
  constructor(private readonly pool: Pool) {}

  /** The latest messages, oldest first. */
  async latest(limit = 50): Promise<Message[]> {
    const { rows } = await this.pool.query<MessageRow>(
      `SELECT * FROM (
         SELECT m.id, m.text, m.sent_at, m.user_id, u.login, u.name
           FROM chat_messages m LEFT JOIN users u ON u.id = m.user_id
          ORDER BY m.id DESC LIMIT $1
       ) latest ORDER BY id`,
      [limit],
    );
    return rows.map(toMessage);
  }

  /** One user's messages, oldest first (their data export). */
  async byUser(userId: number): Promise<{ id: number; text: string; sentAt: string }[]> {
    const { rows } = await this.pool.query<{ id: number; text: string; sent_at: Date }>('SELECT id, text, sent_at FROM chat_messages WHERE user_id = $1 ORDER BY id', [userId]);
    return rows.map((r) => ({ id: r.id, text: r.text, sentAt: r.sent_at.toISOString() }));
  }

  /**
   * Stores the message unless the user already sent `limit` messages within `windowMs`, in one
   * statement: the user's row in chat_send_windows is locked by the upsert and judged on its latest
   * version, so racing sends on several processes cannot pass the limit. Undefined when it is reached.
   */
  async addWithinLimit(user: ChatUser, text: string, limit: number, windowMs: number): Promise<Message | undefined> {
    const { rows } = await this.pool.query<{ id: number; sent_at: Date }>(
      `WITH gate AS (
         INSERT INTO chat_send_windows AS w (user_id, recent) VALUES ($1, ARRAY[now()])
         ON CONFLICT (user_id) DO UPDATE
           SET recent = ARRAY(SELECT t FROM unnest(w.recent) AS t WHERE t > now() - $3 * interval '1 millisecond' ORDER BY t) || now()
           WHERE (SELECT count(*) FROM unnest(w.recent) AS t WHERE t > now() - $3 * interval '1 millisecond') < $4
         RETURNING user_id
       )
       INSERT INTO chat_messages (user_id, text) SELECT user_id, $2 FROM gate RETURNING id, sent_at`,
      [user.id, text, windowMs, limit],
    );
    const row = rows[0];
    return row && { id: row.id, text, sentAt: row.sent_at.toISOString(), user: { id: user.id, login: user.login, name: user.name } };
  }
}
