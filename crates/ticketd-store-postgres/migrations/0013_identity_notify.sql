-- Each process keeps token lookups while nothing they read has changed (`identity.rs`): every
-- commit that changes a token, or the directory (whose triggers raise `directory_generation`:
-- organizations, roles, users, memberships, flows, assets, nodes), notifies this channel, and a
-- listener in each process drops what it keeps. New tokens notify nothing: only tokens found
-- are kept.
CREATE FUNCTION ticketd_notify_identity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ticketd_identity', '');
    RETURN NULL;
END $$;

CREATE TRIGGER api_tokens_identity AFTER UPDATE OR DELETE OR TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION ticketd_notify_identity();
CREATE TRIGGER directory_generation_identity AFTER UPDATE ON directory_generation
    FOR EACH STATEMENT EXECUTE FUNCTION ticketd_notify_identity();
