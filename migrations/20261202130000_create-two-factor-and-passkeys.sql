-- Up Migration
-- TOTP: one secret per user, encrypted at rest (AES-256-GCM, a key derived from SESSION_SECRET);
-- enabled_at is null while enrolment waits for its first code. last_step is the highest RFC 6238
-- time step this user has used: a code is accepted only for a later step (no replay).
CREATE TABLE user_totp (
  user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  secret_encrypted text NOT NULL,
  enabled_at timestamptz,
  last_step bigint,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Ten single-use recovery codes per user, stored as SHA-256 hashes (they carry 50 random bits each).
CREATE TABLE recovery_codes (
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  code_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, code_hash)
);

-- A right password of a user with two-factor on: the half sign-in, kept only by the hash of a
-- cookie's random value, for 5 minutes and 5 wrong codes. It signs nobody in.
CREATE TABLE two_factor_pending (
  token_hash text PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  credentials_version integer NOT NULL,
  remember boolean NOT NULL DEFAULT false,
  return_to text,
  attempts integer NOT NULL DEFAULT 0,
  expires_at timestamptz NOT NULL
);
CREATE INDEX two_factor_pending_expires_idx ON two_factor_pending (expires_at);

-- WebAuthn credentials (discoverable, user-verifying).
CREATE TABLE passkeys (
  id bigserial PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  credential_id text NOT NULL UNIQUE,
  public_key bytea NOT NULL,
  counter bigint NOT NULL DEFAULT 0,
  transports text[] NOT NULL DEFAULT '{}',
  device_type text,
  backed_up boolean NOT NULL DEFAULT false,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz
);
CREATE INDEX passkeys_user_idx ON passkeys (user_id);

-- Challenges, single use for 5 minutes, kept server-side: a registration's names its user.
CREATE TABLE webauthn_challenges (
  challenge text PRIMARY KEY,
  purpose text NOT NULL CHECK (purpose IN ('register', 'sign_in')),
  user_id bigint REFERENCES users (id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL
);
CREATE INDEX webauthn_challenges_expires_idx ON webauthn_challenges (expires_at);

-- Down Migration
DROP TABLE webauthn_challenges;
DROP TABLE passkeys;
DROP TABLE two_factor_pending;
DROP TABLE recovery_codes;
DROP TABLE user_totp;
