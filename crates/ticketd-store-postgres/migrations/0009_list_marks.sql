-- Exact list counts across commits that only open tickets (see `ListMark`). A count taken in one
-- snapshot stays exact, up to the tickets inserted since, while no commit changed a row a count
-- reads (a ticket, its assignee and viewer rows) other than by inserting a new ticket:
-- `list_changes` counts those commits, and every ticket records the transaction that inserted it,
-- so the new ones are found by an index range however the list itself is driven.
CREATE TABLE list_changes (
    id      integer PRIMARY KEY CHECK (id = 1),
    changes bigint  NOT NULL
);
INSERT INTO list_changes (id, changes) VALUES (1, 0);

-- Tickets from before this migration keep NULL: every one of them was settled before any mark
-- could be taken. The partial index serves `inserted_xid >= $1`, which implies NOT NULL.
ALTER TABLE tickets ADD COLUMN inserted_xid bigint;
ALTER TABLE tickets ALTER COLUMN inserted_xid SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX tickets_inserted_xid ON tickets (inserted_xid) WHERE inserted_xid IS NOT NULL;

-- A transaction that changes such rows leaves one row here; the deferred trigger below raises
-- the counter and removes the row when the transaction commits. Raising it at commit makes its
-- row lock the last lock the transaction takes (after any ticket row or the outbox lock), so
-- two writers can never wait on each other through it.
CREATE TABLE list_change_pending (
    xid bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)
);

CREATE FUNCTION ticketd_note_list_change() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- Once per transaction; a rolled-back savepoint takes the setting back with the row.
    IF current_setting('ticketd.list_changed', true) IS DISTINCT FROM 'yes' THEN
        PERFORM set_config('ticketd.list_changed', 'yes', true);
        INSERT INTO list_change_pending DEFAULT VALUES;
    END IF;
END $$;

CREATE FUNCTION ticketd_list_rows_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ticketd_note_list_change();
    RETURN NULL;
END $$;

-- Assignee and viewer rows inserted for a ticket this same transaction inserted are part of
-- opening it; rows added to an older ticket change what its lists count. The correlated
-- subquery looks each row's ticket up by its key (a join here could be planned as a scan of
-- every ticket: the transition table has no statistics).
CREATE FUNCTION ticketd_list_rows_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ticketd.list_changed', true) IS DISTINCT FROM 'yes'
       AND EXISTS (SELECT 1 FROM added
                   WHERE (SELECT t.inserted_xid FROM tickets t WHERE t.id = added.ticket_id)
                         IS DISTINCT FROM pg_current_xact_id()::text::bigint) THEN
        PERFORM ticketd_note_list_change();
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION ticketd_count_list_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE list_changes SET changes = changes + 1 WHERE id = 1;
    DELETE FROM list_change_pending WHERE xid = NEW.xid;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER list_change_at_commit AFTER INSERT ON list_change_pending
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ticketd_count_list_change();

CREATE TRIGGER tickets_list_change AFTER UPDATE OR DELETE OR TRUNCATE ON tickets
    FOR EACH STATEMENT EXECUTE FUNCTION ticketd_list_rows_changed();
CREATE TRIGGER ticket_assignees_list_change AFTER UPDATE OR DELETE OR TRUNCATE ON ticket_assignees
    FOR EACH STATEMENT EXECUTE FUNCTION ticketd_list_rows_changed();
CREATE TRIGGER ticket_viewers_list_change AFTER UPDATE OR DELETE OR TRUNCATE ON ticket_viewers
    FOR EACH STATEMENT EXECUTE FUNCTION ticketd_list_rows_changed();
CREATE TRIGGER ticket_assignees_list_add AFTER INSERT ON ticket_assignees
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ticketd_list_rows_added();
CREATE TRIGGER ticket_viewers_list_add AFTER INSERT ON ticket_viewers
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ticketd_list_rows_added();
