-- The triggers of 0005 and 0013 ran once per statement, even for a statement that changed no row:
-- deleting a user who does not exist (a refused request) raised the directory generation, and
-- revoking a token nobody holds made every process drop the token lookups it keeps. As row
-- triggers they fire only for rows changed; a statement over many rows raises the generation
-- once per row, in the transaction that already holds its row lock, and the notifications of
-- one transaction are folded into one.
DROP TRIGGER orgs_generation ON orgs;
CREATE TRIGGER orgs_generation AFTER INSERT OR UPDATE OR DELETE ON orgs
    FOR EACH ROW EXECUTE FUNCTION bump_directory_generation();
DROP TRIGGER roles_generation ON roles;
CREATE TRIGGER roles_generation AFTER INSERT OR UPDATE OR DELETE ON roles
    FOR EACH ROW EXECUTE FUNCTION bump_directory_generation();
DROP TRIGGER users_generation ON users;
CREATE TRIGGER users_generation AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION bump_directory_generation();
DROP TRIGGER org_members_generation ON org_members;
CREATE TRIGGER org_members_generation AFTER INSERT OR UPDATE OR DELETE ON org_members
    FOR EACH ROW EXECUTE FUNCTION bump_directory_generation();
DROP TRIGGER flows_generation ON flows;
CREATE TRIGGER flows_generation AFTER INSERT OR UPDATE OR DELETE ON flows
    FOR EACH ROW EXECUTE FUNCTION bump_directory_generation();
DROP TRIGGER assets_generation ON assets;
CREATE TRIGGER assets_generation AFTER INSERT OR UPDATE OR DELETE ON assets
    FOR EACH ROW EXECUTE FUNCTION bump_directory_generation();
DROP TRIGGER nodes_generation ON nodes;
CREATE TRIGGER nodes_generation AFTER INSERT OR UPDATE OR DELETE ON nodes
    FOR EACH ROW EXECUTE FUNCTION bump_directory_generation();

DROP TRIGGER api_tokens_identity ON api_tokens;
CREATE TRIGGER api_tokens_identity AFTER UPDATE OR DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION ticketd_notify_identity();
-- TRUNCATE has no rows to fire for.
CREATE TRIGGER api_tokens_truncate_identity AFTER TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION ticketd_notify_identity();
