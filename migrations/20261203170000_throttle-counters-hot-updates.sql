-- Up Migration
-- Every sign-in updates its counters twice (reserve, then release): the IP's row is updated by every
-- sign-in from that address. With an index on last_failure_at, each of those updates wrote a new
-- index entry in both indexes and left the old row version for VACUUM (10,000 dead versions for 55
-- live rows after a few thousand sign-ins). Without it, and with room left on each page, the updates
-- are HOT: no index writes, and old versions are pruned on the page. Pruning stale counters reads the
-- whole table instead, once in a while (pruneStale), which is cheap next to a write on every attempt.
DROP INDEX login_throttle_last_failure_idx;
ALTER TABLE login_throttle SET (fillfactor = 50, autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 200);
-- Each success also moves last_success_at (not indexed): room for HOT updates there too.
ALTER TABLE login_known_ips SET (fillfactor = 70);

-- Down Migration
ALTER TABLE login_known_ips RESET (fillfactor);
ALTER TABLE login_throttle RESET (fillfactor, autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold);
CREATE INDEX login_throttle_last_failure_idx ON login_throttle (last_failure_at);
