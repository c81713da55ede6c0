-- PostgreSQL's 0007 gives its assignee and viewer tables the listing columns SQLite's have
-- carried since 0004; nothing changes here. The file keeps the backends' migration numbers in step.
SELECT 1;
