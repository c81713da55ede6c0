-- Lists are ordered by creation time with the ticket's id as the tie-break (ids are UUIDv7, so
-- time-ordered too). Each list index now has that id right after its time column, so the page a
-- list asks for is read in index order and stops after LIMIT + OFFSET entries instead of sorting
-- every match: 0004's covering columns had come between the time and the tie-break, which made
-- SQLite sort (or pick a narrower index and read every ticket row). Covering columns follow.
DROP INDEX tickets_created;
CREATE INDEX tickets_created ON tickets (created_at, id) WHERE deleted = 0;
DROP INDEX tickets_org_created;
CREATE INDEX tickets_org_created ON tickets (org_id, created_at, id) WHERE deleted = 0;
DROP INDEX tickets_state_created;
CREATE INDEX tickets_state_created ON tickets (state, created_at, id) WHERE deleted = 0;
DROP INDEX tickets_kind_created;
CREATE INDEX tickets_kind_created ON tickets (kind, created_at, id) WHERE deleted = 0;
DROP INDEX tickets_applicant_created;
CREATE INDEX tickets_applicant_created ON tickets (applicant_id, created_at, id) WHERE deleted = 0;
DROP INDEX tickets_scope_created;
CREATE INDEX tickets_scope_created ON tickets (scope, created_at, id) WHERE deleted = 0;
DROP INDEX tickets_state_kind_created;
CREATE INDEX tickets_state_kind_created
    ON tickets (state, kind, created_at, id, archived, title) WHERE deleted = 0;

DROP INDEX ticket_assignees_current;
CREATE INDEX ticket_assignees_current
    ON ticket_assignees (user_id, current, created_at, ticket_id, state, kind, archived, deleted);
DROP INDEX ticket_viewers_user;
CREATE INDEX ticket_viewers_user
    ON ticket_viewers (user_id, created_at, ticket_id, state, kind, archived, deleted);
