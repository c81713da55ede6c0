//! ticketd's server store: PostgreSQL through tokio-postgres and a deadpool connection pool.

mod conn;
mod group;
mod identity;
mod rows;
mod tickets;

pub use conn::{PostgresOptions, redact_password};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use conn::{Db, db_err, other};
use rows::{FLOW_COLUMNS, GRANT_COLUMNS, ORG_COLUMNS, USER_COLUMNS, get, json};
use std::sync::{Arc, LazyLock};
use ticketd_core::StoreError;
use ticketd_core::catalog::{Asset, AssetChange, CatalogQuery, Node};
use ticketd_core::flow::Flow;
use ticketd_core::identity::{
    AccessKey, DirectoryEntry, Membership, NewUser, Org, PasswordHashes, ROOT_ORG, Role, RoleScope,
    TokenKind, TokenRecord, User, UserChange,
};
use ticketd_core::ids::{AccessKeyId, AssetId, FlowId, NodeId, OrgId, RoleId, TicketId, UserId};
use ticketd_core::parsed_tickets::ParsedTickets;
use ticketd_core::store::{
    FlowRule, FlowWrite, GrantQuery, Inserted, ListMark, OrgChange, Store, TicketPage, TicketQuery,
    TokenActor, check_flow_rules, flow_version_check,
};
use ticketd_core::ticket::{
    Comment, CommentKind, Event, Grant, HistoryAction, HistoryEntry, Step, Ticket, TicketWrite,
};
use tokio_postgres::Row;
use tokio_postgres::types::{Json, ToSql};
use uuid::Uuid;

/// The PostgreSQL implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct PostgresStore {
    db: Db,
    /// Ticket writes of this process, committed in groups.
    writer: Arc<group::GroupWriter>,
    /// Parsed JSON columns of the tickets read again and again.
    parsed: Arc<ParsedTickets>,
    /// Where new tickets' counts start (see `ListMark`).
    horizon: Arc<tickets::Horizon>,
    /// What token lookups are kept by, moved by other processes' commits (`identity.rs`).
    identity: Arc<identity::IdentityVersion>,
}

impl PostgresStore {
    /// Connects, checks the server answers and applies the missing migrations; returns the
    /// store and how many migrations ran.
    pub async fn connect(options: &PostgresOptions) -> Result<(Self, usize), StoreError> {
        let db = Db::new(options)?;
        let migrated = {
            let mut client = db.client().await?;
            conn::migrate(&mut client).await?
        };
        // Seen once before any count, so the first count's range of new tickets is short.
        let horizon = Arc::new(tickets::Horizon::default());
        if let Some(row) = db
            .query_opt(
                &format!("SELECT {} AS horizon", tickets::SNAPSHOT_HORIZON),
                &[],
            )
            .await?
        {
            horizon.observe(get(&row, "horizon")?);
        }
        let identity = Arc::<identity::IdentityVersion>::default();
        identity::spawn_listener(
            conn::session_config(options)?,
            options.url.clone(),
            Arc::clone(&identity),
        );
        Ok((
            Self {
                db,
                writer: Arc::default(),
                parsed: Arc::default(),
                horizon,
                identity,
            },
            migrated,
        ))
    }

    /// Runs a write that may change what a token lookup reads, then moves this process's
    /// identity version at once: its own next request must not wait for the notification the
    /// commit sends the other processes (which moves it again, harmlessly).
    async fn identity_change<T>(
        &self,
        write: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let written = write.await;
        self.identity.changed();
        written
    }

    /// The plan PostgreSQL chooses for a ticket list query (`EXPLAIN` of the page select, then
    /// of the count), for tests and benchmarks.
    pub async fn list_query_plan(&self, query: TicketQuery) -> Result<Vec<String>, StoreError> {
        tickets::query_plan(&self.db, &query).await
    }

    /// The plan PostgreSQL chooses for the token lookup every authenticated request makes
    /// (`EXPLAIN` of [`Store::token_actor`]'s statement), for tests.
    pub async fn token_actor_plan(&self) -> Result<Vec<String>, StoreError> {
        let rows = self
            .db
            .query(&format!("EXPLAIN {}", *TOKEN_ACTOR_SQL), &[&&[0u8; 32][..]])
            .await?;
        rows.iter().map(|row| get(row, "QUERY PLAN")).collect()
    }

    /// The plan of the count of a list's matches among the tickets inserted by transactions
    /// numbered `horizon` or later (see `ListMark`), for tests.
    pub async fn inserted_count_plan(
        &self,
        query: TicketQuery,
        horizon: i64,
    ) -> Result<Vec<String>, StoreError> {
        tickets::inserted_count_plan(&self.db, &query, horizon).await
    }
}

/// What every authenticated request reads, in one round trip: the token, its owner, the owner's
/// memberships (two parallel arrays from one scan of `org_members_user`) and the directory
/// generation. Built once; the CTE renames the token's columns, which share names with the
/// user's.
static TOKEN_ACTOR_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH t AS (SELECT user_id AS token_user, kind AS token_kind, \
         expires_at AS token_expires_at, created_at AS token_created_at \
         FROM api_tokens WHERE token_hash = $1) \
         SELECT {USER_COLUMNS}, token_kind, token_expires_at, token_created_at, \
         (SELECT value FROM directory_generation WHERE id = 1) AS directory_generation, \
         m.member_orgs, m.member_roles \
         FROM t JOIN users ON users.id = t.token_user \
         CROSS JOIN LATERAL (SELECT \
         coalesce(array_agg(org_id ORDER BY org_id, role_id), '{{}}') AS member_orgs, \
         coalesce(array_agg(role_id ORDER BY org_id, role_id), '{{}}') AS member_roles \
         FROM org_members WHERE user_id = users.id) m"
    )
});

fn role_scope(text: &str) -> RoleScope {
    if text == "system" {
        RoleScope::System
    } else {
        RoleScope::Org
    }
}

fn scope_name(scope: RoleScope) -> &'static str {
    match scope {
        RoleScope::System => "system",
        RoleScope::Org => "org",
    }
}

fn membership(row: &Row) -> Result<Membership, StoreError> {
    Ok(Membership {
        org_id: OrgId(get(row, "org_id")?),
        user_id: UserId(get(row, "user_id")?),
        role_id: RoleId(get(row, "role_id")?),
    })
}

/// `LIMIT` of a list where 0 means "no limit" (`LIMIT NULL` is none in PostgreSQL).
fn optional_limit(limit: u32) -> Option<i64> {
    (limit != 0).then(|| i64::from(limit))
}

fn offset(offset: u64) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.db.query("SELECT 1", &[]).await.map(|_| ())
    }

    async fn ensure_builtins(&self, orgs: Vec<Org>, roles: Vec<Role>) -> Result<(), StoreError> {
        self.identity_change(async {
            let mut client = self.db.client().await?;
            let tx = client.transaction().await.map_err(db_err)?;
            // `ON CONFLICT DO NOTHING` without a target skips any unique clash (id or name), like
            // SQLite's `INSERT OR IGNORE`, and is safe when several processes bootstrap at once.
            let insert_org = tx
                .prepare_cached(
                    "INSERT INTO orgs (id, name, builtin, comment, created_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT DO NOTHING",
                )
                .await
                .map_err(db_err)?;
            for org in &orgs {
                tx.execute(
                    &insert_org,
                    &[&org.id.0, &org.name, &org.builtin, &org.comment, &org.created_at],
                )
                .await
                .map_err(db_err)?;
            }
            let insert_role = tx
                .prepare_cached(
                    "INSERT INTO roles (id, name, scope, builtin) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT DO NOTHING",
                )
                .await
                .map_err(db_err)?;
            for role in &roles {
                tx.execute(
                    &insert_role,
                    &[
                        &role.id.0,
                        &role.name,
                        &scope_name(role.scope),
                        &role.builtin,
                    ],
                )
                .await
                .map_err(db_err)?;
            }
            tx.commit().await.map_err(db_err)
        })
        .await
    }

    async fn create_org(&self, org: Org) -> Result<(), StoreError> {
        self.identity_change(async {
            self.db
                .execute(
                    "INSERT INTO orgs (id, name, builtin, comment, created_at) VALUES ($1, $2, $3, $4, $5)",
                    &[&org.id.0, &org.name, &org.builtin, &org.comment, &org.created_at],
                )
                .await
                .map(|_| ())
        })
        .await
    }

    async fn get_org(&self, id: OrgId) -> Result<Option<Org>, StoreError> {
        self.db
            .query_opt(
                &format!("SELECT {ORG_COLUMNS} FROM orgs WHERE id = $1"),
                &[&id.0],
            )
            .await?
            .as_ref()
            .map(rows::org)
            .transpose()
    }

    async fn find_org_by_name(&self, name: &str) -> Result<Option<Org>, StoreError> {
        // `lower(name)` is what the unique index covers, so this is an index lookup.
        self.db
            .query_opt(
                &format!("SELECT {ORG_COLUMNS} FROM orgs WHERE lower(name) = lower($1)"),
                &[&name],
            )
            .await?
            .as_ref()
            .map(rows::org)
            .transpose()
    }

    async fn list_orgs(&self) -> Result<Vec<Org>, StoreError> {
        let rows = self
            .db
            .query(
                &format!("SELECT {ORG_COLUMNS} FROM orgs ORDER BY lower(name) COLLATE \"C\", id"),
                &[],
            )
            .await?;
        rows::all(&rows, rows::org)
    }

    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT id, name, scope, builtin FROM roles ORDER BY name COLLATE \"C\"",
                &[],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let scope: String = get(row, "scope")?;
                Ok(Role {
                    id: RoleId(get(row, "id")?),
                    name: get(row, "name")?,
                    scope: role_scope(&scope),
                    builtin: get(row, "builtin")?,
                })
            })
            .collect()
    }

    async fn create_user(&self, new: NewUser) -> Result<(), StoreError> {
        self.identity_change(async {
            let u = &new.user;
            let p = new.password.as_ref();
            let mut client = self.db.client().await?;
            let tx = client.transaction().await.map_err(db_err)?;
            lock_addresses(&tx, &u.email).await?;
            tx.execute(
                "INSERT INTO users (id, username, name, email, system_role, is_active, password_plain, \
                     password_md5, password_sha512, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    &[
                        &u.id.0,
                        &u.username,
                        &u.name,
                        &u.email,
                        &u.system_role.as_str(),
                        &u.is_active,
                        &p.map(|h| h.plain.as_str()),
                        &p.map(|h| h.md5_hex.as_str()),
                        &p.map(|h| h.sha512_hex.as_str()),
                        &u.created_at,
                        &u.updated_at,
                    ],
                )
                .await
                .map_err(db_err)?;
            // After the insert, so a taken username is the conflict told first.
            check_email_free(&tx, &u.email, u.id).await?;
            for (org, role) in &new.memberships {
                tx.execute(
                    INSERT_MEMBERSHIP,
                    &[&org.0, &u.id.0, &role.0],
                )
                .await
                .map_err(db_err)?;
            }
            tx.commit().await.map_err(db_err)
        })
        .await
    }

    async fn change_user(
        &self,
        id: UserId,
        change: UserChange,
        updated_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.identity_change(async {
            let mut client = self.db.client().await?;
            let tx = client.transaction().await.map_err(db_err)?;
            // Before the user is read: whether the change takes an administrator away is then
            // decided on what the other changes of the administrators left.
            if change.system_role.is_some() || change.is_active.is_some() {
                lock_admins(&tx).await?;
            }
            let stored = tx
                .query_opt(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"), &[&id.0])
                .await
                .map_err(db_err)?
                .as_ref()
                .map(rows::user)
                .transpose()?
                .ok_or(StoreError::NotFound)?;
            // An address kept as it was stays, even one shared before addresses were unique,
            // and an edit that keeps it waits for no other user's write. The lock comes before
            // any write: the update's trigger locks the directory generation's row, which a
            // creation holding the lock waits for (taken after it, the two deadlocked).
            let new_address = change.email.as_ref().filter(|email| **email != stored.email);
            if let Some(email) = new_address {
                lock_addresses(&tx, email).await?;
            }
            if let Some(field) = change.unmakes_admin(&stored) {
                keep_an_admin_besides(&tx, id, field).await?;
            }
            let updated = tx
                .execute(
                    "UPDATE users SET username = COALESCE($2, username), name = COALESCE($3, name), \
                     email = COALESCE($4, email), system_role = COALESCE($5, system_role), \
                     is_active = COALESCE($6, is_active), updated_at = $7 WHERE id = $1",
                    &[
                        &id.0,
                        &change.username,
                        &change.name,
                        &change.email,
                        &change.system_role.map(|role| role.as_str()),
                        &change.is_active,
                        &updated_at,
                    ],
                )
                .await
                .map_err(db_err)?;
            if updated == 0 {
                return Err(StoreError::NotFound);
            }
            if let Some(email) = new_address {
                check_email_free(&tx, email, id).await?;
            }
            tx.commit().await.map_err(db_err)
        })
        .await
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.db
            .query_opt(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
                &[&id.0],
            )
            .await?
            .as_ref()
            .map(rows::user)
            .transpose()
    }

    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.db
            .query_opt(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1"),
                &[&username],
            )
            .await?
            .as_ref()
            .map(rows::user)
            .transpose()
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = self
            .db
            .query(
                &format!("SELECT {USER_COLUMNS} FROM users ORDER BY username COLLATE \"C\""),
                &[],
            )
            .await?;
        rows::all(&rows, rows::user)
    }

    async fn users_by_ids(&self, ids: Vec<UserId>) -> Result<Vec<User>, StoreError> {
        let ids: Vec<Uuid> = ids.iter().map(|u| u.0).collect();
        // In the order asked (repeats included), as the SQLite backend answers one id at a time.
        let rows = self
            .db
            .query(
                "SELECT u.id, u.username, u.name, u.email, u.system_role, u.is_active, u.created_at, \
                 u.updated_at FROM unnest($1::uuid[]) WITH ORDINALITY AS wanted (id, position) \
                 JOIN users u ON u.id = wanted.id ORDER BY wanted.position",
                &[&ids],
            )
            .await?;
        rows::all(&rows, rows::user)
    }

    async fn password_hashes(&self, user: UserId) -> Result<Option<PasswordHashes>, StoreError> {
        let row = self
            .db
            .query_opt(
                "SELECT password_plain, password_md5, password_sha512 FROM users WHERE id = $1",
                &[&user.0],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let plain: Option<String> = get(&row, "password_plain")?;
        let md5_hex: Option<String> = get(&row, "password_md5")?;
        let sha512_hex: Option<String> = get(&row, "password_sha512")?;
        Ok(match (plain, md5_hex, sha512_hex) {
            (Some(plain), Some(md5_hex), Some(sha512_hex)) => Some(PasswordHashes {
                plain,
                md5_hex,
                sha512_hex,
            }),
            _ => None,
        })
    }

    async fn set_password_hashes(&self, user: UserId, h: PasswordHashes) -> Result<(), StoreError> {
        self.identity_change(async {
            self.db
                .execute_one(
                    "UPDATE users SET password_plain = $2, password_md5 = $3, password_sha512 = $4 \
                     WHERE id = $1",
                    &[&user.0, &h.plain, &h.md5_hex, &h.sha512_hex],
                )
                .await
        })
        .await
    }

    async fn add_membership(&self, m: Membership) -> Result<(), StoreError> {
        self.identity_change(async {
            self.db
                .execute(
                    INSERT_MEMBERSHIP,
                    &[&m.org_id.0, &m.user_id.0, &m.role_id.0],
                )
                .await
                .map(|_| ())
        })
        .await
    }

    async fn remove_member_role(
        &self,
        org: OrgId,
        user: UserId,
        role: RoleId,
    ) -> Result<(), StoreError> {
        self.identity_change(async {
            let mut client = self.db.client().await?;
            let tx = client.transaction().await.map_err(db_err)?;
            // In turn with replacements of the user's roles, which delete and insert the rows
            // again: found before and after one, the role is found.
            lock_user(&tx, user).await?;
            let deleted = tx
                .execute(
                    "DELETE FROM org_members WHERE org_id = $1 AND user_id = $2 AND role_id = $3",
                    &[&org.0, &user.0, &role.0],
                )
                .await
                .map_err(db_err)?;
            if deleted == 0 {
                return Err(StoreError::NotFound);
            }
            let still_member = tx
                .query_opt(
                    "SELECT 1 FROM org_members WHERE org_id = $1 AND user_id = $2 LIMIT 1",
                    &[&org.0, &user.0],
                )
                .await
                .map_err(db_err)?
                .is_some();
            if !still_member {
                leave_grants(&tx, user, Some(org)).await?;
            }
            tx.commit().await.map_err(db_err)
        })
        .await
    }

    async fn replace_member_roles(
        &self,
        org: OrgId,
        user: UserId,
        roles: Vec<RoleId>,
    ) -> Result<(), StoreError> {
        self.identity_change(async {
            let mut client = self.db.client().await?;
            let tx = client.transaction().await.map_err(db_err)?;
            lock_user(&tx, user).await?;
            let removed = tx
                .execute(
                    "DELETE FROM org_members WHERE org_id = $1 AND user_id = $2",
                    &[&org.0, &user.0],
                )
                .await
                .map_err(db_err)?;
            if removed == 0 && !roles.is_empty() {
                return Err(StoreError::NotFound);
            }
            for role in &roles {
                tx.execute(INSERT_MEMBERSHIP, &[&org.0, &user.0, &role.0])
                    .await
                    .map_err(db_err)?;
            }
            // A user who held no role there (a system administrator removing themselves from
            // an organization they never joined) leaves nothing.
            if roles.is_empty() && removed > 0 {
                leave_grants(&tx, user, Some(org)).await?;
            }
            tx.commit().await.map_err(db_err)
        })
        .await
    }

    async fn memberships_of(&self, user: UserId) -> Result<Vec<Membership>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT org_id, user_id, role_id FROM org_members WHERE user_id = $1 \
                 ORDER BY org_id, role_id",
                &[&user.0],
            )
            .await?;
        rows::all(&rows, membership)
    }

    async fn memberships_in(&self, orgs: Vec<OrgId>) -> Result<Vec<Membership>, StoreError> {
        let orgs: Vec<Uuid> = orgs.iter().map(|o| o.0).collect();
        // Grouped by organization in the order asked, as the SQLite backend returns them.
        let rows = self
            .db
            .query(
                "SELECT org_id, user_id, role_id FROM org_members WHERE org_id = ANY($1) \
                 ORDER BY array_position($1, org_id), user_id, role_id",
                &[&orgs],
            )
            .await?;
        rows::all(&rows, membership)
    }

    async fn org_directory(&self, org: OrgId) -> Result<Arc<Vec<DirectoryEntry>>, StoreError> {
        if org == ROOT_ORG {
            let rows = self
                .db
                .query(
                    &format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"),
                    &[],
                )
                .await?;
            return rows
                .iter()
                .map(|row| {
                    Ok(DirectoryEntry {
                        user: rows::user(row)?,
                        org_roles: Vec::new(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Arc::new);
        }
        // Members with one row per org role, plus system administrators who are not members
        // (one row without a role): admins may enter any organization, so they are candidates.
        let rows = self
            .db
            .query(
                "SELECT u.id, u.username, u.name, u.email, u.system_role, u.is_active, u.created_at, \
                 u.updated_at, m.role_id FROM org_members m JOIN users u ON u.id = m.user_id \
                 WHERE m.org_id = $1 \
                 UNION ALL \
                 SELECT u.id, u.username, u.name, u.email, u.system_role, u.is_active, u.created_at, \
                 u.updated_at, NULL FROM users u WHERE u.system_role = 'admin' \
                 AND NOT EXISTS (SELECT 1 FROM org_members m2 WHERE m2.org_id = $1 AND m2.user_id = u.id) \
                 ORDER BY id, role_id",
                &[&org.0],
            )
            .await?;
        let mut entries: Vec<DirectoryEntry> = Vec::new();
        for row in &rows {
            let user = rows::user(row)?;
            let role = get::<Option<Uuid>>(row, "role_id")?.map(RoleId);
            match entries.last_mut() {
                Some(last) if last.user.id == user.id => last.org_roles.extend(role),
                _ => entries.push(DirectoryEntry {
                    user,
                    org_roles: role.into_iter().collect(),
                }),
            }
        }
        Ok(Arc::new(entries))
    }

    async fn update_org(&self, id: OrgId, change: OrgChange) -> Result<(), StoreError> {
        self.identity_change(async {
            self.db
                .execute_one(
                    "UPDATE orgs SET name = coalesce($2, name), comment = coalesce($3, comment) \
                     WHERE id = $1",
                    &[&id.0, &change.name, &change.comment],
                )
                .await
        })
        .await
    }

    async fn delete_org(&self, id: OrgId) -> Result<(), StoreError> {
        self.identity_change(async {
            // Tickets, flows, assets and nodes reference their organization without cascading, so
            // the delete itself refuses an organization in use; unlike a check-then-delete, this
            // cannot race with a concurrent insert.
            match self
                .db
                .execute_one("DELETE FROM orgs WHERE id = $1", &[&id.0])
                .await
            {
                Err(StoreError::Reference { constraint }) => {
                    tracing::debug!(%constraint, "organization still referenced");
                    Err(StoreError::Conflict {
                        constraint: "organization in use".into(),
                    })
                }
                result => result,
            }
        })
        .await
    }

    async fn delete_user(&self, id: UserId) -> Result<(), StoreError> {
        self.identity_change(async {
            let mut client = self.db.client().await?;
            let tx = client.transaction().await.map_err(db_err)?;
            lock_admins(&tx).await?;
            let admin: Option<bool> = tx
                .query_opt(
                    "SELECT system_role = 'admin' AND is_active AS admin FROM users WHERE id = $1",
                    &[&id.0],
                )
                .await
                .map_err(db_err)?
                .map(|row| get(&row, "admin"))
                .transpose()?;
            match admin {
                None => return Err(StoreError::NotFound),
                Some(true) => keep_an_admin_besides(&tx, id, "non_field_errors").await?,
                Some(false) => {}
            }
            // The deletion's roles wait for a grant's write that locked them (see
            // `Grant::members`); the grants are read after it, that grant among them.
            let deleted = tx
                .execute("DELETE FROM users WHERE id = $1", &[&id.0])
                .await
                .map_err(db_err)?;
            if deleted == 0 {
                return Err(StoreError::NotFound);
            }
            leave_grants(&tx, id, None).await?;
            tx.commit().await.map_err(db_err)
        })
        .await
    }

    async fn put_asset(&self, a: Asset) -> Result<(), StoreError> {
        self.identity_change(async {
            // A taken id inserts nothing: told apart from a taken name, whichever of the two
            // unique indexes PostgreSQL would check first when both are.
            let inserted = self
                .db
                .execute(
                    "INSERT INTO assets (id, org_id, name, address, platform, is_active, node_ids, comment, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (id) DO NOTHING",
                    &[
                        &a.id.0,
                        &a.org_id.0,
                        &a.name,
                        &a.address,
                        &a.platform,
                        &a.is_active,
                        &Json(&a.node_ids),
                        &a.comment,
                        &a.created_at,
                        &a.updated_at,
                    ],
                )
                .await?;
            ticketd_core::store::asset_inserted(inserted > 0)
        })
        .await
    }

    async fn update_asset(
        &self,
        id: AssetId,
        change: AssetChange,
        updated_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.identity_change(async {
            self.db
                .execute_one(
                    "UPDATE assets SET org_id = COALESCE($2, org_id), name = COALESCE($3, name), \
                     address = COALESCE($4, address), platform = COALESCE($5, platform), \
                     is_active = COALESCE($6, is_active), node_ids = COALESCE($7, node_ids), \
                     comment = COALESCE($8, comment), updated_at = $9 WHERE id = $1",
                    &[
                        &id.0,
                        &change.org_id.map(|org| org.0),
                        &change.name,
                        &change.address,
                        &change.platform,
                        &change.is_active,
                        &change.node_ids.as_ref().map(Json),
                        &change.comment,
                        &updated_at,
                    ],
                )
                .await
        })
        .await
    }

    async fn delete_asset(&self, id: AssetId) -> Result<(), StoreError> {
        self.identity_change(async {
            self.db
                .execute_one("DELETE FROM assets WHERE id = $1", &[&id.0])
                .await
        })
        .await
    }

    async fn list_assets(&self, q: CatalogQuery) -> Result<(u64, Vec<Asset>), StoreError> {
        catalog_page(
            &self.db,
            "assets",
            rows::ASSET_COLUMNS,
            "name",
            &["name", "address"],
            &q,
            rows::asset,
        )
        .await
    }

    async fn put_node(&self, n: Node) -> Result<(), StoreError> {
        self.identity_change(async {
            let mut client = self.db.client().await?;
            let tx = client.transaction().await.map_err(db_err)?;
            lock_node_paths(&tx).await?;
            if let Some(parent) = n.parent_id {
                let parent_path: Option<String> = tx
                    .query_opt("SELECT full_value FROM nodes WHERE id = $1", &[&parent.0])
                    .await
                    .map_err(db_err)?
                    .map(|row| row.get(0));
                ticketd_core::store::check_parent_path(&n, parent_path.as_deref())?;
            }
            tx.execute(
                "INSERT INTO nodes (id, org_id, name, parent_id, full_value, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
                 parent_id = excluded.parent_id, full_value = excluded.full_value",
                &[
                    &n.id.0,
                    &n.org_id.0,
                    &n.name,
                    &n.parent_id.map(|p| p.0),
                    &n.full_value,
                    &n.created_at,
                ],
            )
            .await
            .map_err(db_err)?;
            tx.commit().await.map_err(db_err)
        })
        .await
    }

    async fn rename_node(
        &self,
        id: NodeId,
        name: String,
        old_path: String,
        new_path: String,
    ) -> Result<(), StoreError> {
        self.identity_change(async {
            let mut client = self.db.client().await?;
            let tx = client.transaction().await.map_err(db_err)?;
            lock_node_paths(&tx).await?;
            let renamed = tx
                .execute(
                    "UPDATE nodes SET name = $2, full_value = $4 WHERE id = $1 AND full_value = $3",
                    &[&id.0, &name, &old_path, &new_path],
                )
                .await
                .map_err(db_err)?;
            if renamed == 0 {
                return Err(StoreError::NotFound);
            }
            // Lengths and offsets count characters, as SQLite's do.
            tx.execute(
                "UPDATE nodes SET full_value = $3::text || substr(full_value, length($2::text) + 1) \
                 WHERE org_id = (SELECT org_id FROM nodes WHERE id = $1) \
                 AND substr(full_value, 1, length($2::text) + 1) = $2::text || '/'",
                &[&id.0, &old_path, &new_path],
            )
            .await
            .map_err(db_err)?;
            tx.commit().await.map_err(db_err)
        })
        .await
    }

    async fn delete_node(&self, id: NodeId) -> Result<(), StoreError> {
        self.identity_change(async {
            let mut client = self.db.client().await?;
            let tx = client.transaction().await.map_err(db_err)?;
            lock_node_paths(&tx).await?;
            let deleted = tx
                .execute("DELETE FROM nodes WHERE id = $1", &[&id.0])
                .await
                .map_err(db_err)?;
            if deleted == 0 {
                return Err(StoreError::NotFound);
            }
            tx.commit().await.map_err(db_err)
        })
        .await
    }

    async fn list_nodes(&self, q: CatalogQuery) -> Result<(u64, Vec<Node>), StoreError> {
        catalog_page(
            &self.db,
            "nodes",
            rows::NODE_COLUMNS,
            "full_value",
            &["full_value"],
            &q,
            rows::node,
        )
        .await
    }

    async fn create_token(&self, t: TokenRecord) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO api_tokens (token_hash, user_id, kind, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &&t.token_hash[..],
                    &t.user_id.0,
                    &t.kind.as_str(),
                    &t.expires_at,
                    &t.created_at,
                ],
            )
            .await
            .map(|_| ())
    }

    async fn find_token(&self, digest: [u8; 32]) -> Result<Option<TokenRecord>, StoreError> {
        let row = self
            .db
            .query_opt(
                "SELECT user_id, kind, expires_at, created_at FROM api_tokens WHERE token_hash = $1",
                &[&&digest[..]],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let kind: String = get(&row, "kind")?;
        Ok(Some(TokenRecord {
            token_hash: digest,
            user_id: UserId(get(&row, "user_id")?),
            kind: TokenKind::from_stored(&kind),
            expires_at: get(&row, "expires_at")?,
            created_at: get(&row, "created_at")?,
        }))
    }

    async fn token_actor(&self, digest: [u8; 32]) -> Result<Option<TokenActor>, StoreError> {
        let row = self.db.query_opt(&TOKEN_ACTOR_SQL, &[&&digest[..]]).await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user = rows::user(&row)?;
        let orgs: Vec<Uuid> = get(&row, "member_orgs")?;
        let roles: Vec<Uuid> = get(&row, "member_roles")?;
        let memberships = orgs
            .into_iter()
            .zip(roles)
            .map(|(org, role)| Membership {
                org_id: OrgId(org),
                user_id: user.id,
                role_id: RoleId(role),
            })
            .collect();
        let kind: String = get(&row, "token_kind")?;
        Ok(Some(TokenActor {
            record: TokenRecord {
                token_hash: digest,
                user_id: user.id,
                kind: TokenKind::from_stored(&kind),
                expires_at: get(&row, "token_expires_at")?,
                created_at: get(&row, "token_created_at")?,
            },
            user,
            memberships,
            directory_generation: get(&row, "directory_generation")?,
        }))
    }

    fn local_identity_version(&self) -> Option<u64> {
        self.identity.current()
    }

    async fn data_version(&self) -> Result<Option<u64>, StoreError> {
        // The current snapshot (`xmin:xmax:in-progress ids`) changes when any transaction that
        // writes starts or ends, in any process, and not with reads, vacuum or page pruning
        // (the WAL position moves with those too, which would make every remembered count miss).
        // An unchanged snapshot therefore means no commit in between.
        use std::hash::{Hash, Hasher};
        let row = self
            .db
            .query_opt("SELECT pg_current_snapshot()::text AS snapshot", &[])
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let snapshot: String = get(&row, "snapshot")?;
        if let Some(xmin) = snapshot.split(':').next().and_then(|x| x.parse().ok()) {
            self.horizon.observe(xmin);
        }
        // A fixed-key hash: versions are compared within this process only.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        snapshot.hash(&mut hasher);
        Ok(Some(hasher.finish()))
    }

    async fn directory_generation(&self) -> Result<Option<i64>, StoreError> {
        let row = self
            .db
            .query_opt("SELECT value FROM directory_generation WHERE id = 1", &[])
            .await?;
        row.map(|row| get(&row, "value")).transpose()
    }

    async fn delete_token(&self, digest: [u8; 32]) -> Result<(), StoreError> {
        self.identity_change(async {
            self.db
                .execute(
                    "DELETE FROM api_tokens WHERE token_hash = $1",
                    &[&&digest[..]],
                )
                .await
                .map(|_| ())
        })
        .await
    }

    async fn delete_tokens_of_kind(&self, user: UserId, kind: TokenKind) -> Result<(), StoreError> {
        self.identity_change(async {
            self.db
                .execute(
                    "DELETE FROM api_tokens WHERE user_id = $1 AND kind = $2",
                    &[&user.0, &kind.as_str()],
                )
                .await
                .map(|_| ())
        })
        .await
    }

    async fn replace_tokens_of_kind(&self, t: TokenRecord) -> Result<(), StoreError> {
        self.identity_change(async {
            let mut client = self.db.client().await?;
            let tx = client.transaction().await.map_err(db_err)?;
            // Two processes starting at once with different values: one after the other, so
            // the second deletes the first's token instead of both keeping their own.
            tx.execute(
                "SELECT 1 FROM users WHERE id = $1 FOR UPDATE",
                &[&t.user_id.0],
            )
            .await
            .map_err(db_err)?;
            tx.execute(
                "DELETE FROM api_tokens WHERE user_id = $1 AND kind = $2 AND token_hash <> $3",
                &[&t.user_id.0, &t.kind.as_str(), &&t.token_hash[..]],
            )
            .await
            .map_err(db_err)?;
            // Another user's row under the same digest is left alone (no row written), and the
            // transaction, dropped uncommitted, undoes the deletion.
            let written = tx
                .execute(
                    "INSERT INTO api_tokens (token_hash, user_id, kind, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (token_hash) DO UPDATE \
                     SET user_id = excluded.user_id, kind = excluded.kind, \
                     expires_at = excluded.expires_at \
                     WHERE api_tokens.user_id = excluded.user_id \
                     OR (api_tokens.kind = 'operator' AND excluded.kind = 'operator')",
                    &[
                        &&t.token_hash[..],
                        &t.user_id.0,
                        &t.kind.as_str(),
                        &t.expires_at,
                        &t.created_at,
                    ],
                )
                .await
                .map_err(db_err)?;
            if written == 0 {
                return Err(StoreError::Conflict {
                    constraint: "api_tokens_pkey".into(),
                });
            }
            tx.commit().await.map_err(db_err)
        })
        .await
    }

    async fn create_access_key(&self, k: AccessKey) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO access_keys (id, user_id, secret, is_active, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &k.id.0,
                    &k.user_id.0,
                    &k.secret,
                    &k.is_active,
                    &k.created_at,
                ],
            )
            .await
            .map(|_| ())
    }

    async fn get_access_key(&self, id: AccessKeyId) -> Result<Option<AccessKey>, StoreError> {
        self.db
            .query_opt(
                "SELECT id, user_id, secret, is_active, created_at FROM access_keys WHERE id = $1",
                &[&id.0],
            )
            .await?
            .as_ref()
            .map(rows::access_key)
            .transpose()
    }

    async fn access_keys_of(&self, user: UserId) -> Result<Vec<AccessKey>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT id, user_id, secret, is_active, created_at FROM access_keys \
                 WHERE user_id = $1 ORDER BY created_at, id",
                &[&user.0],
            )
            .await?;
        rows::all(&rows, rows::access_key)
    }

    async fn delete_access_key(&self, id: AccessKeyId) -> Result<(), StoreError> {
        self.db
            .execute_one("DELETE FROM access_keys WHERE id = $1", &[&id.0])
            .await
    }

    async fn set_access_key_active(&self, id: AccessKeyId, active: bool) -> Result<(), StoreError> {
        self.db
            .execute_one(
                "UPDATE access_keys SET is_active = $2 WHERE id = $1",
                &[&id.0, &active],
            )
            .await
    }

    async fn write_flows(
        &self,
        writes: Vec<FlowWrite>,
        rule: Option<FlowRule>,
    ) -> Result<(), StoreError> {
        self.identity_change(async {
            let mut client = self.db.client().await?;
            let tx = client.transaction().await.map_err(db_err)?;
            // Every organization's flow lock first, in one order, so two batches of flows that
            // stay in their organizations (every batch a dialect builds) never wait on each other
            // crosswise. A batch moving flows between organizations could meet another on the
            // rows; PostgreSQL's deadlock error is a version conflict, and the engine retries.
            let mut orgs: Vec<OrgId> = writes.iter().map(|w| w.flow().org_id).collect();
            orgs.sort_unstable();
            orgs.dedup();
            for org in orgs {
                lock_flows_of(&tx, org).await?;
            }
            for write in &writes {
                write_flow(&tx, write, rule.as_ref()).await?;
            }
            tx.commit().await.map_err(db_err)
        })
        .await
    }

    async fn delete_flow(&self, id: FlowId) -> Result<(), StoreError> {
        self.identity_change(async {
            self.db
                .execute_one("DELETE FROM flows WHERE id = $1", &[&id.0])
                .await
        })
        .await
    }

    async fn get_flow(&self, id: FlowId) -> Result<Option<Flow>, StoreError> {
        self.db
            .query_opt(
                &format!("SELECT {FLOW_COLUMNS} FROM flows WHERE id = $1"),
                &[&id.0],
            )
            .await?
            .as_ref()
            .map(rows::flow)
            .transpose()
    }

    async fn list_flows(&self, orgs: Vec<OrgId>) -> Result<Arc<[Flow]>, StoreError> {
        let orgs: Vec<Uuid> = orgs.iter().map(|o| o.0).collect();
        let rows = self
            .db
            .query(
                &format!(
                    "SELECT {FLOW_COLUMNS} FROM flows WHERE org_id = ANY($1) ORDER BY created_at, id"
                ),
                &[&orgs],
            )
            .await?;
        Ok(rows::all(&rows, rows::flow)?.into())
    }

    async fn write_ticket(&self, write: TicketWrite) -> Result<Ticket, StoreError> {
        self.writer.write(&self.db, write).await
    }

    async fn get_ticket(&self, id: TicketId) -> Result<Option<Ticket>, StoreError> {
        tickets::get_ticket(&self.db, id, &self.parsed).await
    }

    async fn list_tickets(&self, query: TicketQuery) -> Result<TicketPage, StoreError> {
        tickets::list_tickets(&self.db, &query, &self.parsed, &self.horizon).await
    }

    async fn count_inserted_since(
        &self,
        query: TicketQuery,
        since: ListMark,
    ) -> Result<Option<Inserted>, StoreError> {
        tickets::count_inserted_since(&self.db, &query, since, &self.horizon).await
    }

    async fn ticket_history(&self, id: TicketId) -> Result<Vec<HistoryEntry>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT id, ticket_id, round, level, action, actor_id, actor_display, from_state, \
                 to_state, reason, self_approved, created_at, ended_round_steps FROM ticket_history \
                 WHERE ticket_id = $1 ORDER BY seq",
                &[&id.0],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let action: String = get(row, "action")?;
                let from: String = get(row, "from_state")?;
                let to: String = get(row, "to_state")?;
                Ok(HistoryEntry {
                    id: get(row, "id")?,
                    ticket_id: TicketId(get(row, "ticket_id")?),
                    round: rows::unsigned(row, "round")?,
                    level: rows::unsigned(row, "level")?,
                    action: HistoryAction::parse(&action).ok_or_else(|| {
                        other(rows::UnknownValue {
                            column: "action",
                            value: action.clone(),
                        })
                    })?,
                    actor_id: get::<Option<Uuid>>(row, "actor_id")?.map(UserId),
                    actor_display: get(row, "actor_display")?,
                    from_state: rows::ticket_state("from_state", &from)?,
                    to_state: rows::ticket_state("to_state", &to)?,
                    reason: get(row, "reason")?,
                    self_approved: get(row, "self_approved")?,
                    created_at: get(row, "created_at")?,
                    ended_round_steps: get::<Option<Json<Vec<Step>>>>(row, "ended_round_steps")?
                        .map(|Json(steps)| Arc::new(steps)),
                })
            })
            .collect()
    }

    async fn add_comment(&self, comment: Comment) -> Result<(), StoreError> {
        tickets::insert_comment(&self.db, &comment).await
    }

    async fn ticket_comments(&self, id: TicketId) -> Result<Vec<Comment>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT id, ticket_id, user_id, user_display, body, kind, state, created_at \
                 FROM ticket_comments WHERE ticket_id = $1 ORDER BY seq",
                &[&id.0],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let kind: String = get(row, "kind")?;
                Ok(Comment {
                    id: get(row, "id")?,
                    ticket_id: TicketId(get(row, "ticket_id")?),
                    user_id: get::<Option<Uuid>>(row, "user_id")?.map(UserId),
                    user_display: get(row, "user_display")?,
                    body: get(row, "body")?,
                    kind: if kind == "state" {
                        CommentKind::State
                    } else {
                        CommentKind::Common
                    },
                    state: get(row, "state")?,
                    created_at: get(row, "created_at")?,
                })
            })
            .collect()
    }

    async fn get_grant(&self, id: Uuid) -> Result<Option<Grant>, StoreError> {
        self.db
            .query_opt(
                &format!("SELECT {GRANT_COLUMNS} FROM grants g WHERE g.id = $1"),
                &[&id],
            )
            .await?
            .as_ref()
            .map(rows::grant)
            .transpose()
    }

    async fn list_grants(&self, q: GrantQuery) -> Result<Vec<Grant>, StoreError> {
        // Absent filters are bound as NULL, so one statement text serves every combination.
        let orgs: Option<Vec<Uuid>> = q.org_ids.map(|orgs| orgs.iter().map(|o| o.0).collect());
        let user = q.user.map(|u| u.0);
        let ticket = q.ticket.map(|t| t.0);
        let rows = self
            .db
            .query(
                &format!(
                    "SELECT {GRANT_COLUMNS} FROM grants g WHERE ($1::uuid[] IS NULL OR g.org_id = ANY($1)) \
                 AND ($2::uuid IS NULL OR g.id IN (SELECT grant_id FROM grant_users WHERE user_id = $2)) \
                 AND ($3::text IS NULL OR g.kind = $3) AND ($4::uuid IS NULL OR g.ticket_id = $4) \
                 ORDER BY g.created_at DESC, g.id DESC LIMIT $5 OFFSET $6"
                ),
                &[
                    &orgs,
                    &user,
                    &q.kind,
                    &ticket,
                    &optional_limit(q.limit),
                    &offset(q.offset),
                ],
            )
            .await?;
        rows::all(&rows, rows::grant)
    }

    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<(i64, Event)>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT seq, id, kind, ticket_id, org_id, payload, created_at FROM outbox_events \
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after, &i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    get(row, "seq")?,
                    Event {
                        id: get(row, "id")?,
                        kind: get(row, "kind")?,
                        ticket_id: TicketId(get(row, "ticket_id")?),
                        org_id: OrgId(get(row, "org_id")?),
                        payload: json(row, "payload")?,
                        created_at: get(row, "created_at")?,
                    },
                ))
            })
            .collect()
    }
}

/// One page of a catalog table with its total, filtered by organization, ids and a search text.
async fn catalog_page<T>(
    db: &Db,
    table: &str,
    columns: &str,
    order: &str,
    search_columns: &[&str],
    q: &CatalogQuery,
    map: fn(&Row) -> Result<T, StoreError>,
) -> Result<(u64, Vec<T>), StoreError> {
    let orgs: Option<Vec<Uuid>> = q
        .org_ids
        .as_ref()
        .map(|orgs| orgs.iter().map(|o| o.0).collect());
    let pattern: Option<String> = q
        .search
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(|text| ticketd_core::store::like_pattern(text, false));
    let search = search_columns
        .iter()
        .map(|column| format!("{column} ILIKE $3 ESCAPE '\\'"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let where_clause = format!(
        " WHERE ($1::uuid[] IS NULL OR org_id = ANY($1)) AND ($2::uuid[] IS NULL OR id = ANY($2)) \
         AND ($3::text IS NULL OR {search})"
    );
    let params: [&(dyn ToSql + Sync); 3] = [&orgs, &q.ids, &pattern];
    let client = db.client().await?;
    let count = client
        .prepare_cached(&format!("SELECT COUNT(*) FROM {table}{where_clause}"))
        .await
        .map_err(db_err)?;
    let total: i64 = client
        .query_one(&count, &params)
        .await
        .map_err(db_err)?
        .try_get(0)
        .map_err(db_err)?;
    let page = client
        .prepare_cached(&format!(
            "SELECT {columns} FROM {table}{where_clause} ORDER BY lower({order}) COLLATE \"C\", id \
             LIMIT $4 OFFSET $5"
        ))
        .await
        .map_err(db_err)?;
    let limit = optional_limit(q.limit);
    let skip = offset(q.offset);
    let rows = client
        .query(&page, &[&orgs, &q.ids, &pattern, &limit, &skip])
        .await
        .map_err(db_err)?;
    let items = rows::all(&rows, map)?;
    Ok((u64::try_from(total).unwrap_or(0), items))
}

/// The ceiling `ticketd bench` compares writes with: single-row `INSERT` transactions per second
/// with `clients` concurrent connections on the server at `url` (a scratch table, dropped after).
pub async fn raw_insert_rate(
    url: &str,
    clients: usize,
    duration: std::time::Duration,
) -> Result<f64, StoreError> {
    let connect = || async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .map_err(db_err)?;
        tokio::spawn(connection);
        Ok::<_, StoreError>(client)
    };
    let setup = connect().await?;
    setup
        .batch_execute("CREATE TABLE IF NOT EXISTS bench_raw_inserts (id bigserial PRIMARY KEY, payload text NOT NULL)")
        .await
        .map_err(db_err)?;
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let client = connect().await?;
        tasks.push(tokio::spawn(async move {
            let payload = "x".repeat(1000);
            let mut inserts = 0u64;
            while started.elapsed() < duration {
                client
                    .execute(
                        "INSERT INTO bench_raw_inserts (payload) VALUES ($1)",
                        &[&payload],
                    )
                    .await
                    .map_err(db_err)?;
                inserts += 1;
            }
            Ok::<u64, StoreError>(inserts)
        }));
    }
    let mut total = 0u64;
    for task in tasks {
        total += task
            .await
            .map_err(|join| StoreError::Other(Box::new(join)))??;
    }
    let seconds = started.elapsed().as_secs_f64();
    setup
        .batch_execute("DROP TABLE IF EXISTS bench_raw_inserts")
        .await
        .map_err(db_err)?;
    Ok(total as f64 / seconds)
}

/// Settles a database just loaded at `url` before it is measured: `VACUUM (ANALYZE)`, as
/// `pgbench` does after loading (a freshly bulk loaded database has no planner statistics and no
/// visibility map, so no index-only scans, until autovacuum gets to it, which a long-lived
/// deployment always has), then a `CHECKPOINT`, so that writing the load's pages out and the
/// full-page images after the next automatic checkpoint do not fall inside a measurement.
/// A role that may not checkpoint (neither superuser nor `pg_checkpoint`) only skips it, with a
/// warning: the load is measured as before.
pub async fn settle_after_load(url: &str) -> Result<(), StoreError> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(db_err)?;
    let task = tokio::spawn(connection);
    let mut result = client
        .batch_execute("VACUUM (ANALYZE)")
        .await
        .map_err(db_err);
    if result.is_ok() {
        match client.batch_execute("CHECKPOINT").await {
            Err(e)
                if e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) =>
            {
                tracing::warn!(error = %e, "no checkpoint after the load: the role may not checkpoint");
            }
            other => result = other.map_err(db_err),
        }
    }
    drop(client);
    let _ = task.await;
    result
}

/// One write of [`Store::write_flows`] in `tx`, which holds its organization's flow lock: an
/// update's version first, then the rules, then the statement.
async fn write_flow(
    tx: &tokio_postgres::Transaction<'_>,
    write: &FlowWrite,
    rule: Option<&FlowRule>,
) -> Result<(), StoreError> {
    let f = write.flow();
    if let FlowWrite::Update {
        expected_version, ..
    } = write
    {
        let stored = tx
            .query_opt("SELECT version FROM flows WHERE id = $1", &[&f.id.0])
            .await
            .map_err(db_err)?
            .map(|row| row.try_get::<_, i64>(0))
            .transpose()
            .map_err(db_err)?;
        flow_version_check(stored, *expected_version)?;
    }
    check_flow_rules(rule, f, &other_flows(tx, f).await?)?;
    let json = FlowJson::of(f);
    let written = match write {
        FlowWrite::Create(_) => {
            let own: [&(dyn ToSql + Sync); 4] =
                [&f.created_by, &f.version, &f.created_at, &f.updated_at];
            tx.execute(
                "INSERT INTO flows (id, org_id, name, description, kinds, is_default, enabled, \
                 levels, cc_users, attributes, created_by, version, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                &[&json.params(f)[..], &own[..]].concat(),
            )
            .await
        }
        FlowWrite::Update {
            expected_version, ..
        } => {
            // Under READ COMMITTED the version check is evaluated again on a row another
            // writer committed (one that moved the flow from another organization's lock).
            let own: [&(dyn ToSql + Sync); 3] = [&f.version, &f.updated_at, expected_version];
            tx.execute(
                "UPDATE flows SET org_id = $2, name = $3, description = $4, kinds = $5, \
                 is_default = $6, enabled = $7, levels = $8, cc_users = $9, attributes = $10, \
                 version = $11, updated_at = $12 WHERE id = $1 AND version = $13",
                &[&json.params(f)[..], &own[..]].concat(),
            )
            .await
        }
    };
    match written.map_err(db_err)? {
        0 => Err(StoreError::VersionConflict),
        _ => Ok(()),
    }
}

/// A flow's JSON columns, held while its statement binds them.
struct FlowJson<'a> {
    kinds: Json<&'a Vec<String>>,
    levels: Json<&'a Vec<ticketd_core::flow::Level>>,
    cc_users: Json<&'a Vec<UserId>>,
    attributes: Json<&'a serde_json::Value>,
}

impl<'a> FlowJson<'a> {
    fn of(flow: &'a Flow) -> Self {
        Self {
            kinds: Json(&flow.kinds),
            levels: Json(&flow.levels),
            cc_users: Json(&flow.cc_users),
            attributes: Json(&flow.attributes),
        }
    }

    /// `$1` to `$10` of both the flow's INSERT and its UPDATE: id to attributes.
    fn params(&'a self, flow: &'a Flow) -> [&'a (dyn ToSql + Sync); 10] {
        [
            &flow.id.0,
            &flow.org_id.0,
            &flow.name,
            &flow.description,
            &self.kinds,
            &flow.is_default,
            &flow.enabled,
            &self.levels,
            &self.cc_users,
            &self.attributes,
        ]
    }
}

/// Adds one membership (organization, user, role), none if held: user creation, additions
/// and role replacements alike.
const INSERT_MEMBERSHIP: &str = "INSERT INTO org_members (org_id, user_id, role_id) \
                                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";

/// Takes the lock of the set of system administrators: a transaction-scoped advisory lock
/// ("user", 1) every change of a user's system role or activity, and every deletion, takes
/// before it reads the user, so each decides on what the ones before it committed (two
/// administrators demoting each other at once both succeeded and left none; a promotion, a
/// deactivation of the promoted and a demotion at once could too).
async fn lock_admins(tx: &tokio_postgres::Transaction<'_>) -> Result<(), StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock(1970496882, 1)", &[])
        .await
        .map(|_| ())
        .map_err(db_err)
}

/// Refuses unless an active system administrator other than `id` remains
/// ([`ticketd_core::identity::LAST_ADMIN`]), under [`lock_admins`].
async fn keep_an_admin_besides(
    tx: &tokio_postgres::Transaction<'_>,
    id: UserId,
    field: &str,
) -> Result<(), StoreError> {
    let others: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM users WHERE system_role = 'admin' AND is_active \
             AND id <> $1) AS others",
            &[&id.0],
        )
        .await
        .map_err(db_err)
        .and_then(|row| get(&row, "others"))?;
    ticketd_core::store::an_admin_remains(others, field)
}

/// Takes `user` out of the grants of `org` (of every organization with `None`): its user rows
/// and the grant's own list, in one statement. See [`Store::replace_member_roles`].
async fn leave_grants(
    tx: &tokio_postgres::Transaction<'_>,
    user: UserId,
    org: Option<OrgId>,
) -> Result<(), StoreError> {
    // The grants are locked in id order first: two users of the same grants leaving at once
    // locked them in whatever order each statement met them, and deadlocked.
    let held: Vec<Uuid> = tx
        .query(
            "SELECT g.id FROM grants g JOIN grant_users u ON u.grant_id = g.id \
             WHERE u.user_id = $1 AND ($2::uuid IS NULL OR g.org_id = $2) \
             ORDER BY g.id FOR NO KEY UPDATE OF g",
            &[&user.0, &org.map(|o| o.0)],
        )
        .await
        .map_err(db_err)?
        .iter()
        .map(|row| row.try_get(0).map_err(db_err))
        .collect::<Result<_, _>>()?;
    if held.is_empty() {
        return Ok(());
    }
    // `users - text` drops the array's elements equal to that string, keeping the others'
    // order; it is relative to the row as it is, so two users leaving at once both go.
    tx.execute(
        "WITH gone AS (DELETE FROM grant_users WHERE user_id = $1 AND grant_id = ANY($2) \
           RETURNING grant_id) \
         UPDATE grants SET users = users - $3::text WHERE id IN (SELECT grant_id FROM gone)",
        &[&user.0, &held, &user.0.to_string()],
    )
    .await
    .map(|_| ())
    .map_err(db_err)
}

/// Locks `user`'s row for the transaction, so that writes of their memberships take turns: two
/// replacements of their roles at once otherwise each deleted only the rows its statement saw,
/// and the user ended with both sets (a removal undone, answered 204). `NO KEY UPDATE`, which
/// the key-share locks of foreign-key checks (an opening naming the user) do not wait for.
async fn lock_user(tx: &tokio_postgres::Transaction<'_>, user: UserId) -> Result<(), StoreError> {
    tx.execute(
        "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE",
        &[&user.0],
    )
    .await
    .map(|_| ())
    .map_err(db_err)
}

/// Takes the lock of users' e-mail addresses when `email` is one: a transaction-scoped
/// advisory lock ("user", 0) every write of a user with an address takes first, so each sees
/// the addresses the ones before it committed ([`check_email_free`]).
async fn lock_addresses(
    tx: &tokio_postgres::Transaction<'_>,
    email: &str,
) -> Result<(), StoreError> {
    if email.is_empty() {
        return Ok(());
    }
    tx.execute("SELECT pg_advisory_xact_lock(1970496882, 0)", &[])
        .await
        .map(|_| ())
        .map_err(db_err)
}

/// Refuses `email` if a user other than `owner` holds it
/// ([`ticketd_core::store::check_email_free`]), under [`lock_addresses`].
async fn check_email_free(
    tx: &tokio_postgres::Transaction<'_>,
    email: &str,
    owner: UserId,
) -> Result<(), StoreError> {
    if email.is_empty() {
        return Ok(());
    }
    let rows = tx
        .query("SELECT id, email FROM users WHERE email <> ''", &[])
        .await
        .map_err(db_err)?;
    let addresses = rows
        .iter()
        .map(|row| Ok((UserId(get(row, "id")?), get::<String>(row, "email")?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    ticketd_core::store::check_email_free(
        addresses
            .iter()
            .map(|(id, address)| (*id, address.as_str())),
        email,
        owner,
    )
}

/// Takes the lock every write of a node's path takes first ("node", 0): a rename moves its
/// descendants by their paths, so a child created, renamed or deleted meanwhile would keep a
/// stale path, and two renames of a parent and its child deadlocked on each other's rows and
/// the directory generation's.
async fn lock_node_paths(tx: &tokio_postgres::Transaction<'_>) -> Result<(), StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock(1852793957, 0)", &[])
        .await
        .map(|_| ())
        .map_err(db_err)
}

/// Takes the organization's flow lock: a transaction-scoped advisory lock (two 32-bit keys, a
/// key space apart from the single-key locks of migrations and the outbox) that every flow
/// write of the organization takes first, so each sees the flows the ones before it committed.
async fn lock_flows_of(tx: &tokio_postgres::Transaction<'_>, org: OrgId) -> Result<(), StoreError> {
    // "tick", and the organization's id hashed.
    tx.execute(
        "SELECT pg_advisory_xact_lock(1953063787, hashtext(CAST($1::uuid AS text)))",
        &[&org.0],
    )
    .await
    .map(|_| ())
    .map_err(db_err)
}

/// The flows of `flow`'s organization but itself, as the write's transaction sees them.
async fn other_flows(
    tx: &tokio_postgres::Transaction<'_>,
    flow: &Flow,
) -> Result<Vec<Flow>, StoreError> {
    let others = tx
        .query(
            &format!("SELECT {FLOW_COLUMNS} FROM flows WHERE org_id = $1 AND id <> $2"),
            &[&flow.org_id.0, &flow.id.0],
        )
        .await
        .map_err(db_err)?;
    rows::all(&others, rows::flow)
}
