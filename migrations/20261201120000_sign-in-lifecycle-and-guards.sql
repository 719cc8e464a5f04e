-- Up Migration

-- Bumped whenever the credentials that sign a user in change (password change, later reset and
-- disable): a sign-in that checked an older version is refused when it completes.
ALTER TABLE users ADD COLUMN credentials_version integer NOT NULL DEFAULT 0;
-- Set by an administrator: no sign-in, no token, no message until enabled again.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;

-- security.sessions records both kinds of sign-in: a browser session or a token family.
ALTER TABLE security.sessions
  ADD COLUMN kind text NOT NULL DEFAULT 'browser' CHECK (kind IN ('browser', 'app')),
  ADD COLUMN family_id uuid;
UPDATE security.sessions SET kind = 'app', family_id = substring(handle FROM 7)::uuid WHERE handle LIKE 'token:%';
CREATE UNIQUE INDEX security_sessions_family_key ON security.sessions (family_id) WHERE family_id IS NOT NULL;
CREATE INDEX security_sessions_open_idx ON security.sessions (user_id) WHERE ended_at IS NULL;

-- The sweeper finds families whose newest token ran out.
CREATE INDEX refresh_tokens_expiring_idx ON refresh_tokens (expires_at) WHERE revoked_at IS NULL AND used_at IS NULL;

-- Sockets opened with an access token belong to a token sign-in (the sessions feature owns them, as
-- express_sessions.socket_ids records a browser session's).
ALTER TABLE chat_token_sockets RENAME TO app_sign_in_sockets;
ALTER INDEX chat_token_sockets_user_idx RENAME TO app_sign_in_sockets_user_idx;
CREATE INDEX app_sign_in_sockets_family_idx ON app_sign_in_sockets (family_id);

-- Chat's own presence: every live socket of a user, whatever signed it in.
CREATE TABLE chat_sockets (
  socket_id text PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  connected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_sockets_user_idx ON chat_sockets (user_id);
DROP INDEX express_sessions_online_idx;

-- The chat rate limit's authority: the send times of a user's latest messages, updated with the
-- message insert in one statement (the row lock orders racing sends across processes).
CREATE TABLE chat_send_windows (
  user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  recent timestamptz[] NOT NULL DEFAULT '{}'
);

-- Browsers (device cookie, stored hashed) and apps (fingerprint, hashed) a user has signed in from:
-- the per-login delay spares them, and later the "new sign-in" notice skips them.
CREATE TABLE user_devices (
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  device_hash text NOT NULL,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, device_hash)
);

-- Fixed-window counters for rules that count requests, not failures (registration per IP, codes
-- sent per address).
CREATE TABLE rate_counters (
  key text PRIMARY KEY,
  hits integer NOT NULL,
  window_started_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE rate_counters;
DROP TABLE user_devices;
DROP TABLE chat_send_windows;
CREATE INDEX express_sessions_online_idx ON express_sessions (user_id) WHERE cardinality(socket_ids) > 0;
DROP TABLE chat_sockets;
DROP INDEX app_sign_in_sockets_family_idx;
ALTER INDEX app_sign_in_sockets_user_idx RENAME TO chat_token_sockets_user_idx;
ALTER TABLE app_sign_in_sockets RENAME TO chat_token_sockets;
DROP INDEX refresh_tokens_expiring_idx;
DROP INDEX security_sessions_open_idx;
DROP INDEX security_sessions_family_key;
ALTER TABLE security.sessions DROP COLUMN family_id, DROP COLUMN kind;
ALTER TABLE users DROP COLUMN disabled_at, DROP COLUMN credentials_version;
