-- Nobody is a member of the global or system organization; `ticketd user create --org ROOT`
-- made such members before the core refused it, and a member of ROOT entered it as a plain user.
DELETE FROM org_members
WHERE org_id IN (X'00000000000000000000000000000000', X'00000000000000000000000000000004');
