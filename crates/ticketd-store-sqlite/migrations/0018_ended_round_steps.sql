-- A resubmission's history entry keeps the levels of the round it ended, so that round's
-- decisions show under the levels they were made at once the process has changed (TopHC's
-- `processers`, ZStack's `flowName`). Added empty, without rewriting the table: entries stored
-- before it read the ticket's current levels, as they did.
ALTER TABLE ticket_history ADD COLUMN ended_round_steps TEXT;
