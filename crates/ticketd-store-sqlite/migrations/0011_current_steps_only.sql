-- Lists ask the assignee index only for current steps (`current = 1`: JumpServer's
-- `assignees__id`), never for the other levels' rows, yet it held an entry for every row. As a
-- partial index it holds half of them in a two-level flow, and a level's decision moves two
-- entries instead of four (its own row leaves the index, the next level's enters): fewer pages
-- in each commit's log.
DROP INDEX ticket_assignees_current;
CREATE INDEX ticket_assignees_current
    ON ticket_assignees (user_id, created_at, ticket_id, state, kind, archived, deleted)
    WHERE current = 1;
