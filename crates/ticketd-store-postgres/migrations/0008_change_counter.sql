-- SQLite's migration 0008 adds a counter of commits that changed existing data, so that a list
-- count can be brought up to date by counting new tickets alone. PostgreSQL keeps no such mark:
-- several processes commit concurrently, and the order in which their new tickets become visible
-- is not the order of any column, so a count here is remembered only while the data version
-- (pg_current_snapshot) is unchanged. The migration is kept, empty, so both stores share numbers.
SELECT 1;
