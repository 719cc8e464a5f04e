-- Up Migration
-- connect-pg-simple's table (sid, sess, expire), created here rather than by createTableIfMissing.
CREATE TABLE express_sessions (
  sid varchar NOT NULL PRIMARY KEY,
  sess json NOT NULL,
  expire timestamptz(6) NOT NULL,
  -- Derived from the session so a user's sessions are found through an index, not a JSON scan.
  user_id bigint GENERATED ALWAYS AS ((sess -> 'passport' -> 'user' ->> 'id')::bigint) STORED
);
CREATE INDEX express_sessions_expire_idx ON express_sessions (expire);
CREATE INDEX express_sessions_user_id_idx ON express_sessions (user_id) WHERE user_id IS NOT NULL;

-- Down Migration
DROP TABLE express_sessions;
