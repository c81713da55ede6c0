-- When a ticket became finished (DataArts' `end_time`, its END_TIME order), kept apart from
-- `updated_at`, which later marks (archive, confirm) move. Added empty, without rewriting the
-- table: a finished ticket stored without it reads its last change instead
-- (`ticket::end_as_stored`), as does one an older process finishes during an upgrade.
ALTER TABLE tickets ADD COLUMN finished_at timestamptz;
