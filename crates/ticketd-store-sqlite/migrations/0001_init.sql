-- ticketd schema, version 1. Ids are 16-byte UUID blobs; times are microseconds since the Unix epoch (UTC).

CREATE TABLE orgs (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL,
    builtin     INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX orgs_name_key ON orgs (name COLLATE NOCASE);

CREATE TABLE roles (
    id       BLOB PRIMARY KEY,
    name     TEXT NOT NULL,
    scope    TEXT NOT NULL,
    builtin  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE users (
    id               BLOB PRIMARY KEY,
    username         TEXT NOT NULL,
    name             TEXT NOT NULL,
    email            TEXT NOT NULL DEFAULT '',
    system_role      TEXT NOT NULL,
    is_active        INTEGER NOT NULL DEFAULT 1,
    password_plain   TEXT,
    password_md5     TEXT,
    password_sha512  TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (username);

CREATE TABLE org_members (
    org_id   BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id  BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id  BLOB NOT NULL REFERENCES roles (id),
    PRIMARY KEY (org_id, user_id, role_id)
) WITHOUT ROWID;
CREATE INDEX org_members_user ON org_members (user_id);

CREATE TABLE api_tokens (
    token_hash  BLOB PRIMARY KEY,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    expires_at  INTEGER,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE access_keys (
    id          BLOB PRIMARY KEY,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret      TEXT NOT NULL,
    is_active   INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL
);
CREATE INDEX access_keys_user ON access_keys (user_id);

CREATE TABLE flows (
    id           BLOB PRIMARY KEY,
    org_id       BLOB NOT NULL REFERENCES orgs (id),
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    kinds        TEXT NOT NULL,
    is_default   INTEGER NOT NULL DEFAULT 0,
    enabled      INTEGER NOT NULL DEFAULT 1,
    levels       TEXT NOT NULL,
    cc_users     TEXT NOT NULL,
    attributes   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    version      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX flows_org ON flows (org_id, created_at);

-- One row per day: the last serial-number counter handed out that day.
CREATE TABLE serial_counters (
    day         TEXT PRIMARY KEY,
    last_value  INTEGER NOT NULL
) WITHOUT ROWID;

-- A ticket row carries the steps of its current round as JSON: one row read renders a ticket.
CREATE TABLE tickets (
    id                 BLOB PRIMARY KEY,
    serial             TEXT NOT NULL,
    org_id             BLOB NOT NULL REFERENCES orgs (id),
    kind               TEXT NOT NULL,
    title              TEXT NOT NULL,
    applicant_id       BLOB REFERENCES users (id) ON DELETE SET NULL,
    applicant_display  TEXT NOT NULL,
    flow_id            BLOB,
    state              TEXT NOT NULL,
    approval_step      INTEGER NOT NULL,
    round              INTEGER NOT NULL,
    steps              TEXT NOT NULL,
    cc_users           TEXT NOT NULL,
    payload            TEXT NOT NULL,
    comment            TEXT NOT NULL,
    scope              TEXT NOT NULL DEFAULT '',
    archived           INTEGER NOT NULL DEFAULT 0,
    confirmed          INTEGER NOT NULL DEFAULT 0,
    deleted            INTEGER NOT NULL DEFAULT 0,
    version            INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE UNIQUE INDEX tickets_serial_key ON tickets (serial);
-- List indexes cover live tickets only (lists hide deleted ones), so counts read only the index.
CREATE INDEX tickets_created ON tickets (created_at) WHERE deleted = 0;
CREATE INDEX tickets_org_created ON tickets (org_id, created_at) WHERE deleted = 0;
CREATE INDEX tickets_state_created ON tickets (state, created_at) WHERE deleted = 0;
CREATE INDEX tickets_kind_created ON tickets (kind, created_at) WHERE deleted = 0;
CREATE INDEX tickets_applicant_created ON tickets (applicant_id, created_at) WHERE deleted = 0;
CREATE INDEX tickets_scope_created ON tickets (scope, created_at) WHERE deleted = 0;
CREATE INDEX tickets_title ON tickets (title COLLATE NOCASE);
CREATE INDEX tickets_flow ON tickets (flow_id);

-- Denormalised assignee index of each ticket's current round, rewritten by every transition.
CREATE TABLE ticket_assignees (
    ticket_id   BLOB NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    user_id     BLOB NOT NULL,
    level       INTEGER NOT NULL,
    current     INTEGER NOT NULL,
    awaiting    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, user_id, level)
) WITHOUT ROWID;
CREATE INDEX ticket_assignees_current ON ticket_assignees (user_id, current, created_at);
CREATE INDEX ticket_assignees_awaiting ON ticket_assignees (user_id, created_at) WHERE awaiting = 1;

-- Who may see a ticket by relation (applicant, assignees, CC users).
CREATE TABLE ticket_viewers (
    ticket_id   BLOB NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    user_id     BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, user_id)
) WITHOUT ROWID;
CREATE INDEX ticket_viewers_user ON ticket_viewers (user_id, created_at);

CREATE TABLE ticket_history (
    seq            INTEGER PRIMARY KEY,
    id             BLOB NOT NULL UNIQUE,
    ticket_id      BLOB NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    round          INTEGER NOT NULL,
    level          INTEGER NOT NULL,
    action         TEXT NOT NULL,
    actor_id       BLOB,
    actor_display  TEXT NOT NULL,
    from_state     TEXT NOT NULL,
    to_state       TEXT NOT NULL,
    reason         TEXT NOT NULL,
    self_approved  INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX ticket_history_ticket ON ticket_history (ticket_id, seq);

CREATE TABLE ticket_comments (
    seq           INTEGER PRIMARY KEY,
    id            BLOB NOT NULL UNIQUE,
    ticket_id     BLOB NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    user_id       BLOB,
    user_display  TEXT NOT NULL,
    body          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    state         TEXT,
    created_at    INTEGER NOT NULL
);
CREATE INDEX ticket_comments_ticket ON ticket_comments (ticket_id, seq);

CREATE TABLE grants (
    id           BLOB PRIMARY KEY,
    ticket_id    BLOB NOT NULL REFERENCES tickets (id),
    org_id       BLOB NOT NULL,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    users        TEXT NOT NULL,
    payload      TEXT NOT NULL,
    valid_from   INTEGER,
    valid_until  INTEGER,
    created_by   TEXT NOT NULL,
    comment      TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX grants_org_kind_name_key ON grants (org_id, kind, name);
CREATE INDEX grants_ticket ON grants (ticket_id);
CREATE INDEX grants_org_created ON grants (org_id, created_at);

CREATE TABLE grant_users (
    grant_id  BLOB NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    user_id   BLOB NOT NULL,
    PRIMARY KEY (user_id, grant_id)
) WITHOUT ROWID;

-- The outbox: one row per transition or grant, written in the transaction that made it.
CREATE TABLE outbox_events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            BLOB NOT NULL UNIQUE,
    kind          TEXT NOT NULL,
    ticket_id     BLOB NOT NULL,
    org_id        BLOB NOT NULL,
    payload       TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    delivered_at  INTEGER
);
