-- Up Migration
-- Every app process may cache sessions by id. Whatever deletes a session row, changes what it holds,
-- or brings its expiry forward (the lifecycle, the sweeper, an operator's SQL) tells every process
-- on channel sign_in_changes, in the same transaction: the notification is delivered if and only if
-- the change commits. Touches that only extend the expiry, and socket-id bookkeeping, say nothing.
CREATE FUNCTION express_sessions_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('sign_in_changes', json_build_object('sids', json_build_array(OLD.sid))::text);
  RETURN NULL;
END;
$$;

CREATE TRIGGER express_sessions_deleted AFTER DELETE ON express_sessions
  FOR EACH ROW EXECUTE FUNCTION express_sessions_notify_change();
CREATE TRIGGER express_sessions_changed AFTER UPDATE ON express_sessions
  FOR EACH ROW WHEN (OLD.sess::text IS DISTINCT FROM NEW.sess::text OR NEW.expire < OLD.expire)
  EXECUTE FUNCTION express_sessions_notify_change();

-- Down Migration
DROP TRIGGER express_sessions_changed ON express_sessions;
DROP TRIGGER express_sessions_deleted ON express_sessions;
DROP FUNCTION express_sessions_notify_change();
