-- Up Migration
CREATE SCHEMA IF NOT EXISTS security;

-- One row per sign-in. `handle` is the public id of the session (never the session id itself).
CREATE TABLE security.sessions (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  handle text NOT NULL UNIQUE,
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  ip text,
  user_agent text,
  started_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz,
  end_reason text
);
CREATE INDEX security_sessions_user_idx ON security.sessions (user_id, started_at DESC);

-- Failed sign-ins, throttling, logouts, password changes, unlocks, expiries... Nothing secret.
CREATE TABLE security.events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  type text NOT NULL,
  user_id bigint REFERENCES users (id) ON DELETE SET NULL,
  login text,
  ip text,
  session_handle text,
  actor_id bigint REFERENCES users (id) ON DELETE SET NULL,
  detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX security_events_at_idx ON security.events (at DESC);
CREATE INDEX security_events_user_idx ON security.events (user_id, at DESC);

-- The session's public handle and its live sockets, beside connect-pg-simple's columns.
ALTER TABLE express_sessions
  ADD COLUMN handle text GENERATED ALWAYS AS (sess ->> 'handle') STORED,
  ADD COLUMN socket_ids text[] NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX express_sessions_handle_key ON express_sessions (handle) WHERE handle IS NOT NULL;

ALTER TABLE users ADD COLUMN password_expired boolean NOT NULL DEFAULT false;

-- Failed-attempt counters: per login+IP (consecutive), per IP (daily) and per login (daily).
-- Keys hold the login as typed-and-normalised, so unknown logins count exactly like known ones.
CREATE TABLE login_throttle (
  key text PRIMARY KEY,
  failures integer NOT NULL,
  window_started_at timestamptz NOT NULL DEFAULT now(),
  last_failure_at timestamptz NOT NULL DEFAULT now(),
  blocked_until timestamptz
);
CREATE INDEX login_throttle_last_failure_idx ON login_throttle (last_failure_at);

-- IPs a login has signed in from: the per-login delay does not apply to them, so a stranger
-- failing from elsewhere cannot keep the owner out.
CREATE TABLE login_known_ips (
  login text NOT NULL,
  ip text NOT NULL,
  last_success_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (login, ip)
);

-- Down Migration
DROP TABLE login_known_ips;
DROP TABLE login_throttle;
ALTER TABLE users DROP COLUMN password_expired;
DROP INDEX express_sessions_handle_key;
ALTER TABLE express_sessions DROP COLUMN socket_ids, DROP COLUMN handle;
DROP SCHEMA security CASCADE;
