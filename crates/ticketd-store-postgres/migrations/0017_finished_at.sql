-- When a ticket became finished (DataArts' `end_time`, its END_TIME order), kept apart from
-- `updated_at`, which later marks (archive, confirm) move. Finished tickets take the time of the
-- last transition into a finished state their history records, or their last change.
ALTER TABLE tickets ADD COLUMN finished_at timestamptz;
UPDATE tickets SET finished_at = COALESCE(
    (SELECT MAX(h.created_at) FROM ticket_history h
     WHERE h.ticket_id = tickets.id
       AND h.to_state IN ('approved', 'rejected', 'closed')
       AND h.from_state NOT IN ('approved', 'rejected', 'closed')),
    updated_at)
WHERE state IN ('approved', 'rejected', 'closed');
