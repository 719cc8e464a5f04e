-- Up Migration
CREATE TABLE chat_messages (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  text text NOT NULL CHECK (char_length(text) BETWEEN 1 AND 2000),
  sent_at timestamptz NOT NULL DEFAULT now()
);
-- The per-user rate limit counts a user's recent messages.
CREATE INDEX chat_messages_user_sent_idx ON chat_messages (user_id, sent_at DESC);

-- Who is online: users with at least one live socket (on any process). Kept beside the sockets of
-- express_sessions so that joins and leaves are announced exactly once.
CREATE INDEX express_sessions_online_idx ON express_sessions (user_id) WHERE cardinality(socket_ids) > 0;
CREATE TABLE chat_online (
  user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  since timestamptz NOT NULL DEFAULT now()
);

-- @socket.io/postgres-adapter keeps payloads too large for NOTIFY here.
CREATE TABLE socket_io_attachments (
  id bigserial UNIQUE,
  created_at timestamptz DEFAULT now(),
  payload bytea
);

-- Down Migration
DROP TABLE socket_io_attachments;
DROP TABLE chat_online;
DROP INDEX express_sessions_online_idx;
DROP TABLE chat_messages;
