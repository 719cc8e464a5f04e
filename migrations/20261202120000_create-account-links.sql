-- Up Migration
-- Links sent by mail that act on an account: a password reset (60 minutes), "this wasn't me"
-- (7 days) and the confirmation of a new email address (24 hours). Only a hash of each token is
-- kept; a link is used by deleting its row, so exactly one use succeeds.
CREATE TABLE account_links (
  token_hash text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('password_reset', 'not_me', 'email_change')),
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- A reset link dies when the password changes by any means: it names the credentials it was sent for.
  credentials_version integer NOT NULL,
  new_email text CHECK (kind <> 'email_change' OR new_email IS NOT NULL),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
-- One live reset link and one pending email change per user: a newer one replaces the older.
CREATE UNIQUE INDEX account_links_newest_idx ON account_links (user_id, kind) WHERE kind IN ('password_reset', 'email_change');
CREATE INDEX account_links_expires_idx ON account_links (expires_at);

-- Down Migration
DROP TABLE account_links;
