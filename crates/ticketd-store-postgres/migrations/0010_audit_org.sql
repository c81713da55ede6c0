-- As SQLite's 0010: the audit console's list is always of one organization, so the ticket's
-- organization joins the covering columns of its index, and an index-only scan tests it there
-- instead of fetching each candidate's heap row.
DROP INDEX tickets_state_kind_created;
CREATE INDEX tickets_state_kind_created
    ON tickets (state, kind, created_at, id) INCLUDE (archived, title, org_id) WHERE NOT deleted;
