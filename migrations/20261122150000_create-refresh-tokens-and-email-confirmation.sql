-- Up Migration
-- Refresh tokens are stored only as SHA-256 hashes, with the hash of the client's fingerprint. A
-- family is one sign-in's chain of rotations; reuse of a spent token revokes the whole family.
CREATE TABLE refresh_tokens (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  token_hash text NOT NULL UNIQUE,
  family_id uuid NOT NULL,
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  fingerprint_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  replaced_by bigint REFERENCES refresh_tokens (id) ON DELETE SET NULL,
  revoked_at timestamptz,
  revoke_reason text
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_live_idx ON refresh_tokens (user_id) WHERE revoked_at IS NULL;

-- Sockets opened with an access token instead of a session cookie (they have no session row).
CREATE TABLE chat_token_sockets (
  socket_id text PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  family_id uuid NOT NULL,
  connected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_token_sockets_user_idx ON chat_token_sockets (user_id);

-- Email confirmation: existing users count as confirmed.
ALTER TABLE users ADD COLUMN email_confirmed boolean NOT NULL DEFAULT true;
CREATE TABLE email_confirmations (
  user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  code_hash text NOT NULL,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE email_confirmations;
ALTER TABLE users DROP COLUMN email_confirmed;
DROP TABLE chat_token_sockets;
DROP TABLE refresh_tokens;
