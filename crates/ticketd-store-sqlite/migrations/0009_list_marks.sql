-- PostgreSQL's migration 0009 gives it what SQLite's 0008 gave this store: list counts that
-- stay exact across commits that only open tickets. Here one writer numbers every ticket in
-- commit order (its rowid), so nothing more is needed. The migration is kept, empty, so both
-- stores share numbers.
SELECT 1;
