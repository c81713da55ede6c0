//! ticketd's embedded store: SQLite in WAL mode with a group-committing writer thread.

mod conn;
mod rows;
mod tickets;

pub use conn::{Durability, SqliteOptions, path_from_url};

use crate::tickets::LOWER_FUNCTION;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use conn::{Pool, db_err, one_row};
use rows::{USER_COLUMNS, from_ts, json_text, ts};
use rusqlite::{OptionalExtension, params};
use std::sync::Arc;
use ticketd_core::StoreError;
use ticketd_core::catalog::{Asset, AssetChange, CatalogQuery, Node};
use ticketd_core::flow::Flow;
use ticketd_core::identity::{
    AccessKey, DirectoryEntry, Membership, NewUser, Org, PasswordHashes, ROOT_ORG, Role, RoleScope,
    SystemRole, TokenKind, TokenRecord, User, UserChange,
};
use ticketd_core::ids::{AccessKeyId, AssetId, FlowId, NodeId, OrgId, RoleId, TicketId, UserId};
use ticketd_core::parsed_tickets::ParsedTickets;
use ticketd_core::store::{
    FlowRule, FlowWrite, GrantQuery, Inserted, ListMark, OrgChange, Store, TicketPage, TicketQuery,
    TokenActor, check_flow_rules, flow_version_check,
};
use ticketd_core::ticket::{
    Comment, CommentKind, Event, Grant, HistoryAction, HistoryEntry, Ticket, TicketState,
    TicketWrite,
};
use uuid::Uuid;

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: Arc<Pool>,
    /// Parsed JSON columns of the tickets read again and again.
    parsed: Arc<ParsedTickets>,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database; returns the store and how many
    /// migrations ran.
    pub fn open(options: &SqliteOptions) -> Result<(Self, usize), StoreError> {
        let (pool, migrated) = Pool::open(options)?;
        Ok((
            Self {
                pool,
                parsed: Arc::new(ParsedTickets::new()),
            },
            migrated,
        ))
    }

    /// The query plan SQLite chooses for a ticket list query (for tests and benchmarks: list
    /// queries must be driven by an index, never by a scan of every ticket).
    pub async fn list_query_plan(&self, query: TicketQuery) -> Result<Vec<String>, StoreError> {
        self.pool
            .read(move |c| tickets::query_plan(c, &query))
            .await
    }
}

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

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        if let Some(problem) = self.pool.unwritable() {
            return Err(StoreError::Unavailable(problem));
        }
        self.pool
            .read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(db_err))
            .await
    }

    async fn shutdown(&self) -> Result<(), StoreError> {
        self.pool.empty_the_log().await
    }

    async fn ensure_builtins(&self, orgs: Vec<Org>, roles: Vec<Role>) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                for org in &orgs {
                    c.execute(
                        "INSERT OR IGNORE INTO orgs (id, name, builtin, comment, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![org.id.0, org.name, org.builtin, org.comment, ts(org.created_at)],
                    )
                    .map_err(db_err)?;
                }
                for role in &roles {
                    c.execute(
                        "INSERT OR IGNORE INTO roles (id, name, scope, builtin) VALUES (?1, ?2, ?3, ?4)",
                        params![role.id.0, role.name, scope_name(role.scope), role.builtin],
                    )
                    .map_err(db_err)?;
                }
                Ok(())
            })
            .await
    }

    async fn create_org(&self, org: Org) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                c.execute(
                    "INSERT INTO orgs (id, name, builtin, comment, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![org.id.0, org.name, org.builtin, org.comment, ts(org.created_at)],
                )
                .map(|_| ())
                .map_err(db_err)
            })
            .await
    }

    async fn get_org(&self, id: OrgId) -> Result<Option<Org>, StoreError> {
        self.pool
            .read(move |c| {
                c.prepare_cached("SELECT * FROM orgs WHERE id = ?1")
                    .and_then(|mut s| s.query_row([id.0], rows::org).optional())
                    .map_err(db_err)
            })
            .await
    }

    async fn find_org_by_name(&self, name: &str) -> Result<Option<Org>, StoreError> {
        let name = name.to_owned();
        self.pool
            .read(move |c| {
                c.prepare_cached("SELECT * FROM orgs WHERE name = ?1 COLLATE NOCASE")
                    .and_then(|mut s| s.query_row([&name], rows::org).optional())
                    .map_err(db_err)
            })
            .await
    }

    async fn list_orgs(&self) -> Result<Vec<Org>, StoreError> {
        self.pool
            .read(|c| {
                c.prepare_cached(&format!(
                    "SELECT * FROM orgs ORDER BY {LOWER_FUNCTION}(name), id"
                ))
                .and_then(|mut s| s.query_map([], rows::org)?.collect())
                .map_err(db_err)
            })
            .await
    }

    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        self.pool
            .read(|c| {
                c.prepare_cached("SELECT id, name, scope, builtin FROM roles ORDER BY name")
                    .and_then(|mut s| {
                        s.query_map([], |r| {
                            let scope: String = r.get(2)?;
                            Ok(Role {
                                id: RoleId(r.get(0)?),
                                name: r.get(1)?,
                                scope: role_scope(&scope),
                                builtin: r.get(3)?,
                            })
                        })?
                        .collect()
                    })
                    .map_err(db_err)
            })
            .await
    }

    async fn create_user(&self, new: NewUser) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                let u = &new.user;
                let p = new.password.as_ref();
                c.execute(
                    "INSERT INTO users (id, username, name, email, system_role, is_active, password_plain, \
                     password_md5, password_sha512, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        u.id.0,
                        u.username,
                        u.name,
                        u.email,
                        u.system_role.as_str(),
                        u.is_active,
                        p.map(|h| h.plain.clone()),
                        p.map(|h| h.md5_hex.clone()),
                        p.map(|h| h.sha512_hex.clone()),
                        ts(u.created_at),
                        ts(u.updated_at)
                    ],
                )
                .map_err(db_err)?;
                // After the insert, so a taken username is the conflict told first.
                check_email_free(c, &u.email, u.id)?;
                for (org, role) in &new.memberships {
                    c.prepare_cached(
                        INSERT_MEMBERSHIP,
                    )
                    .and_then(|mut s| s.execute(params![org.0, u.id.0, role.0]))
                    .map_err(db_err)?;
                }
                Ok(())
            })
            .await
    }

    async fn change_user(
        &self,
        id: UserId,
        change: UserChange,
        updated_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                let stored = user_by_id(c, id)?.ok_or(StoreError::NotFound)?;
                if let Some(field) = change.unmakes_admin(&stored) {
                    keep_an_admin_besides(c, id, field)?;
                }
                let n = c
                    .execute(
                        "UPDATE users SET username = COALESCE(?2, username), name = COALESCE(?3, name), \
                         email = COALESCE(?4, email), system_role = COALESCE(?5, system_role), \
                         is_active = COALESCE(?6, is_active), updated_at = ?7 WHERE id = ?1",
                        params![
                            id.0,
                            change.username,
                            change.name,
                            change.email,
                            change.system_role.map(|role| role.as_str()),
                            change.is_active,
                            ts(updated_at)
                        ],
                    )
                    .map_err(db_err)?;
                one_row(n)?;
                // An address kept as it was stays, even one shared before addresses were unique.
                match &change.email {
                    Some(email) if *email != stored.email => check_email_free(c, email, id),
                    _ => Ok(()),
                }
            })
            .await
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.pool.read(move |c| user_by_id(c, id)).await
    }

    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let username = username.to_owned();
        self.pool
            .read(move |c| {
                c.prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE username = ?1"
                ))
                .and_then(|mut s| s.query_row([&username], rows::user).optional())
                .map_err(db_err)
            })
            .await
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.pool
            .read(|c| {
                c.prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users ORDER BY username"
                ))
                .and_then(|mut s| s.query_map([], rows::user)?.collect())
                .map_err(db_err)
            })
            .await
    }

    async fn users_by_ids(&self, ids: Vec<UserId>) -> Result<Vec<User>, StoreError> {
        self.pool
            .read(move |c| {
                let mut stmt = c
                    .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
                    .map_err(db_err)?;
                let mut users = Vec::with_capacity(ids.len());
                for id in &ids {
                    if let Some(user) = stmt
                        .query_row([id.0], rows::user)
                        .optional()
                        .map_err(db_err)?
                    {
                        users.push(user);
                    }
                }
                Ok(users)
            })
            .await
    }

    async fn password_hashes(&self, user: UserId) -> Result<Option<PasswordHashes>, StoreError> {
        self.pool
            .read(move |c| {
                let row: Option<(Option<String>, Option<String>, Option<String>)> = c
                    .prepare_cached("SELECT password_plain, password_md5, password_sha512 FROM users WHERE id = ?1")
                    .and_then(|mut s| s.query_row([user.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional())
                    .map_err(db_err)?;
                Ok(match row {
                    Some((Some(plain), Some(md5_hex), Some(sha512_hex))) => {
                        Some(PasswordHashes { plain, md5_hex, sha512_hex })
                    }
                    _ => None,
                })
            })
            .await
    }

    async fn set_password_hashes(&self, user: UserId, h: PasswordHashes) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                let n = c
                    .execute(
                        "UPDATE users SET password_plain = ?2, password_md5 = ?3, password_sha512 = ?4 WHERE id = ?1",
                        params![user.0, h.plain, h.md5_hex, h.sha512_hex],
                    )
                    .map_err(db_err)?;
                one_row(n)
            })
            .await
    }

    async fn add_membership(&self, m: Membership) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                c.execute(
                    INSERT_MEMBERSHIP,
                    params![m.org_id.0, m.user_id.0, m.role_id.0],
                )
                .map(|_| ())
                .map_err(db_err)
            })
            .await
    }

    async fn remove_member_role(
        &self,
        org: OrgId,
        user: UserId,
        role: RoleId,
    ) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                let n = c
                    .execute(
                        "DELETE FROM org_members WHERE org_id = ?1 AND user_id = ?2 AND role_id = ?3",
                        params![org.0, user.0, role.0],
                    )
                    .map_err(db_err)?;
                one_row(n)?;
                let still_member: bool = c
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM org_members WHERE org_id = ?1 AND user_id = ?2)",
                        params![org.0, user.0],
                        |r| r.get(0),
                    )
                    .map_err(db_err)?;
                if !still_member {
                    leave_grants(c, user, Some(org))?;
                }
                Ok(())
            })
            .await
    }

    async fn replace_member_roles(
        &self,
        org: OrgId,
        user: UserId,
        roles: Vec<RoleId>,
    ) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                let removed = c
                    .execute(
                        "DELETE FROM org_members WHERE org_id = ?1 AND user_id = ?2",
                        params![org.0, user.0],
                    )
                    .map_err(db_err)?;
                if removed == 0 && !roles.is_empty() {
                    return Err(StoreError::NotFound);
                }
                for role in &roles {
                    c.execute(INSERT_MEMBERSHIP, params![org.0, user.0, role.0])
                        .map_err(db_err)?;
                }
                // A user who held no role there (a system administrator removing themselves
                // from an organization they never joined) leaves nothing.
                if roles.is_empty() && removed > 0 {
                    leave_grants(c, user, Some(org))?;
                }
                Ok(())
            })
            .await
    }

    async fn memberships_of(&self, user: UserId) -> Result<Vec<Membership>, StoreError> {
        self.pool.read(move |c| memberships_of_user(c, user)).await
    }

    async fn memberships_in(&self, orgs: Vec<OrgId>) -> Result<Vec<Membership>, StoreError> {
        self.pool
            .read(move |c| {
                let mut out = Vec::new();
                let mut stmt = c
                    .prepare_cached(
                        "SELECT org_id, user_id, role_id FROM org_members WHERE org_id = ?1",
                    )
                    .map_err(db_err)?;
                for org in &orgs {
                    let rows = stmt
                        .query_map([org.0], rows::membership)
                        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                        .map_err(db_err)?;
                    out.extend(rows);
                }
                Ok(out)
            })
            .await
    }

    async fn org_directory(&self, org: OrgId) -> Result<Arc<Vec<DirectoryEntry>>, StoreError> {
        self.pool
            .read(move |c| {
                if org == ROOT_ORG {
                    return c
                        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users"))
                        .and_then(|mut s| {
                            s.query_map([], |r| Ok(DirectoryEntry { user: rows::user(r)?, org_roles: Vec::new() }))?
                                .collect()
                        })
                        .map_err(db_err);
                }
                let mut stmt = c
                    .prepare_cached(
                        "SELECT u.id, u.username, u.name, u.email, u.system_role, u.is_active, u.created_at, \
                         u.updated_at, m.role_id FROM org_members m JOIN users u ON u.id = m.user_id \
                         WHERE m.org_id = ?1 \
                         UNION ALL \
                         SELECT u.id, u.username, u.name, u.email, u.system_role, u.is_active, u.created_at, \
                         u.updated_at, NULL FROM users u WHERE u.system_role = 'admin' \
                         AND NOT EXISTS (SELECT 1 FROM org_members m2 WHERE m2.org_id = ?1 AND m2.user_id = u.id) \
                         ORDER BY 1",
                    )
                    .map_err(db_err)?;
                let rows = stmt
                    .query_map([org.0], |r| Ok((rows::user(r)?, r.get::<_, Option<uuid::Uuid>>(8)?.map(RoleId))))
                    .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                    .map_err(db_err)?;
                let mut entries: Vec<DirectoryEntry> = Vec::new();
                for (user, role) in rows {
                    match entries.last_mut() {
                        Some(last) if last.user.id == user.id => last.org_roles.extend(role),
                        _ => entries.push(DirectoryEntry { user, org_roles: role.into_iter().collect() }),
                    }
                }
                Ok(entries)
            })
            .await
            .map(Arc::new)
    }

    async fn update_org(&self, id: OrgId, change: OrgChange) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                let n = c
                    .execute(
                        "UPDATE orgs SET name = coalesce(?2, name), comment = coalesce(?3, comment) \
                         WHERE id = ?1",
                        params![id.0, change.name, change.comment],
                    )
                    .map_err(db_err)?;
                one_row(n)
            })
            .await
    }

    async fn delete_org(&self, id: OrgId) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                let in_use: bool = c
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM tickets WHERE org_id = ?1) \
                         OR EXISTS (SELECT 1 FROM flows WHERE org_id = ?1) \
                         OR EXISTS (SELECT 1 FROM assets WHERE org_id = ?1) \
                         OR EXISTS (SELECT 1 FROM nodes WHERE org_id = ?1)",
                        [id.0],
                        |r| r.get(0),
                    )
                    .map_err(db_err)?;
                if in_use {
                    return Err(StoreError::Conflict {
                        constraint: "organization in use".into(),
                    });
                }
                let n = c
                    .execute("DELETE FROM orgs WHERE id = ?1", [id.0])
                    .map_err(db_err)?;
                one_row(n)
            })
            .await
    }

    async fn delete_user(&self, id: UserId) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                let stored = user_by_id(c, id)?.ok_or(StoreError::NotFound)?;
                if stored.system_role == SystemRole::Admin && stored.is_active {
                    keep_an_admin_besides(c, id, "non_field_errors")?;
                }
                let n = c
                    .execute("DELETE FROM users WHERE id = ?1", [id.0])
                    .map_err(db_err)?;
                one_row(n)?;
                leave_grants(c, id, None)
            })
            .await
    }

    async fn put_asset(&self, a: Asset) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                // A taken id inserts nothing (told apart from a taken name, which SQLite may
                // report first when both are).
                let inserted = c.execute(
                    "INSERT INTO assets (id, org_id, name, address, platform, is_active, node_ids, comment, created_at, \
                     updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO NOTHING",
                    params![
                        a.id.0,
                        a.org_id.0,
                        a.name,
                        a.address,
                        a.platform,
                        a.is_active,
                        json_text(&a.node_ids),
                        a.comment,
                        ts(a.created_at),
                        ts(a.updated_at)
                    ],
                )
                .map_err(db_err)?;
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
        self.pool
            .write(move |c| {
                let n = c
                    .execute(
                        "UPDATE assets SET org_id = COALESCE(?2, org_id), name = COALESCE(?3, name), \
                         address = COALESCE(?4, address), platform = COALESCE(?5, platform), \
                         is_active = COALESCE(?6, is_active), node_ids = COALESCE(?7, node_ids), \
                         comment = COALESCE(?8, comment), updated_at = ?9 WHERE id = ?1",
                        params![
                            id.0,
                            change.org_id.map(|org| org.0),
                            change.name,
                            change.address,
                            change.platform,
                            change.is_active,
                            change.node_ids.as_ref().map(json_text),
                            change.comment,
                            ts(updated_at)
                        ],
                    )
                    .map_err(db_err)?;
                one_row(n)
            })
            .await
    }

    async fn delete_asset(&self, id: AssetId) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                let n = c
                    .execute("DELETE FROM assets WHERE id = ?1", [id.0])
                    .map_err(db_err)?;
                one_row(n)
            })
            .await
    }

    async fn list_assets(&self, q: CatalogQuery) -> Result<(u64, Vec<Asset>), StoreError> {
        self.pool
            .read(move |c| catalog_page(c, "assets", "name", &["name", "address"], &q, rows::asset))
            .await
    }

    async fn put_node(&self, n: Node) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                if let Some(parent) = n.parent_id {
                    let parent_path: Option<String> = c
                        .query_row(
                            "SELECT full_value FROM nodes WHERE id = ?1",
                            [parent.0],
                            |row| row.get(0),
                        )
                        .optional()
                        .map_err(db_err)?;
                    ticketd_core::store::check_parent_path(&n, parent_path.as_deref())?;
                }
                c.execute(
                    "INSERT INTO nodes (id, org_id, name, parent_id, full_value, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
                     parent_id = excluded.parent_id, full_value = excluded.full_value",
                    params![n.id.0, n.org_id.0, n.name, n.parent_id.map(|p| p.0), n.full_value, ts(n.created_at)],
                )
                .map(|_| ())
                .map_err(db_err)
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
        self.pool
            .write(move |c| {
                let renamed = c
                    .execute(
                        "UPDATE nodes SET name = ?2, full_value = ?4 WHERE id = ?1 AND full_value = ?3",
                        params![id.0, name, old_path, new_path],
                    )
                    .map_err(db_err)?;
                one_row(renamed)?;
                // Lengths and offsets count characters, as SQLite's `length` and `substr` do on
                // text.
                c.execute(
                    "UPDATE nodes SET full_value = ?3 || substr(full_value, length(?2) + 1) \
                     WHERE org_id = (SELECT org_id FROM nodes WHERE id = ?1) \
                     AND substr(full_value, 1, length(?2) + 1) = ?2 || '/'",
                    params![id.0, old_path, new_path],
                )
                .map(|_| ())
                .map_err(db_err)
            })
            .await
    }

    async fn delete_node(&self, id: NodeId) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                let n = c
                    .execute("DELETE FROM nodes WHERE id = ?1", [id.0])
                    .map_err(db_err)?;
                one_row(n)
            })
            .await
    }

    async fn list_nodes(&self, q: CatalogQuery) -> Result<(u64, Vec<Node>), StoreError> {
        self.pool
            .read(move |c| catalog_page(c, "nodes", "full_value", &["full_value"], &q, rows::node))
            .await
    }

    async fn create_token(&self, t: TokenRecord) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                c.execute(
                    "INSERT INTO api_tokens (token_hash, user_id, kind, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![t.token_hash.to_vec(), t.user_id.0, t.kind.as_str(), t.expires_at.map(ts), ts(t.created_at)],
                )
                .map(|_| ())
                .map_err(db_err)
            })
            .await
    }

    async fn find_token(&self, digest: [u8; 32]) -> Result<Option<TokenRecord>, StoreError> {
        self.pool.read(move |c| token_by_digest(c, digest)).await
    }

    async fn token_actor(&self, digest: [u8; 32]) -> Result<Option<TokenActor>, StoreError> {
        // One hop to a reader for the lookups every authenticated request makes.
        self.pool
            .read(move |c| {
                let Some(record) = token_by_digest(c, digest)? else {
                    return Ok(None);
                };
                let Some(user) = user_by_id(c, record.user_id)? else {
                    return Ok(None);
                };
                let memberships = memberships_of_user(c, user.id)?;
                let directory_generation = Some(directory_generation(c)?);
                Ok(Some(TokenActor {
                    record,
                    user,
                    memberships,
                    directory_generation,
                }))
            })
            .await
    }

    async fn directory_generation(&self) -> Result<Option<i64>, StoreError> {
        self.pool.read(|c| directory_generation(c).map(Some)).await
    }

    async fn delete_token(&self, digest: [u8; 32]) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                c.execute(
                    "DELETE FROM api_tokens WHERE token_hash = ?1",
                    [digest.to_vec()],
                )
                .map(|_| ())
                .map_err(db_err)
            })
            .await
    }

    async fn delete_tokens_of_kind(&self, user: UserId, kind: TokenKind) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                c.execute(
                    "DELETE FROM api_tokens WHERE user_id = ?1 AND kind = ?2",
                    params![user.0, kind.as_str()],
                )
                .map(|_| ())
                .map_err(db_err)
            })
            .await
    }

    async fn replace_tokens_of_kind(&self, t: TokenRecord) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                let hash = t.token_hash.to_vec();
                let holder: Option<(uuid::Uuid, String)> = c
                    .query_row(
                        "SELECT user_id, kind FROM api_tokens WHERE token_hash = ?1",
                        [&hash],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()
                    .map_err(db_err)?;
                let moves = |kind: &str| kind == TokenKind::Operator.as_str() && t.kind == TokenKind::Operator;
                if holder.is_some_and(|(h, kind)| h != t.user_id.0 && !moves(&kind)) {
                    return Err(StoreError::Conflict {
                        constraint: "api_tokens.token_hash".into(),
                    });
                }
                c.execute(
                    "DELETE FROM api_tokens WHERE user_id = ?1 AND kind = ?2 AND token_hash <> ?3",
                    params![t.user_id.0, t.kind.as_str(), hash],
                )
                .map_err(db_err)?;
                c.execute(
                    "INSERT INTO api_tokens (token_hash, user_id, kind, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (token_hash) DO UPDATE SET user_id = excluded.user_id, kind = excluded.kind, \
                     expires_at = excluded.expires_at",
                    params![hash, t.user_id.0, t.kind.as_str(), t.expires_at.map(ts), ts(t.created_at)],
                )
                .map(|_| ())
                .map_err(db_err)
            })
            .await
    }

    async fn create_access_key(&self, k: AccessKey) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                c.execute(
                    "INSERT INTO access_keys (id, user_id, secret, is_active, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![k.id.0, k.user_id.0, k.secret, k.is_active, ts(k.created_at)],
                )
                .map(|_| ())
                .map_err(db_err)
            })
            .await
    }

    async fn get_access_key(&self, id: AccessKeyId) -> Result<Option<AccessKey>, StoreError> {
        self.pool
            .read(move |c| {
                c.prepare_cached("SELECT id, user_id, secret, is_active, created_at FROM access_keys WHERE id = ?1")
                    .and_then(|mut s| s.query_row([id.0], access_key_row).optional())
                    .map_err(db_err)
            })
            .await
    }

    async fn access_keys_of(&self, user: UserId) -> Result<Vec<AccessKey>, StoreError> {
        self.pool
            .read(move |c| {
                c.prepare_cached(
                    "SELECT id, user_id, secret, is_active, created_at FROM access_keys WHERE user_id = ?1 ORDER BY created_at",
                )
                .and_then(|mut s| s.query_map([user.0], access_key_row)?.collect())
                .map_err(db_err)
            })
            .await
    }

    async fn delete_access_key(&self, id: AccessKeyId) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                let n = c
                    .execute("DELETE FROM access_keys WHERE id = ?1", [id.0])
                    .map_err(db_err)?;
                one_row(n)
            })
            .await
    }

    async fn set_access_key_active(&self, id: AccessKeyId, active: bool) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                let n = c
                    .execute(
                        "UPDATE access_keys SET is_active = ?2 WHERE id = ?1",
                        params![id.0, active],
                    )
                    .map_err(db_err)?;
                one_row(n)
            })
            .await
    }

    async fn write_flows(
        &self,
        writes: Vec<FlowWrite>,
        rule: Option<FlowRule>,
    ) -> Result<(), StoreError> {
        // One job, in a savepoint of its own: all its writes or none. The single writer runs
        // one write at a time, so the flows each write's rules read are all there are.
        self.pool
            .write(move |c| {
                for write in &writes {
                    write_flow(c, write, rule.as_ref())?;
                }
                Ok(())
            })
            .await
    }

    async fn delete_flow(&self, id: FlowId) -> Result<(), StoreError> {
        self.pool
            .write(move |c| {
                let n = c
                    .execute("DELETE FROM flows WHERE id = ?1", [id.0])
                    .map_err(db_err)?;
                one_row(n)
            })
            .await
    }

    async fn get_flow(&self, id: FlowId) -> Result<Option<Flow>, StoreError> {
        self.pool
            .read(move |c| {
                c.prepare_cached("SELECT * FROM flows WHERE id = ?1")
                    .and_then(|mut s| s.query_row([id.0], rows::flow).optional())
                    .map_err(db_err)
            })
            .await
    }

    async fn list_flows(&self, orgs: Vec<OrgId>) -> Result<Arc<[Flow]>, StoreError> {
        self.pool
            .read(move |c| {
                let mut out = Vec::new();
                let mut stmt = c
                    .prepare_cached("SELECT * FROM flows WHERE org_id = ?1 ORDER BY created_at, id")
                    .map_err(db_err)?;
                for org in &orgs {
                    let flows = stmt
                        .query_map([org.0], rows::flow)
                        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                        .map_err(db_err)?;
                    out.extend(flows);
                }
                out.sort_by_key(|f: &Flow| (f.created_at, f.id));
                Ok(out.into())
            })
            .await
    }

    async fn write_ticket(&self, write: TicketWrite) -> Result<Ticket, StoreError> {
        let texts = tickets::TicketTexts::of(&write.ticket);
        if write.expected_version.is_none() {
            // A new ticket and rows of its own only: counts taken before stay exact up to it.
            return self
                .pool
                .insert_ticket(move |c| tickets::write_ticket(c, &write, &texts))
                .await;
        }
        self.pool
            .write_tickets(move |c| tickets::write_ticket(c, &write, &texts))
            .await
    }

    async fn get_ticket(&self, id: TicketId) -> Result<Option<Ticket>, StoreError> {
        let parsed = Arc::clone(&self.parsed);
        self.pool
            .read(move |c| tickets::get_ticket(c, id.0, &parsed))
            .await
    }

    async fn list_tickets(&self, query: TicketQuery) -> Result<TicketPage, StoreError> {
        let parsed = Arc::clone(&self.parsed);
        self.pool
            .read(move |c| tickets::list_tickets(c, &query, &parsed))
            .await
    }

    fn local_data_version(&self) -> Option<u64> {
        // This process's writer thread is the file's only writer (one serving process per file).
        Some(self.pool.write_epoch())
    }

    fn local_identity_version(&self) -> Option<u64> {
        // Ticket writes and comments go through `write_tickets`; every other write moves it.
        Some(self.pool.identity_epoch())
    }

    fn local_reference_version(&self) -> Option<u64> {
        // The same counter: a ticket write or a comment changes only tickets (and their own
        // history, assignee, viewer and outbox rows), which a display keys by ticket version.
        Some(self.pool.identity_epoch())
    }

    async fn count_inserted_since(
        &self,
        query: TicketQuery,
        since: ListMark,
    ) -> Result<Option<Inserted>, StoreError> {
        self.pool
            .read(move |c| tickets::count_inserted_since(c, &query, since))
            .await
    }

    async fn ticket_history(&self, id: TicketId) -> Result<Vec<HistoryEntry>, StoreError> {
        self.pool
            .read(move |c| {
                c.prepare_cached(
                    "SELECT id, ticket_id, round, level, action, actor_id, actor_display, from_state, to_state, reason, \
                     self_approved, created_at, ended_round_steps FROM ticket_history WHERE ticket_id = ?1 \
                     ORDER BY seq",
                )
                .and_then(|mut s| {
                    s.query_map([id.0], |r| {
                        let action: String = r.get(4)?;
                        let from: String = r.get(7)?;
                        let to: String = r.get(8)?;
                        Ok(HistoryEntry {
                            id: r.get(0)?,
                            ticket_id: TicketId(r.get(1)?),
                            round: r.get(2)?,
                            level: r.get(3)?,
                            action: HistoryAction::parse(&action).unwrap_or(HistoryAction::Edit),
                            actor_id: r.get::<_, Option<Uuid>>(5)?.map(UserId),
                            actor_display: r.get(6)?,
                            from_state: TicketState::parse(&from).unwrap_or(TicketState::Pending),
                            to_state: TicketState::parse(&to).unwrap_or(TicketState::Pending),
                            reason: r.get(9)?,
                            self_approved: r.get(10)?,
                            created_at: from_ts(r.get(11)?),
                            ended_round_steps: rows::json_col_opt(r, 12)?.map(Arc::new),
                        })
                    })?
                    .collect()
                })
                .map_err(db_err)
            })
            .await
    }

    async fn add_comment(&self, comment: Comment) -> Result<(), StoreError> {
        self.pool
            .write_tickets(move |c| tickets::insert_comment(c, &comment))
            .await
    }

    async fn ticket_comments(&self, id: TicketId) -> Result<Vec<Comment>, StoreError> {
        self.pool
            .read(move |c| {
                c.prepare_cached(
                    "SELECT id, ticket_id, user_id, user_display, body, kind, state, created_at FROM ticket_comments \
                     WHERE ticket_id = ?1 ORDER BY seq",
                )
                .and_then(|mut s| {
                    s.query_map([id.0], |r| {
                        let kind: String = r.get(5)?;
                        Ok(Comment {
                            id: r.get(0)?,
                            ticket_id: TicketId(r.get(1)?),
                            user_id: r.get::<_, Option<Uuid>>(2)?.map(UserId),
                            user_display: r.get(3)?,
                            body: r.get(4)?,
                            kind: if kind == "state" { CommentKind::State } else { CommentKind::Common },
                            state: r.get(6)?,
                            created_at: from_ts(r.get(7)?),
                        })
                    })?
                    .collect()
                })
                .map_err(db_err)
            })
            .await
    }

    async fn get_grant(&self, id: Uuid) -> Result<Option<Grant>, StoreError> {
        self.pool
            .read(move |c| {
                c.prepare_cached("SELECT * FROM grants WHERE id = ?1")
                    .and_then(|mut s| s.query_row([id], rows::grant).optional())
                    .map_err(db_err)
            })
            .await
    }

    async fn list_grants(&self, q: GrantQuery) -> Result<Vec<Grant>, StoreError> {
        self.pool
            .read(move |c| {
                use rusqlite::types::Value as V;
                let mut params: Vec<V> = Vec::new();
                let mut conditions: Vec<String> = Vec::new();
                if let Some(orgs) = &q.org_ids {
                    let marks: Vec<&str> = orgs.iter().map(|_| "?").collect();
                    params.extend(orgs.iter().map(|o| V::Blob(o.0.as_bytes().to_vec())));
                    conditions.push(if marks.is_empty() { "0".into() } else { format!("g.org_id IN ({})", marks.join(", ")) });
                }
                if let Some(user) = q.user {
                    params.push(V::Blob(user.0.as_bytes().to_vec()));
                    conditions.push("g.id IN (SELECT grant_id FROM grant_users WHERE user_id = ?)".into());
                }
                if let Some(kind) = &q.kind {
                    params.push(V::Text(kind.clone()));
                    conditions.push("g.kind = ?".into());
                }
                if let Some(ticket) = q.ticket {
                    params.push(V::Blob(ticket.0.as_bytes().to_vec()));
                    conditions.push("g.ticket_id = ?".into());
                }
                let where_clause =
                    if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };
                let limit = if q.limit == 0 { -1 } else { i64::from(q.limit) };
                let sql = format!(
                    "SELECT g.* FROM grants g{where_clause} ORDER BY g.created_at DESC, g.id DESC LIMIT {limit} OFFSET {}",
                    i64::try_from(q.offset).unwrap_or(i64::MAX)
                );
                c.prepare_cached(&sql)
                    .and_then(|mut s| s.query_map(rusqlite::params_from_iter(params.iter()), rows::grant)?.collect())
                    .map_err(db_err)
            })
            .await
    }

    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<(i64, Event)>, StoreError> {
        self.pool
            .read(move |c| {
                c.prepare_cached(
                    "SELECT seq, id, kind, ticket_id, org_id, payload, created_at FROM outbox_events WHERE seq > ?1 \
                     ORDER BY seq LIMIT ?2",
                )
                .and_then(|mut s| {
                    s.query_map(params![after, limit], |r| {
                        let payload: String = r.get(5)?;
                        Ok((
                            r.get(0)?,
                            Event {
                                id: r.get(1)?,
                                kind: r.get(2)?,
                                ticket_id: TicketId(r.get(3)?),
                                org_id: OrgId(r.get(4)?),
                                payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
                                created_at: from_ts(r.get(6)?),
                            },
                        ))
                    })?
                    .collect()
                })
                .map_err(db_err)
            })
            .await
    }
}

fn access_key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccessKey> {
    Ok(AccessKey {
        id: AccessKeyId(r.get(0)?),
        user_id: UserId(r.get(1)?),
        secret: r.get(2)?,
        is_active: r.get(3)?,
        created_at: from_ts(r.get(4)?),
    })
}

/// One page of a catalog table with its total, filtered by organization, ids and a search text.
fn catalog_page<T>(
    c: &rusqlite::Connection,
    table: &str,
    order: &str,
    search_columns: &[&str],
    q: &CatalogQuery,
    map: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<(u64, Vec<T>), StoreError> {
    use rusqlite::types::Value as V;
    let mut params: Vec<V> = Vec::new();
    let mut conditions: Vec<String> = Vec::new();
    let in_list = |column: &str, values: Vec<V>, params: &mut Vec<V>| {
        if values.is_empty() {
            return "0".to_owned();
        }
        let marks: Vec<&str> = values.iter().map(|_| "?").collect();
        params.extend(values);
        format!("{column} IN ({})", marks.join(", "))
    };
    if let Some(orgs) = &q.org_ids {
        let values = orgs
            .iter()
            .map(|o| V::Blob(o.0.as_bytes().to_vec()))
            .collect();
        conditions.push(in_list("org_id", values, &mut params));
    }
    if let Some(ids) = &q.ids {
        let values = ids.iter().map(|i| V::Blob(i.as_bytes().to_vec())).collect();
        conditions.push(in_list("id", values, &mut params));
    }
    if let Some(text) = q.search.as_deref().filter(|t| !t.is_empty()) {
        let pattern = ticketd_core::store::like_pattern(text, false);
        let alternatives: Vec<String> = search_columns
            .iter()
            .map(|column| tickets::like_test(column, &pattern, &mut params))
            .collect();
        conditions.push(format!("({})", alternatives.join(" OR ")));
    }
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let total: i64 = c
        .prepare_cached(&format!("SELECT COUNT(*) FROM {table}{where_clause}"))
        .and_then(|mut s| s.query_row(rusqlite::params_from_iter(params.iter()), |r| r.get(0)))
        .map_err(db_err)?;
    let limit = if q.limit == 0 { -1 } else { i64::from(q.limit) };
    let offset = i64::try_from(q.offset).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT * FROM {table}{where_clause} ORDER BY {LOWER_FUNCTION}({order}), id LIMIT {limit} OFFSET {offset}"
    );
    let items = c
        .prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_map(rusqlite::params_from_iter(params.iter()), map)?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(db_err)?;
    Ok((u64::try_from(total).unwrap_or(0), items))
}

/// The ceiling `ticketd bench` compares writes with: single-row transactions per second on a
/// scratch file at `path`, with this store's default settings (WAL, `synchronous=FULL`).
pub fn raw_commit_rate(
    path: &std::path::Path,
    duration: std::time::Duration,
) -> Result<f64, StoreError> {
    let conn = rusqlite::Connection::open(path).map_err(db_err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(db_err)?;
    conn.execute_batch(
        "PRAGMA synchronous=FULL; CREATE TABLE IF NOT EXISTS raw_commits (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)",
    )
    .map_err(db_err)?;
    let payload = "x".repeat(1000);
    let started = std::time::Instant::now();
    let mut commits = 0u64;
    while started.elapsed() < duration {
        conn.execute_batch("BEGIN").map_err(db_err)?;
        conn.execute("INSERT INTO raw_commits (payload) VALUES (?1)", [&payload])
            .map_err(db_err)?;
        conn.execute_batch("COMMIT").map_err(db_err)?;
        commits += 1;
    }
    Ok(commits as f64 / started.elapsed().as_secs_f64())
}

/// Takes `user` out of the grants of `org` (of every organization with `None`): its user rows
/// and the grant's own list, written together. See [`Store::replace_member_roles`].
fn leave_grants(
    c: &rusqlite::Connection,
    user: UserId,
    org: Option<OrgId>,
) -> Result<(), StoreError> {
    let held: Vec<(Uuid, Vec<UserId>)> = c
        .prepare_cached(
            "SELECT g.id, g.users FROM grant_users u JOIN grants g ON g.id = u.grant_id \
             WHERE u.user_id = ?1 AND (?2 IS NULL OR g.org_id = ?2)",
        )
        .and_then(|mut s| {
            s.query_map(params![user.0, org.map(|o| o.0)], |r| {
                Ok((r.get(0)?, rows::json_col(r, 1)?))
            })?
            .collect()
        })
        .map_err(db_err)?;
    let mut rewrite = c
        .prepare_cached("UPDATE grants SET users = ?2 WHERE id = ?1")
        .map_err(db_err)?;
    let mut unlink = c
        .prepare_cached("DELETE FROM grant_users WHERE grant_id = ?1 AND user_id = ?2")
        .map_err(db_err)?;
    for (grant, mut users) in held {
        users.retain(|held_by| *held_by != user);
        rewrite
            .execute(params![grant, json_text(&users)])
            .map_err(db_err)?;
        unlink.execute(params![grant, user.0]).map_err(db_err)?;
    }
    Ok(())
}

/// Refuses unless an active system administrator other than `id` remains
/// ([`ticketd_core::identity::LAST_ADMIN`]); inside the writer's transaction, which no other
/// write interleaves with.
fn keep_an_admin_besides(
    c: &rusqlite::Connection,
    id: UserId,
    field: &str,
) -> Result<(), StoreError> {
    let others: bool = c
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM users WHERE system_role = 'admin' AND is_active AND id <> ?1)",
        )
        .and_then(|mut s| s.query_row([id.0], |row| row.get(0)))
        .map_err(db_err)?;
    ticketd_core::store::an_admin_remains(others, field)
}

fn user_by_id(c: &rusqlite::Connection, id: UserId) -> Result<Option<User>, StoreError> {
    c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id.0], rows::user).optional())
        .map_err(db_err)
}

/// Adds one membership (organization, user, role), none if held: user creation, additions
/// and role replacements alike.
const INSERT_MEMBERSHIP: &str =
    "INSERT OR IGNORE INTO org_members (org_id, user_id, role_id) VALUES (?1, ?2, ?3)";

/// Refuses `email` if a user other than `owner` holds it
/// ([`ticketd_core::store::check_email_free`]), inside the write's transaction: the single
/// writer makes the check and the write one step.
fn check_email_free(
    c: &rusqlite::Connection,
    email: &str,
    owner: UserId,
) -> Result<(), StoreError> {
    if email.is_empty() {
        return Ok(());
    }
    let addresses: Vec<(UserId, String)> = c
        .prepare_cached("SELECT id, email FROM users WHERE email <> ''")
        .and_then(|mut s| {
            s.query_map([], |row| Ok((UserId(row.get(0)?), row.get(1)?)))?
                .collect()
        })
        .map_err(db_err)?;
    ticketd_core::store::check_email_free(
        addresses
            .iter()
            .map(|(id, address)| (*id, address.as_str())),
        email,
        owner,
    )
}

fn memberships_of_user(
    c: &rusqlite::Connection,
    user: UserId,
) -> Result<Vec<Membership>, StoreError> {
    c.prepare_cached("SELECT org_id, user_id, role_id FROM org_members WHERE user_id = ?1")
        .and_then(|mut s| s.query_map([user.0], rows::membership)?.collect())
        .map_err(db_err)
}

fn directory_generation(conn: &rusqlite::Connection) -> Result<i64, StoreError> {
    conn.prepare_cached("SELECT value FROM directory_generation WHERE id = 1")
        .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
        .map_err(db_err)
}

fn token_by_digest(
    c: &rusqlite::Connection,
    digest: [u8; 32],
) -> Result<Option<TokenRecord>, StoreError> {
    c.prepare_cached(
        "SELECT user_id, kind, expires_at, created_at FROM api_tokens WHERE token_hash = ?1",
    )
    .and_then(|mut s| {
        s.query_row([digest.to_vec()], |r| {
            let kind: String = r.get(1)?;
            Ok(TokenRecord {
                token_hash: digest,
                user_id: UserId(r.get(0)?),
                kind: TokenKind::from_stored(&kind),
                expires_at: r.get::<_, Option<i64>>(2)?.map(from_ts),
                created_at: from_ts(r.get(3)?),
            })
        })
        .optional()
    })
    .map_err(db_err)
}

/// One write of [`Store::write_flows`], its rules checked first (an update's version before).
fn write_flow(
    c: &rusqlite::Connection,
    write: &FlowWrite,
    rule: Option<&FlowRule>,
) -> Result<(), StoreError> {
    let f = write.flow();
    if let FlowWrite::Update {
        expected_version, ..
    } = write
    {
        let stored: Option<i64> = c
            .query_row("SELECT version FROM flows WHERE id = ?1", [f.id.0], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err)?;
        flow_version_check(stored, *expected_version)?;
    }
    check_flow_rules(rule, f, &other_flows(c, f)?)?;
    // ?1 to ?10 are the same columns in both statements.
    let columns = params![
        f.id.0,
        f.org_id.0,
        f.name,
        f.description,
        json_text(&f.kinds),
        f.is_default,
        f.enabled,
        json_text(&f.levels),
        json_text(&f.cc_users),
        json_text(&f.attributes),
    ];
    let written = match write {
        FlowWrite::Create(_) => c.execute(
            "INSERT INTO flows (id, org_id, name, description, kinds, is_default, enabled, \
             levels, cc_users, attributes, created_by, version, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            [
                columns,
                params![f.created_by, f.version, ts(f.created_at), ts(f.updated_at)],
            ]
            .concat()
            .as_slice(),
        ),
        // The version was checked above, and the single writer runs one write at a time.
        FlowWrite::Update { .. } => c.execute(
            "UPDATE flows SET org_id = ?2, name = ?3, description = ?4, kinds = ?5, \
             is_default = ?6, enabled = ?7, levels = ?8, cc_users = ?9, attributes = ?10, \
             version = ?11, updated_at = ?12 WHERE id = ?1",
            [columns, params![f.version, ts(f.updated_at)]]
                .concat()
                .as_slice(),
        ),
    };
    written.map(|_| ()).map_err(db_err)
}

/// The flows of `flow`'s organization but itself, as the write's transaction sees them.
fn other_flows(c: &rusqlite::Connection, flow: &Flow) -> Result<Vec<Flow>, StoreError> {
    c.prepare_cached("SELECT * FROM flows WHERE org_id = ?1 AND id <> ?2")
        .and_then(|mut s| {
            s.query_map(params![flow.org_id.0, flow.id.0], rows::flow)?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(db_err)
}
