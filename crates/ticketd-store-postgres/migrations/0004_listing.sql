-- The audit console filters by state and type and searches titles: a covering index lets
-- PostgreSQL count and page with index-only scans. (SQLite's 0004 also copies listing columns
-- into its assignee and viewer index tables; PostgreSQL's planner does not need that.)
CREATE INDEX tickets_state_kind_created ON tickets (state, kind, created_at, id) INCLUDE (archived, title) WHERE NOT deleted;
