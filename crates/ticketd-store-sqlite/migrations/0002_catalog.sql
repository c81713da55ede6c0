-- The catalog: assets and the node tree of each organization.

CREATE TABLE nodes (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES orgs (id),
    name        TEXT NOT NULL,
    parent_id   BLOB REFERENCES nodes (id) ON DELETE CASCADE,
    full_value  TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX nodes_org_full_value_key ON nodes (org_id, full_value);
CREATE INDEX nodes_parent ON nodes (parent_id);

CREATE TABLE assets (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES orgs (id),
    name        TEXT NOT NULL,
    address     TEXT NOT NULL,
    platform    TEXT NOT NULL DEFAULT '',
    is_active   INTEGER NOT NULL DEFAULT 1,
    node_ids    TEXT NOT NULL DEFAULT '[]',
    comment     TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX assets_org_name_key ON assets (org_id, name);
