-- ticketd schema, version 1 (PostgreSQL). Same tables and indexes as the SQLite backend's 0001_init.sql:
-- ids are uuid, times timestamptz (microseconds, UTC), JSON columns jsonb, token digests bytea.

CREATE TABLE orgs (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    builtin     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL
);
-- Case-insensitive like SQLite's `COLLATE NOCASE` index.
CREATE UNIQUE INDEX orgs_name_key ON orgs (lower(name));

CREATE TABLE roles (
    id       uuid PRIMARY KEY,
    name     text NOT NULL,
    scope    text NOT NULL,
    builtin  boolean NOT NULL DEFAULT false
);

CREATE TABLE users (
    id               uuid PRIMARY KEY,
    username         text NOT NULL,
    name             text NOT NULL,
    email            text NOT NULL DEFAULT '',
    system_role      text NOT NULL,
    is_active        boolean NOT NULL DEFAULT true,
    password_plain   text,
    password_md5     text,
    password_sha512  text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (username);

CREATE TABLE org_members (
    org_id   uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id  uuid NOT NULL REFERENCES roles (id),
    PRIMARY KEY (org_id, user_id, role_id)
);
CREATE INDEX org_members_user ON org_members (user_id);

CREATE TABLE api_tokens (
    token_hash  bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    expires_at  timestamptz,
    created_at  timestamptz NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE access_keys (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret      text NOT NULL,
    is_active   boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL
);
CREATE INDEX access_keys_user ON access_keys (user_id);

CREATE TABLE flows (
    id           uuid PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES orgs (id),
    name         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    kinds        jsonb NOT NULL,
    is_default   boolean NOT NULL DEFAULT false,
    enabled      boolean NOT NULL DEFAULT true,
    levels       jsonb NOT NULL,
    cc_users     jsonb NOT NULL,
    attributes   jsonb NOT NULL,
    created_by   text NOT NULL,
    version      bigint NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX flows_org ON flows (org_id, created_at);

-- One row per day: the last serial-number counter handed out that day.
CREATE TABLE serial_counters (
    day         text PRIMARY KEY,
    last_value  bigint NOT NULL
);

-- A ticket row carries the steps of its current round as JSON: one row read renders a ticket.
CREATE TABLE tickets (
    id                 uuid PRIMARY KEY,
    serial             text NOT NULL,
    org_id             uuid NOT NULL REFERENCES orgs (id),
    kind               text NOT NULL,
    title              text NOT NULL,
    applicant_id       uuid REFERENCES users (id) ON DELETE SET NULL,
    applicant_display  text NOT NULL,
    flow_id            uuid,
    state              text NOT NULL,
    approval_step      bigint NOT NULL,
    round              bigint NOT NULL,
    steps              jsonb NOT NULL,
    cc_users           jsonb NOT NULL,
    payload            jsonb NOT NULL,
    comment            text NOT NULL,
    scope              text NOT NULL DEFAULT '',
    archived           boolean NOT NULL DEFAULT false,
    confirmed          boolean NOT NULL DEFAULT false,
    deleted            boolean NOT NULL DEFAULT false,
    version            bigint NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
CREATE UNIQUE INDEX tickets_serial_key ON tickets (serial);
-- List indexes cover live tickets only (lists hide deleted ones). The id is the tie-break of
-- every list order, so it ends each index.
CREATE INDEX tickets_created ON tickets (created_at, id) WHERE NOT deleted;
CREATE INDEX tickets_org_created ON tickets (org_id, created_at, id) WHERE NOT deleted;
CREATE INDEX tickets_state_created ON tickets (state, created_at, id) WHERE NOT deleted;
CREATE INDEX tickets_kind_created ON tickets (kind, created_at, id) WHERE NOT deleted;
CREATE INDEX tickets_applicant_created ON tickets (applicant_id, created_at, id) WHERE NOT deleted;
CREATE INDEX tickets_scope_created ON tickets (scope, created_at, id) WHERE NOT deleted;
CREATE INDEX tickets_title ON tickets (lower(title));
CREATE INDEX tickets_flow ON tickets (flow_id);

-- Denormalised assignee index of each ticket's current round, rewritten by every transition.
CREATE TABLE ticket_assignees (
    ticket_id   uuid NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL,
    level       bigint NOT NULL,
    current     boolean NOT NULL,
    awaiting    boolean NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (ticket_id, user_id, level)
);
CREATE INDEX ticket_assignees_current ON ticket_assignees (user_id, current, created_at, ticket_id);
CREATE INDEX ticket_assignees_awaiting ON ticket_assignees (user_id, created_at, ticket_id) WHERE awaiting;

-- Who may see a ticket by relation (applicant, assignees, CC users).
CREATE TABLE ticket_viewers (
    ticket_id   uuid NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (ticket_id, user_id)
);
CREATE INDEX ticket_viewers_user ON ticket_viewers (user_id, created_at, ticket_id);

CREATE TABLE ticket_history (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             uuid NOT NULL UNIQUE,
    ticket_id      uuid NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    round          bigint NOT NULL,
    level          bigint NOT NULL,
    action         text NOT NULL,
    actor_id       uuid,
    actor_display  text NOT NULL,
    from_state     text NOT NULL,
    to_state       text NOT NULL,
    reason         text NOT NULL,
    self_approved  boolean NOT NULL,
    created_at     timestamptz NOT NULL
);
CREATE INDEX ticket_history_ticket ON ticket_history (ticket_id, seq);

CREATE TABLE ticket_comments (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            uuid NOT NULL UNIQUE,
    ticket_id     uuid NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    user_id       uuid,
    user_display  text NOT NULL,
    body          text NOT NULL,
    kind          text NOT NULL,
    state         text,
    created_at    timestamptz NOT NULL
);
CREATE INDEX ticket_comments_ticket ON ticket_comments (ticket_id, seq);

CREATE TABLE grants (
    id           uuid PRIMARY KEY,
    ticket_id    uuid NOT NULL REFERENCES tickets (id),
    org_id       uuid NOT NULL,
    kind         text NOT NULL,
    name         text NOT NULL,
    users        jsonb NOT NULL,
    payload      jsonb NOT NULL,
    valid_from   timestamptz,
    valid_until  timestamptz,
    created_by   text NOT NULL,
    comment      text NOT NULL,
    created_at   timestamptz NOT NULL
);
CREATE UNIQUE INDEX grants_org_kind_name_key ON grants (org_id, kind, name);
CREATE INDEX grants_ticket ON grants (ticket_id);
CREATE INDEX grants_org_created ON grants (org_id, created_at);

CREATE TABLE grant_users (
    grant_id  uuid NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    user_id   uuid NOT NULL,
    PRIMARY KEY (user_id, grant_id)
);

-- The outbox: one row per transition or grant, written in the transaction that made it.
-- Writers take an advisory lock before inserting here, so `seq` order is commit order and a
-- reader following `seq` never skips a row that commits late.
CREATE TABLE outbox_events (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            uuid NOT NULL UNIQUE,
    kind          text NOT NULL,
    ticket_id     uuid NOT NULL,
    org_id        uuid NOT NULL,
    payload       jsonb NOT NULL,
    created_at    timestamptz NOT NULL,
    delivered_at  timestamptz
);
