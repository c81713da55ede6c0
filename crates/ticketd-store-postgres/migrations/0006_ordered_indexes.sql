-- SQLite's 0006 puts each list index's tie-break (the ticket id) right after its time column so
-- pages are read in index order. PostgreSQL's list indexes have had that shape since 0001 (and
-- 0004 keeps covering columns in INCLUDE, outside the order), so nothing changes here; the file
-- keeps the two backends' migration numbers in step.
SELECT 1;
