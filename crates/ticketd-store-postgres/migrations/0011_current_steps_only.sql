-- Lists ask the assignee index only for current steps (`current`: JumpServer's
-- `assignees__id`), never for the other levels' rows, yet it held an entry for every row. As a
-- partial index it holds half of them in a two-level flow, and a level's decision changes two
-- entries instead of four.
DROP INDEX ticket_assignees_current;
CREATE INDEX ticket_assignees_current ON ticket_assignees (user_id, created_at, ticket_id)
    INCLUDE (state, kind, archived, deleted) WHERE current;
