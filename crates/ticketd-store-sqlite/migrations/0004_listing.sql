-- Counts of "my current steps" and "my tickets" read only these index tables: they carry the
-- ticket columns lists filter on, kept in step by every ticket write.
ALTER TABLE ticket_assignees ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE ticket_assignees ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE ticket_assignees ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ticket_assignees ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
UPDATE ticket_assignees SET
    state = (SELECT t.state FROM tickets t WHERE t.id = ticket_assignees.ticket_id),
    kind = (SELECT t.kind FROM tickets t WHERE t.id = ticket_assignees.ticket_id),
    archived = (SELECT t.archived FROM tickets t WHERE t.id = ticket_assignees.ticket_id),
    deleted = (SELECT t.deleted FROM tickets t WHERE t.id = ticket_assignees.ticket_id);
DROP INDEX ticket_assignees_current;
CREATE INDEX ticket_assignees_current
    ON ticket_assignees (user_id, current, created_at, state, kind, archived, deleted);

ALTER TABLE ticket_viewers ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE ticket_viewers ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE ticket_viewers ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ticket_viewers ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
UPDATE ticket_viewers SET
    state = (SELECT t.state FROM tickets t WHERE t.id = ticket_viewers.ticket_id),
    kind = (SELECT t.kind FROM tickets t WHERE t.id = ticket_viewers.ticket_id),
    archived = (SELECT t.archived FROM tickets t WHERE t.id = ticket_viewers.ticket_id),
    deleted = (SELECT t.deleted FROM tickets t WHERE t.id = ticket_viewers.ticket_id);
DROP INDEX ticket_viewers_user;
CREATE INDEX ticket_viewers_user ON ticket_viewers (user_id, created_at, state, kind, archived, deleted);

-- The audit console filters by state and type and searches titles: a covering index lets the
-- count and the page skip the ticket rows until the 20 rows shown.
CREATE INDEX tickets_state_kind_created ON tickets (state, kind, created_at, archived, title) WHERE deleted = 0;
