-- The directory generation: increased in the same transaction as every change to the tables
-- that processes cache (organizations, roles, users, memberships, flows, assets, nodes), so a
-- cache that reads it with each request's token knows when to drop what it holds. Triggers, not
-- application code, keep it: no writer can forget, the CLI included.
CREATE TABLE directory_generation (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    value  INTEGER NOT NULL
);
INSERT INTO directory_generation (id, value) VALUES (1, 1);

CREATE TRIGGER orgs_generation_insert AFTER INSERT ON orgs BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER orgs_generation_update AFTER UPDATE ON orgs BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER orgs_generation_delete AFTER DELETE ON orgs BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER roles_generation_insert AFTER INSERT ON roles BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER roles_generation_update AFTER UPDATE ON roles BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER roles_generation_delete AFTER DELETE ON roles BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER users_generation_insert AFTER INSERT ON users BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER users_generation_update AFTER UPDATE ON users BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER users_generation_delete AFTER DELETE ON users BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER org_members_generation_insert AFTER INSERT ON org_members BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER org_members_generation_update AFTER UPDATE ON org_members BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER org_members_generation_delete AFTER DELETE ON org_members BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER flows_generation_insert AFTER INSERT ON flows BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER flows_generation_update AFTER UPDATE ON flows BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER flows_generation_delete AFTER DELETE ON flows BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER assets_generation_insert AFTER INSERT ON assets BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER assets_generation_update AFTER UPDATE ON assets BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER assets_generation_delete AFTER DELETE ON assets BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER nodes_generation_insert AFTER INSERT ON nodes BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER nodes_generation_update AFTER UPDATE ON nodes BEGIN UPDATE directory_generation SET value = value + 1; END;
CREATE TRIGGER nodes_generation_delete AFTER DELETE ON nodes BEGIN UPDATE directory_generation SET value = value + 1; END;
