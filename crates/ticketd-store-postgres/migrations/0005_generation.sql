-- The directory generation: increased in the same transaction as every change to the tables
-- that processes cache (organizations, roles, users, memberships, flows, assets, nodes), so a
-- cache that reads it with each request's token knows when to drop what it holds. Triggers, not
-- application code, keep it: no writer can forget. One increase per statement is enough.
CREATE TABLE directory_generation (
    id     integer PRIMARY KEY CHECK (id = 1),
    value  bigint NOT NULL
);
INSERT INTO directory_generation (id, value) VALUES (1, 1);

CREATE FUNCTION bump_directory_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE directory_generation SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER orgs_generation AFTER INSERT OR UPDATE OR DELETE ON orgs
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_generation();
CREATE TRIGGER roles_generation AFTER INSERT OR UPDATE OR DELETE ON roles
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_generation();
CREATE TRIGGER users_generation AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_generation();
CREATE TRIGGER org_members_generation AFTER INSERT OR UPDATE OR DELETE ON org_members
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_generation();
CREATE TRIGGER flows_generation AFTER INSERT OR UPDATE OR DELETE ON flows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_generation();
CREATE TRIGGER assets_generation AFTER INSERT OR UPDATE OR DELETE ON assets
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_generation();
CREATE TRIGGER nodes_generation AFTER INSERT OR UPDATE OR DELETE ON nodes
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_generation();
