//! `CachedStore`: a `Store` that keeps the directory (organizations, roles, users, memberships,
//! flows, catalog lookups) in memory, valid while the store's directory generation is unchanged,
//! and list counts, valid while its data version is or, after mere insertions, brought up to
//! date by counting the new tickets alone (see `counts.rs`), and where pages of a list ended at
//! that version or, after mere insertions of newer tickets, moved since, so the next page starts
//! there instead of skipping every earlier match (`positions.rs`). A page asked for again at the
//! same data version is answered whole from memory, its tickets shared (`pages`, kept from its
//! second reading on, see `Recent`), and a list's first count at a version runs once however
//! many requests ask for it meanwhile (`flights.rs`).
//!
//! Every authenticated request reads its token through [`Store::token_actor`], which also reads
//! the directory generation in the same call; every change to the directory increases that
//! generation in its own transaction (database triggers, so no code path can forget). When a
//! request observes a new generation, everything cached is dropped, so processes sharing one
//! database stay coherent at the cost of that one read they make anyway. Changes made through
//! this store drop the cache at once. Tickets and access keys are never cached: they change
//! with every decision, and revocation must take effect immediately. Token lookups are kept only
//! while the store's local data version is unchanged, that is while nothing at all was committed
//! (`token_memory.rs`; SQLite only).

use crate::catalog::{Asset, CatalogQuery, Node};
use crate::counts::{CountMemory, ListFilter, Remembered, count_key};
use crate::error::StoreError;
use crate::flights::{Flights, Turn};
use crate::flow::Flow;
use crate::identity::{
    AccessKey, DirectoryEntry, Membership, NewUser, Org, PasswordHashes, Role, TokenRecord, User,
};
use crate::ids::{AccessKeyId, AssetId, FlowId, NodeId, OrgId, TicketId, UserId};
use crate::positions::{self, PositionMemory, Start};
use crate::recent::Recent;
use crate::store::{
    FlowRule, FlowWrite, GrantQuery, Inserted, ListMark, OrgChange, PagePosition, Store,
    TicketOrder, TicketPage, TicketQuery, TokenActor,
};
use crate::ticket::{Comment, Event, Grant, HistoryEntry, Ticket, TicketWrite};
use crate::token_memory::TokenMemory;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Entries kept per keyed map before it is emptied (a bound, not an eviction policy: the
/// directory of one deployment fits easily; a pathological key space only costs refetches).
const MAX_ENTRIES: usize = 16_384;

/// Pages kept per generation of the page memory (at most twice as many kept): the lists asked
/// for again and again between two commits (each approver's first page, a dashboard's filters).
const PAGES_GENERATION: usize = 256;

/// The most tickets a page may hold to be kept (a page of `limit` 0 reads to the end).
const MAX_REMEMBERED_PAGE: usize = 100;

/// What is cached, all valid for `generation`.
#[derive(Default)]
struct Cached {
    /// The generation the entries belong to; `None` until one is observed.
    generation: Option<i64>,
    /// Increased whenever the entries are dropped, so a lookup that started before a drop
    /// does not store what it read.
    epoch: u64,
    orgs: Option<Arc<Vec<Org>>>,
    roles: Option<Arc<Vec<Role>>>,
    users: HashMap<UserId, Option<User>>,
    memberships: HashMap<UserId, Vec<Membership>>,
    directories: HashMap<OrgId, Arc<Vec<DirectoryEntry>>>,
    flows: HashMap<Vec<OrgId>, Arc<[Flow]>>,
    flow_by_id: HashMap<FlowId, Option<Flow>>,
    assets: HashMap<Vec<uuid::Uuid>, (u64, Vec<Asset>)>,
    nodes: HashMap<Vec<uuid::Uuid>, (u64, Vec<Node>)>,
}

impl Cached {
    fn clear(&mut self) {
        let (generation, epoch) = (self.generation, self.epoch + 1);
        *self = Cached {
            generation,
            epoch,
            ..Cached::default()
        };
    }
}

/// A directory-caching wrapper around another store (see the module documentation).
pub struct CachedStore {
    inner: Arc<dyn Store>,
    cached: Mutex<Cached>,
    counts: CountMemory,
    positions: PositionMemory,
    tokens: TokenMemory,
    pages: Recent<(u64, TicketQuery), TicketPage>,
    counting: Flights<(u64, ListFilter), Counted>,
}

impl std::fmt::Debug for CachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStore")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// A catalog query that only looks objects up by id (what rendering and validation ask).
fn id_lookup(query: &CatalogQuery) -> Option<Vec<uuid::Uuid>> {
    let plain =
        query.org_ids.is_none() && query.search.is_none() && query.limit == 0 && query.offset == 0;
    let mut ids = query.ids.clone().filter(|_| plain)?;
    ids.sort_unstable();
    ids.dedup();
    Some(ids)
}

impl CachedStore {
    /// Wraps `inner`. A backend that keeps no directory generation is never cached.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            cached: Mutex::new(Cached::default()),
            counts: CountMemory::default(),
            positions: PositionMemory::default(),
            tokens: TokenMemory::default(),
            pages: Recent::new(PAGES_GENERATION),
            counting: Flights::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Cached> {
        // The map only holds copies of stored data: after a panic elsewhere it is still valid.
        self.cached.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the generation a read observed; a new one drops everything cached.
    fn observe(&self, generation: Option<i64>) {
        let mut cached = self.lock();
        if cached.generation != generation {
            cached.clear();
            cached.generation = generation;
        }
    }

    /// Drops everything after a change made through this store.
    fn changed(&self) {
        self.lock().clear();
    }

    /// The epoch to store a lookup under, or `None` when caching is off (no generation seen).
    fn begin(&self) -> Option<u64> {
        let cached = self.lock();
        cached.generation.map(|_| cached.epoch)
    }

    /// Stores what a lookup begun at `epoch` read, unless the cache was dropped meanwhile.
    fn fill(&self, epoch: Option<u64>, store: impl FnOnce(&mut Cached)) {
        let mut cached = self.lock();
        if epoch.is_some_and(|e| e == cached.epoch) {
            store(&mut cached);
        }
    }

    async fn orgs(&self) -> Result<Arc<Vec<Org>>, StoreError> {
        if let Some(orgs) = self.lock().orgs.clone() {
            return Ok(orgs);
        }
        let epoch = self.begin();
        let orgs = Arc::new(self.inner.list_orgs().await?);
        self.fill(epoch, |c| c.orgs = Some(Arc::clone(&orgs)));
        Ok(orgs)
    }

    /// Runs a change through the inner store, then drops the cache (whatever the outcome: a
    /// failed change may still have been applied, e.g. when only its answer was lost).
    async fn change<R>(
        &self,
        result: impl std::future::Future<Output = Result<R, StoreError>>,
    ) -> Result<R, StoreError> {
        let result = result.await;
        self.changed();
        result
    }

    /// A page of `query` read from the store, its count remembered or counted, starting from
    /// the nearest remembered end of an earlier page at `version` (brought there first from an
    /// earlier version where only newer tickets came since).
    async fn read_page(
        &self,
        query: TicketQuery,
        version: Option<u64>,
    ) -> Result<TicketPage, StoreError> {
        let key = count_key(&query);
        let list = version
            .filter(|_| positions::seekable(&query))
            .map(|version| (positions::list_key(&key, query.order), version));
        let mut carried = None;
        if let Some((list, version)) = &list {
            // Twice at most: a request for the same list may carry its ends to another mark
            // while this one counts from the earlier.
            for _ in 0..2 {
                let Some(since) = self.positions.mark_to_carry(list, *version) else {
                    break;
                };
                let Some(inserted) = self
                    .inner
                    .count_inserted_since(query.clone(), since)
                    .await?
                else {
                    // Something else changed, or too much came since: the ends are of no use.
                    self.positions.forget(list);
                    break;
                };
                let newest_first = query.order != TicketOrder::CreatedAsc;
                self.positions
                    .carry(list, *version, since, &inserted, newest_first);
                carried = Some((since, inserted));
            }
        }
        let mut total = if query.with_total {
            self.remembered_total(&key, &query, version, carried)
                .await?
        } else {
            None
        };
        // A count afresh runs once per list and version: requests for the same list meanwhile
        // (its other pages among them) wait for it, rather than each counting every match.
        let mut counting = None;
        if let (true, None, Some(version)) = (query.with_total, total, version) {
            match self.counting.turn((version, key.clone())) {
                Turn::Lead(lead) => counting = Some(lead),
                Turn::Wait(landing) => total = landing.await,
            }
        }
        let fetch = Fetch {
            key,
            version,
            total,
            counting,
        };
        let Some((list, version)) = list else {
            return self.fetch(query, fetch).await;
        };
        // The page starts from the nearest remembered end of an earlier page, if any.
        let requested = query.offset;
        let mut plan = self.positions.start(&list, version, query.clone());
        let (mut page, reads_row_before) = match plan.start.clone() {
            Start::Forward {
                query,
                reads_row_before,
            } => (self.fetch(query, fetch).await?, reads_row_before),
            Start::Back {
                back,
                page,
                forward,
                reads_row_before,
            } => {
                let before = self.inner.list_tickets(back).await?;
                match before.items.first() {
                    // Only a row found at the ends' own mark is the row before the page: a
                    // ticket committed meanwhile among the rows walked back would move it.
                    Some(row) if plan.may_remember(before.snapshot) => {
                        let position = PagePosition::of(row);
                        self.positions.remember(
                            &list,
                            (version, before.snapshot),
                            requested,
                            position,
                        );
                        let page = TicketQuery {
                            after: Some(position),
                            ..page
                        };
                        (self.fetch(page, fetch).await?, false)
                    }
                    _ => {
                        // The list changed since its ends were read: the page forward, from an
                        // earlier end (as any page read after its ends' mark) or its start.
                        if forward.after.is_none() {
                            plan.from_ends = None;
                        }
                        (self.fetch(forward, fetch).await?, reads_row_before)
                    }
                }
            }
        };
        // The page was just read: no one else holds its rows, so this copies nothing.
        let before = (reads_row_before && !page.items.is_empty())
            .then(|| Arc::make_mut(&mut page.items).remove(0));
        if plan.may_remember(page.snapshot) {
            let at = (version, page.snapshot);
            if let Some(before) = before {
                self.positions
                    .remember(&list, at, requested, PagePosition::of(&before));
            }
            if let Some(last) = page.items.last() {
                let end = requested.saturating_add(page.items.len() as u64);
                self.positions
                    .remember(&list, at, end, PagePosition::of(last));
            }
        }
        Ok(page)
    }

    /// Reads the page of `query` with the count `fetch.total`, or counts it with the page and
    /// remembers the count.
    async fn fetch(&self, query: TicketQuery, fetch: Fetch<'_>) -> Result<TicketPage, StoreError> {
        if let Some(counted) = fetch.total {
            let mut page = self
                .inner
                .list_tickets(TicketQuery {
                    with_total: false,
                    ..query.clone()
                })
                .await?;
            if let Some(total) = self
                .total_for_page(&query, fetch.version, counted, &page)
                .await?
            {
                page.total = Some(total);
                return Ok(page);
            }
            // Changed otherwise since the count: both again, in one read.
            return self.inner.list_tickets(query).await;
        }
        let page = self.inner.list_tickets(query).await?;
        if let Some(total) = page.total {
            self.counts.put(
                fetch.key,
                Remembered {
                    version: fetch.version,
                    mark: page.mark,
                    count: total,
                },
            );
            if let Some(counting) = fetch.counting {
                counting.land(Counted {
                    count: total,
                    mark: page.mark,
                });
            }
        }
        Ok(page)
    }

    /// `counted`, taken at `version`, for `page`, read after it: unchanged when nothing was
    /// committed between; when tickets were only inserted since, brought up to date by counting
    /// them after the page was read, so it never says fewer than the page holds (until
    /// 2026-12-07 a page read while tickets were opened could hold one more than its count);
    /// `None` when something else changed: count again, with the page.
    async fn total_for_page(
        &self,
        query: &TicketQuery,
        version: Option<u64>,
        counted: Counted,
        page: &TicketPage,
    ) -> Result<Option<u64>, StoreError> {
        let unchanged = match (counted.mark, page.snapshot) {
            // An empty page at offset k: at most k matches where it was read, and so at the
            // count too, as insertions only add matches; it agrees with the count (a decision
            // that took tickets out of the list meanwhile may leave it higher, as for any read
            // made just after a count).
            _ if page.items.is_empty() => true,
            (Some(mark), Some(snapshot)) => mark == snapshot,
            // A page read without its mark (a store that keeps none, PostgreSQL's in another
            // order than creation time): unchanged while the version is.
            _ => version.is_some() && self.inner.data_version().await? == version,
        };
        if unchanged {
            return Ok(Some(counted.count));
        }
        let Some(mark) = counted.mark else {
            return Ok(None);
        };
        Ok(self
            .inner
            .count_inserted_since(query.clone(), mark)
            .await?
            .map(|inserted| counted.count + inserted.count))
    }

    /// The remembered count of the list `key` if it holds at `version`, or after mere
    /// insertions brought up to date by counting the new tickets alone (with what `carried`
    /// already counted, when it counted from the same mark); `None`: count afresh.
    async fn remembered_total(
        &self,
        key: &ListFilter,
        query: &TicketQuery,
        version: Option<u64>,
        carried: Option<(ListMark, Inserted)>,
    ) -> Result<Option<Counted>, StoreError> {
        Ok(match self.counts.get(key) {
            Some(remembered) if version.is_some() && remembered.version == version => {
                Some(Counted {
                    count: remembered.count,
                    mark: remembered.mark,
                })
            }
            Some(Remembered {
                mark: Some(mark),
                count,
                ..
            }) => {
                let inserted = match carried {
                    Some((since, inserted)) if since == mark => Some(inserted),
                    _ => self.inner.count_inserted_since(query.clone(), mark).await?,
                };
                match inserted {
                    Some(inserted) => {
                        let total = count + inserted.count;
                        self.counts.put(
                            key.clone(),
                            Remembered {
                                version,
                                mark: Some(inserted.mark),
                                count: total,
                            },
                        );
                        Some(Counted {
                            count: total,
                            mark: Some(inserted.mark),
                        })
                    }
                    None => None,
                }
            }
            _ => None,
        })
    }
}

/// What a page read needs to know of its count: the list's count key and version, the count
/// when it is already known, and the turn to count it when this request leads.
struct Fetch<'a> {
    key: ListFilter,
    version: Option<u64>,
    total: Option<Counted>,
    counting: Option<crate::flights::Lead<'a, (u64, ListFilter), Counted>>,
}

/// A list's count, and the mark of the read that counted it (`None`: the store keeps none).
#[derive(Clone, Copy, Debug)]
struct Counted {
    count: u64,
    mark: Option<ListMark>,
}

#[async_trait]
impl Store for CachedStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn directory_generation(&self) -> Result<Option<i64>, StoreError> {
        let generation = self.inner.directory_generation().await?;
        self.observe(generation);
        Ok(generation)
    }

    async fn data_version(&self) -> Result<Option<u64>, StoreError> {
        self.inner.data_version().await
    }

    async fn shutdown(&self) -> Result<(), StoreError> {
        self.inner.shutdown().await
    }

    fn local_data_version(&self) -> Option<u64> {
        self.inner.local_data_version()
    }

    fn local_identity_version(&self) -> Option<u64> {
        self.inner.local_identity_version()
    }

    fn local_reference_version(&self) -> Option<u64> {
        self.inner.local_reference_version()
    }

    async fn count_inserted_since(
        &self,
        query: TicketQuery,
        since: ListMark,
    ) -> Result<Option<Inserted>, StoreError> {
        self.inner.count_inserted_since(query, since).await
    }

    async fn ensure_builtins(&self, orgs: Vec<Org>, roles: Vec<Role>) -> Result<(), StoreError> {
        self.change(self.inner.ensure_builtins(orgs, roles)).await
    }

    async fn create_org(&self, org: Org) -> Result<(), StoreError> {
        self.change(self.inner.create_org(org)).await
    }

    async fn get_org(&self, id: OrgId) -> Result<Option<Org>, StoreError> {
        if self.begin().is_none() {
            return self.inner.get_org(id).await;
        }
        Ok(self.orgs().await?.iter().find(|o| o.id == id).cloned())
    }

    async fn find_org_by_name(&self, name: &str) -> Result<Option<Org>, StoreError> {
        if self.begin().is_none() {
            return self.inner.find_org_by_name(name).await;
        }
        let wanted = name.to_lowercase();
        Ok(self
            .orgs()
            .await?
            .iter()
            .find(|o| o.name.to_lowercase() == wanted)
            .cloned())
    }

    async fn list_orgs(&self) -> Result<Vec<Org>, StoreError> {
        if self.begin().is_none() {
            return self.inner.list_orgs().await;
        }
        Ok(self.orgs().await?.as_ref().clone())
    }

    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        if let Some(roles) = self.lock().roles.clone() {
            return Ok(roles.as_ref().clone());
        }
        let epoch = self.begin();
        let roles = self.inner.list_roles().await?;
        let shared = Arc::new(roles.clone());
        self.fill(epoch, |c| c.roles = Some(shared));
        Ok(roles)
    }

    async fn create_user(&self, user: NewUser) -> Result<(), StoreError> {
        self.change(self.inner.create_user(user)).await
    }

    async fn change_user(
        &self,
        id: UserId,
        change: crate::identity::UserChange,
        updated_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.change(self.inner.change_user(id, change, updated_at))
            .await
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        if let Some(user) = self.lock().users.get(&id).cloned() {
            return Ok(user);
        }
        let epoch = self.begin();
        let user = self.inner.get_user(id).await?;
        self.fill(epoch, |c| {
            if c.users.len() >= MAX_ENTRIES {
                c.users.clear();
            }
            c.users.insert(id, user.clone());
        });
        Ok(user)
    }

    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.inner.find_user_by_username(username).await
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.inner.list_users().await
    }

    async fn users_by_ids(&self, ids: Vec<UserId>) -> Result<Vec<User>, StoreError> {
        let (mut found, missing, epoch) = {
            let cached = self.lock();
            let mut found = Vec::with_capacity(ids.len());
            let mut missing = Vec::new();
            for id in ids {
                match cached.users.get(&id) {
                    Some(user) => found.extend(user.clone()),
                    None => missing.push(id),
                }
            }
            (found, missing, cached.generation.map(|_| cached.epoch))
        };
        if missing.is_empty() {
            return Ok(found);
        }
        let fetched = self.inner.users_by_ids(missing.clone()).await?;
        self.fill(epoch, |c| {
            if c.users.len() + missing.len() > MAX_ENTRIES {
                c.users.clear();
            }
            for id in &missing {
                c.users
                    .insert(*id, fetched.iter().find(|u| u.id == *id).cloned());
            }
        });
        found.extend(fetched);
        Ok(found)
    }

    async fn password_hashes(&self, user: UserId) -> Result<Option<PasswordHashes>, StoreError> {
        // A password login reads no token either: refresh the generation before the engine
        // reads the user's memberships (possibly from the cache). Another process's changes
        // were seen only after this process's next authenticated request, so a login checked
        // a tenant against memberships it had kept.
        let hashes = self.inner.password_hashes(user).await?;
        if hashes.is_some() {
            self.directory_generation().await?;
        }
        Ok(hashes)
    }

    async fn set_password_hashes(
        &self,
        user: UserId,
        hashes: PasswordHashes,
    ) -> Result<(), StoreError> {
        self.change(self.inner.set_password_hashes(user, hashes))
            .await
    }

    async fn add_membership(&self, membership: Membership) -> Result<(), StoreError> {
        self.change(self.inner.add_membership(membership)).await
    }

    async fn remove_member_role(
        &self,
        org: OrgId,
        user: UserId,
        role: crate::ids::RoleId,
    ) -> Result<(), StoreError> {
        self.change(self.inner.remove_member_role(org, user, role))
            .await
    }

    async fn replace_member_roles(
        &self,
        org: OrgId,
        user: UserId,
        roles: Vec<crate::ids::RoleId>,
    ) -> Result<(), StoreError> {
        self.change(self.inner.replace_member_roles(org, user, roles))
            .await
    }

    async fn memberships_of(&self, user: UserId) -> Result<Vec<Membership>, StoreError> {
        if let Some(memberships) = self.lock().memberships.get(&user).cloned() {
            return Ok(memberships);
        }
        let epoch = self.begin();
        let memberships = self.inner.memberships_of(user).await?;
        self.fill(epoch, |c| {
            if c.memberships.len() >= MAX_ENTRIES {
                c.memberships.clear();
            }
            c.memberships.insert(user, memberships.clone());
        });
        Ok(memberships)
    }

    async fn memberships_in(&self, orgs: Vec<OrgId>) -> Result<Vec<Membership>, StoreError> {
        self.inner.memberships_in(orgs).await
    }

    async fn org_directory(&self, org: OrgId) -> Result<Arc<Vec<DirectoryEntry>>, StoreError> {
        if let Some(directory) = self.lock().directories.get(&org).cloned() {
            return Ok(directory);
        }
        let epoch = self.begin();
        let directory = self.inner.org_directory(org).await?;
        let shared = Arc::clone(&directory);
        self.fill(epoch, |c| {
            if c.directories.len() >= MAX_ENTRIES {
                c.directories.clear();
            }
            c.directories.insert(org, shared);
        });
        Ok(directory)
    }

    async fn update_org(&self, id: OrgId, change: OrgChange) -> Result<(), StoreError> {
        self.change(self.inner.update_org(id, change)).await
    }

    async fn delete_org(&self, id: OrgId) -> Result<(), StoreError> {
        self.change(self.inner.delete_org(id)).await
    }

    async fn delete_user(&self, id: UserId) -> Result<(), StoreError> {
        self.change(self.inner.delete_user(id)).await
    }

    async fn update_asset(
        &self,
        id: AssetId,
        change: crate::catalog::AssetChange,
        updated_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.change(self.inner.update_asset(id, change, updated_at))
            .await
    }

    async fn put_asset(&self, asset: Asset) -> Result<(), StoreError> {
        self.change(self.inner.put_asset(asset)).await
    }

    async fn delete_asset(&self, id: AssetId) -> Result<(), StoreError> {
        self.change(self.inner.delete_asset(id)).await
    }

    async fn list_assets(&self, query: CatalogQuery) -> Result<(u64, Vec<Asset>), StoreError> {
        let Some(key) = id_lookup(&query) else {
            return self.inner.list_assets(query).await;
        };
        if let Some(found) = self.lock().assets.get(&key).cloned() {
            return Ok(found);
        }
        let epoch = self.begin();
        let found = self.inner.list_assets(query).await?;
        self.fill(epoch, |c| {
            if c.assets.len() >= MAX_ENTRIES {
                c.assets.clear();
            }
            c.assets.insert(key, found.clone());
        });
        Ok(found)
    }

    async fn put_node(&self, node: Node) -> Result<(), StoreError> {
        self.change(self.inner.put_node(node)).await
    }

    async fn rename_node(
        &self,
        id: NodeId,
        name: String,
        old_path: String,
        new_path: String,
    ) -> Result<(), StoreError> {
        self.change(self.inner.rename_node(id, name, old_path, new_path))
            .await
    }

    async fn delete_node(&self, id: NodeId) -> Result<(), StoreError> {
        self.change(self.inner.delete_node(id)).await
    }

    async fn list_nodes(&self, query: CatalogQuery) -> Result<(u64, Vec<Node>), StoreError> {
        let Some(key) = id_lookup(&query) else {
            return self.inner.list_nodes(query).await;
        };
        if let Some(found) = self.lock().nodes.get(&key).cloned() {
            return Ok(found);
        }
        let epoch = self.begin();
        let found = self.inner.list_nodes(query).await?;
        self.fill(epoch, |c| {
            if c.nodes.len() >= MAX_ENTRIES {
                c.nodes.clear();
            }
            c.nodes.insert(key, found.clone());
        });
        Ok(found)
    }

    async fn create_token(&self, token: TokenRecord) -> Result<(), StoreError> {
        self.inner.create_token(token).await
    }

    async fn find_token(&self, digest: [u8; 32]) -> Result<Option<TokenRecord>, StoreError> {
        self.inner.find_token(digest).await
    }

    async fn token_actor(&self, digest: [u8; 32]) -> Result<Option<TokenActor>, StoreError> {
        // Read before the lookup runs: a commit meanwhile moves the version past it.
        let version = self.inner.local_identity_version();
        if let Some(version) = version
            && let Some(kept) = self.tokens.get(&digest, version)
        {
            return Ok(Some(kept));
        }
        let found = self.inner.token_actor(digest).await?;
        if let Some(found) = &found {
            self.observe(found.directory_generation);
            if let Some(version) = version {
                self.tokens.put(digest, version, found.clone());
            }
        }
        Ok(found)
    }

    async fn delete_token(&self, digest: [u8; 32]) -> Result<(), StoreError> {
        self.inner.delete_token(digest).await
    }

    async fn delete_tokens_of_kind(
        &self,
        user: UserId,
        kind: crate::identity::TokenKind,
    ) -> Result<(), StoreError> {
        self.change(self.inner.delete_tokens_of_kind(user, kind))
            .await
    }

    async fn replace_tokens_of_kind(&self, token: TokenRecord) -> Result<(), StoreError> {
        self.inner.replace_tokens_of_kind(token).await
    }

    async fn create_access_key(&self, key: AccessKey) -> Result<(), StoreError> {
        self.inner.create_access_key(key).await
    }

    async fn get_access_key(&self, id: AccessKeyId) -> Result<Option<AccessKey>, StoreError> {
        // Signed requests read no token: refresh the generation here, before the engine looks
        // the key's owner up (possibly from the cache).
        let key = self.inner.get_access_key(id).await?;
        if key.is_some() {
            self.directory_generation().await?;
        }
        Ok(key)
    }

    async fn access_keys_of(&self, user: UserId) -> Result<Vec<AccessKey>, StoreError> {
        self.inner.access_keys_of(user).await
    }

    async fn delete_access_key(&self, id: AccessKeyId) -> Result<(), StoreError> {
        self.inner.delete_access_key(id).await
    }

    async fn set_access_key_active(&self, id: AccessKeyId, active: bool) -> Result<(), StoreError> {
        self.inner.set_access_key_active(id, active).await
    }

    async fn write_flows(
        &self,
        writes: Vec<FlowWrite>,
        rule: Option<FlowRule>,
    ) -> Result<(), StoreError> {
        self.change(self.inner.write_flows(writes, rule)).await
    }

    async fn delete_flow(&self, id: FlowId) -> Result<(), StoreError> {
        self.change(self.inner.delete_flow(id)).await
    }

    async fn get_flow(&self, id: FlowId) -> Result<Option<Flow>, StoreError> {
        if let Some(flow) = self.lock().flow_by_id.get(&id).cloned() {
            return Ok(flow);
        }
        let epoch = self.begin();
        let flow = self.inner.get_flow(id).await?;
        self.fill(epoch, |c| {
            if c.flow_by_id.len() >= MAX_ENTRIES {
                c.flow_by_id.clear();
            }
            c.flow_by_id.insert(id, flow.clone());
        });
        Ok(flow)
    }

    async fn list_flows(&self, orgs: Vec<OrgId>) -> Result<Arc<[Flow]>, StoreError> {
        if let Some(flows) = self.lock().flows.get(&orgs).cloned() {
            return Ok(flows);
        }
        let epoch = self.begin();
        let flows = self.inner.list_flows(orgs.clone()).await?;
        let shared = Arc::clone(&flows);
        self.fill(epoch, |c| {
            if c.flows.len() >= MAX_ENTRIES {
                c.flows.clear();
            }
            c.flows.insert(orgs, shared);
        });
        Ok(flows)
    }

    async fn write_ticket(&self, write: TicketWrite) -> Result<Ticket, StoreError> {
        self.inner.write_ticket(write).await
    }

    async fn get_ticket(&self, id: TicketId) -> Result<Option<Ticket>, StoreError> {
        self.inner.get_ticket(id).await
    }

    async fn list_tickets(&self, query: TicketQuery) -> Result<TicketPage, StoreError> {
        let seekable = positions::seekable(&query);
        // Read before the count and the page run: a commit meanwhile moves the version past
        // what they remember. Without a count, only a version known in process is worth a read.
        let version = if query.with_total {
            self.inner.data_version().await?
        } else if seekable {
            self.inner.local_data_version()
        } else {
            None
        };
        if !query.with_total && version.is_none() {
            // Nothing to remember or to use: no count, and no version to tie positions to.
            return self.inner.list_tickets(query).await;
        }
        let Some(version) = version else {
            return self.read_page(query, None).await;
        };
        let page_key = (version, query);
        if let Some(page) = self.pages.get(&page_key) {
            return Ok(page);
        }
        let page = self.read_page(page_key.1.clone(), Some(version)).await?;
        if page.items.len() <= MAX_REMEMBERED_PAGE {
            self.pages.offer(page_key, page.clone());
        }
        Ok(page)
    }

    async fn ticket_history(&self, id: TicketId) -> Result<Vec<HistoryEntry>, StoreError> {
        self.inner.ticket_history(id).await
    }

    async fn add_comment(&self, comment: Comment) -> Result<(), StoreError> {
        self.inner.add_comment(comment).await
    }

    async fn ticket_comments(&self, id: TicketId) -> Result<Vec<Comment>, StoreError> {
        self.inner.ticket_comments(id).await
    }

    async fn get_grant(&self, id: uuid::Uuid) -> Result<Option<Grant>, StoreError> {
        self.inner.get_grant(id).await
    }

    async fn list_grants(&self, query: GrantQuery) -> Result<Vec<Grant>, StoreError> {
        self.inner.list_grants(query).await
    }

    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<(i64, Event)>, StoreError> {
        self.inner.events_after(after, limit).await
    }
}
