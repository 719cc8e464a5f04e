-- Up Migration
CREATE TABLE users (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- Stored trimmed and lower-cased: the unique index is the case-insensitive rule.
  login text NOT NULL CHECK (login ~ '^[a-z0-9_.-]{3,32}$'),
  -- Stored as typed (trimmed); uniqueness ignores case.
  email text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
  password_hash text NOT NULL,
  password_changed_at timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_login_key ON users (login);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Down Migration
DROP TABLE users;
