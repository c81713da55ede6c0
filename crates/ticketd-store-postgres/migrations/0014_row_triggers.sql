-- The triggers of 0005 and 0013 ran once per statement, even for a statement that changed no row:
-- deleting a user who does not exist (a refused request) raised the directory generation, and
-- revoking a token nobody holds made every process drop the token lookups it keeps. As row
-- triggers they fire only for rows changed; a statement over many rows raises the generation
-- once per row, in the transaction that already holds its row lock, and the notifications of
-- one transaction are folded into one.
DO $$
DECLARE
    directory_table text;
BEGIN
    FOREACH directory_table IN ARRAY
        ARRAY['orgs', 'roles', 'users', 'org_members', 'flows', 'assets', 'nodes']
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %I', directory_table || '_generation', directory_table);
        EXECUTE format(
            'CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I '
            'FOR EACH ROW EXECUTE FUNCTION bump_directory_generation()',
            directory_table || '_generation',
            directory_table
        );
    END LOOP;
END $$;

DROP TRIGGER api_tokens_identity ON api_tokens;
CREATE TRIGGER api_tokens_identity AFTER UPDATE OR DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION ticketd_notify_identity();
-- TRUNCATE has no rows to fire for.
CREATE TRIGGER api_tokens_truncate_identity AFTER TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION ticketd_notify_identity();
