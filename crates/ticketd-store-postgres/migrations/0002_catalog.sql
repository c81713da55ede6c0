-- The catalog: assets and the node tree of each organization.

CREATE TABLE nodes (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id),
    name        text NOT NULL,
    parent_id   uuid REFERENCES nodes (id) ON DELETE CASCADE,
    full_value  text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX nodes_org_full_value_key ON nodes (org_id, full_value);
CREATE INDEX nodes_parent ON nodes (parent_id);

CREATE TABLE assets (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id),
    name        text NOT NULL,
    address     text NOT NULL,
    platform    text NOT NULL DEFAULT '',
    is_active   boolean NOT NULL DEFAULT true,
    node_ids    jsonb NOT NULL DEFAULT '[]',
    comment     text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX assets_org_name_key ON assets (org_id, name);
