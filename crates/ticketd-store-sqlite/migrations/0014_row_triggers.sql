-- PostgreSQL's 0014 turns its directory and token triggers into row triggers, so a statement
-- that changes no row moves nothing. SQLite's triggers have always been row triggers, so this
-- version does nothing here and keeps the numbering.
SELECT 1;
