-- A ticket's assignee, viewer, history and comment rows are written only by the store's ticket
-- writes, in the transaction that inserts or updates (under its version check) the ticket they
-- belong to, and tickets are never deleted (`deleted` is a flag), so these keys can never point
-- at a missing ticket. PostgreSQL checked them anyway, one query per row that also locked the
-- ticket's row (FOR KEY SHARE): about 15% of the database's CPU per opening. Grants keep their
-- key; the tickets' own keys (org, applicant) still guard deletes.
ALTER TABLE ticket_assignees DROP CONSTRAINT ticket_assignees_ticket_id_fkey;
ALTER TABLE ticket_viewers DROP CONSTRAINT ticket_viewers_ticket_id_fkey;
ALTER TABLE ticket_history DROP CONSTRAINT ticket_history_ticket_id_fkey;
ALTER TABLE ticket_comments DROP CONSTRAINT ticket_comments_ticket_id_fkey;
