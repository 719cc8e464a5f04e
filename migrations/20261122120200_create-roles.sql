-- Up Migration
CREATE TABLE roles (
  name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,31}$'),
  description text NOT NULL DEFAULT ''
);
INSERT INTO roles (name, description) VALUES ('admin', 'Can see every user, unlock accounts and expire passwords');

-- A grant may start later or end: only grants active at sign-in go into the session.
CREATE TABLE user_roles (
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role text NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
  starts_at timestamptz,
  ends_at timestamptz,
  granted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, role),
  CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at)
);

-- Down Migration
DROP TABLE user_roles;
DROP TABLE roles;
