-- Counts of "my current steps" and "my tickets" read only the assignee and viewer tables: they
-- carry the ticket columns lists filter on (as SQLite's have since its 0004), kept in step by
-- every ticket write, and their list indexes INCLUDE them, so PostgreSQL counts with an
-- index-only scan instead of visiting one ticket row per step.
ALTER TABLE ticket_assignees
    ADD COLUMN state text NOT NULL DEFAULT 'pending',
    ADD COLUMN kind text NOT NULL DEFAULT '',
    ADD COLUMN archived boolean NOT NULL DEFAULT false,
    ADD COLUMN deleted boolean NOT NULL DEFAULT false;
UPDATE ticket_assignees a SET state = t.state, kind = t.kind, archived = t.archived, deleted = t.deleted
    FROM tickets t WHERE t.id = a.ticket_id;
DROP INDEX ticket_assignees_current;
CREATE INDEX ticket_assignees_current ON ticket_assignees (user_id, current, created_at, ticket_id)
    INCLUDE (state, kind, archived, deleted);
DROP INDEX ticket_assignees_awaiting;
CREATE INDEX ticket_assignees_awaiting ON ticket_assignees (user_id, created_at, ticket_id)
    INCLUDE (state, kind, archived, deleted) WHERE awaiting;

ALTER TABLE ticket_viewers
    ADD COLUMN state text NOT NULL DEFAULT 'pending',
    ADD COLUMN kind text NOT NULL DEFAULT '',
    ADD COLUMN archived boolean NOT NULL DEFAULT false,
    ADD COLUMN deleted boolean NOT NULL DEFAULT false;
UPDATE ticket_viewers v SET state = t.state, kind = t.kind, archived = t.archived, deleted = t.deleted
    FROM tickets t WHERE t.id = v.ticket_id;
DROP INDEX ticket_viewers_user;
CREATE INDEX ticket_viewers_user ON ticket_viewers (user_id, created_at, ticket_id)
    INCLUDE (state, kind, archived, deleted);
