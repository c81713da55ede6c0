-- The audit console's list (JumpServer /audits/tickets/) is always of one organization, and its
-- index (state, kind, created_at, id, archived, title) did not hold the ticket's organization:
-- every candidate a search tested cost a seek to the ticket row just to read `org_id`, whether
-- its title matched or not. With `org_id` among the covering columns, the candidates are tested
-- in the index and only the page's rows are read (a count of such a search reads no ticket row).
DROP INDEX tickets_state_kind_created;
CREATE INDEX tickets_state_kind_created
    ON tickets (state, kind, created_at, id, archived, title, org_id) WHERE deleted = 0;
