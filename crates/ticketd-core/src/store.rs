//! The `Store` trait: persistence at the level of domain operations, one transaction each.

use crate::catalog::{Asset, CatalogQuery, Node};
use crate::error::StoreError;
use crate::flow::Flow;
use crate::identity::{
    AccessKey, DirectoryEntry, Membership, NewUser, Org, PasswordHashes, Role, TokenRecord, User,
};
use crate::ids::{AccessKeyId, AssetId, FlowId, NodeId, OrgId, TicketId, UserId};
use crate::ticket::{Comment, Event, Grant, HistoryEntry, Ticket, TicketState, TicketWrite};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A dialect's rule a flow must keep against the other flows of its organization (ZStack: a
/// ticket type claimed by one collection), besides the core's own ([`check_flow_rules`]).
pub type FlowRule =
    Arc<dyn Fn(&Flow, &[Flow]) -> Result<(), crate::error::DomainError> + Send + Sync>;

/// A ticket row's (`t`) status word ([`TicketState::status_word`]) in the SQL both stores run
/// to sort by it, built once.
pub static STATUS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "CASE WHEN t.state IN ({}) THEN 'closed' ELSE 'open' END",
        finished_states_sql()
    )
});

/// A ticket row's (`t`) end ([`crate::ticket::end_as_stored`]: the stored one, or a finished
/// ticket's last change; NULL while it is not finished) in the SQL both stores run to sort by
/// it, built once.
pub static END_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "COALESCE(t.finished_at, CASE WHEN t.state IN ({}) THEN t.updated_at END)",
        finished_states_sql()
    )
});

/// The finished states as SQL text literals (`'approved', …`).
fn finished_states_sql() -> String {
    TicketState::FINISHED
        .iter()
        .map(|state| format!("'{}'", state.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Refuses a node whose path does not extend its parent's as the write's transaction reads it
/// (`parent_path`; `None` when the parent is gone): the parent was renamed or deleted after the
/// path was computed, so the node would keep a stale one. `VersionConflict`: compute it again.
pub fn check_parent_path(node: &Node, parent_path: Option<&str>) -> Result<(), StoreError> {
    match parent_path {
        Some(parent) if node.full_value == format!("{parent}/{}", node.name) => Ok(()),
        _ => Err(StoreError::VersionConflict),
    }
}

/// Refuses `email` for `owner` when another of `addresses` (every user's id and address, as
/// the write's transaction sees them) holds it ([`crate::identity::email_holder`]): the
/// stores check it in the transaction that writes the user, after every earlier such write,
/// so two users written at once cannot both take one address.
pub fn check_email_free<'a>(
    addresses: impl IntoIterator<Item = (crate::ids::UserId, &'a str)>,
    email: &str,
    owner: crate::ids::UserId,
) -> Result<(), StoreError> {
    match crate::identity::email_holder(addresses, email, Some(owner)) {
        None => Ok(()),
        Some(_) => Err(StoreError::Conflict {
            constraint: crate::identity::EMAIL_TAKEN.into(),
        }),
    }
}

/// The rules a flow keeps against `others` (the other flows of its organization, itself
/// excluded), which the store checks in the write's transaction after every earlier flow write
/// of the organization: the core's (no other flow that the same API manages has its name,
/// ignoring case and surrounding spaces, and a ticket type in common with it; a flow without types takes every type),
/// then the dialect's `extra`. A refusal is the rule's error as the store's.
pub fn check_flow_rules(
    extra: Option<&FlowRule>,
    flow: &Flow,
    others: &[Flow],
) -> Result<(), StoreError> {
    let refused = |refusal| StoreError::Refused(Box::new(refusal));
    // Spaces around a name are no difference a reader sees in a list.
    let taken = others
        .iter()
        .any(|other| other.dialect() == flow.dialect() && other.same_name_and_type(flow));
    if taken {
        return Err(refused(crate::error::DomainError::invalid(
            "name",
            "unique",
            "a ticket flow with the same name and type already exists",
        )));
    }
    extra.map_or(Ok(()), |extra| extra(flow, others).map_err(refused))
}

/// The fields of an organization [`Store::update_org`] writes; `None` keeps the stored one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrgChange {
    /// Its new name.
    pub name: Option<String>,
    /// Its new comment.
    pub comment: Option<String>,
}

/// One write of [`Store::write_flows`].
#[derive(Clone, Debug)]
pub enum FlowWrite {
    /// A new flow.
    Create(Flow),
    /// A flow replaced, if its stored version is still `expected_version`.
    Update {
        /// The flow as it is to be stored.
        flow: Flow,
        /// The version it replaces.
        expected_version: i64,
    },
}

impl FlowWrite {
    /// The flow written.
    pub fn flow(&self) -> &Flow {
        match self {
            Self::Create(flow) | Self::Update { flow, .. } => flow,
        }
    }
}

/// What an update of a flow whose stored version is `stored` (`None`: it is gone) meets when it
/// expects `expected`: `NotFound`, `VersionConflict`, or nothing in its way.
pub fn flow_version_check(stored: Option<i64>, expected: i64) -> Result<(), StoreError> {
    match stored {
        None => Err(StoreError::NotFound),
        Some(version) if version != expected => Err(StoreError::VersionConflict),
        Some(_) => Ok(()),
    }
}

/// Which tickets a caller may see in a list.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// Every ticket (system admins and auditors).
    All,
    /// Tickets the user is related to (applicant, assignee, CC), plus every ticket of `orgs`.
    Related {
        /// The caller.
        user: UserId,
        /// Organizations the caller reads in full (org admin or auditor there).
        orgs: Vec<OrgId>,
    },
}

/// Sort order of ticket lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TicketOrder {
    /// Newest first (the default).
    CreatedDesc,
    /// Oldest first.
    CreatedAsc,
    /// By another column, then newest first.
    By {
        /// The column.
        key: SortKey,
        /// Descending.
        descending: bool,
    },
}

impl TicketOrder {
    /// Whether rows come in creation-time order (either way), the order a [`PagePosition`]
    /// describes.
    pub fn by_creation_time(self) -> bool {
        matches!(self, Self::CreatedDesc | Self::CreatedAsc)
    }
}

/// Columns ticket lists can be sorted by besides creation time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SortKey {
    /// Title.
    Title,
    /// Serial number.
    Serial,
    /// Type.
    Kind,
    /// State.
    State,
    /// Open or closed ([`TicketState::status_word`]).
    Status,
    /// Applicant display name.
    Applicant,
    /// Last change.
    UpdatedAt,
    /// When it became finished ([`crate::ticket::Ticket::finished_at`]); tickets not finished
    /// come after the finished ones in both directions.
    FinishedAt,
}

/// A ticket list query; every filter is optional and they combine with AND.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TicketQuery {
    /// Who is asking.
    pub visibility: Visibility,
    /// Only these organizations.
    pub org_ids: Option<Vec<OrgId>>,
    /// Tickets whose current step has this assignee (decided or not).
    pub current_assignee: Option<UserId>,
    /// Pending tickets where this user still has to decide the current step.
    pub awaiting: Option<UserId>,
    /// Only these states (empty: any).
    pub states: Vec<TicketState>,
    /// Only these types (empty: any).
    pub kinds: Vec<String>,
    /// Only this applicant.
    pub applicant: Option<UserId>,
    /// Only these ids.
    pub ids: Option<Vec<TicketId>>,
    /// Serial number, exact.
    pub serial: Option<String>,
    /// Title, case-insensitive exact.
    pub title: Option<String>,
    /// Tests of text columns ([`TextFilter`]); each must hold.
    pub text_filters: Vec<TextFilter>,
    /// Dialect partition key, exact.
    pub scope: Option<String>,
    /// Exclude these ids.
    pub exclude_ids: Vec<TicketId>,
    /// Applicant display (`Name(username)`) contains, case-insensitive.
    pub applicant_text: Option<String>,
    /// Tests of the content's fields: every group must hold, and a group holds when any of
    /// its tests does (JumpServer's relevant asset: the asset ids or the typed asset text).
    pub content_tests: Vec<Vec<ContentMatch>>,
    /// Free-text search: every batch must match; a batch matches if any of its alternatives
    /// does; an alternative matches if each of its terms is contained in the title, the type or
    /// the state's word that [`TicketQuery::searched_state`] names.
    pub search: Vec<Vec<Vec<String>>>,
    /// Which word of a ticket's state a search term is tested on.
    pub searched_state: SearchedState,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
    /// `Some(b)`: only archived (`true`) or only not archived (`false`).
    pub archived: Option<bool>,
    /// Include tickets marked deleted.
    pub include_deleted: bool,
    /// Order.
    pub order: TicketOrder,
    /// Page size.
    pub limit: u32,
    /// Rows to skip.
    pub offset: u64,
    /// Only the rows that come after this one in a creation-time order (then by id), before
    /// `offset` applies; the count ignores it. Set by the caching store, which remembers where
    /// pages ended ([`crate::cache::CachedStore`]); meaningless with a [`TicketOrder::By`] order.
    pub after: Option<PagePosition>,
    /// Also count all matches.
    pub with_total: bool,
}

/// Which word of a ticket's state free-text search terms are tested on, besides its title and
/// type: each dialect's own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SearchedState {
    /// The state's name (`pending`, `approved`, …): TopHC's keywords.
    #[default]
    Name,
    /// Whether it is `open` or `closed` ([`TicketState::status_word`]): JumpServer's `status`
    /// among its `search_fields` (`search=open` found nothing while the name was tested).
    Status,
    /// The word a dialect shows for each state, from its own table (TopHC's 已通过, …: its
    /// keywords tested the English name, which no TopHC answer shows); a state the table
    /// gives no word matches no term.
    Labels(&'static [(TicketState, &'static str)]),
}

/// A text column of tickets that lists test with [`TextFilter`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TextColumn {
    /// The title.
    Title,
    /// The serial number.
    Serial,
}

/// A test of a text column: it holds when the column contains any of `any_of` ignoring the
/// case of every letter (Unicode's, not only ASCII's), or with `prefix` starts with one of them
/// exactly, case included (Django's `startswith`); `negated` turns it around. With nothing in
/// `any_of` it holds for no row (for every row negated).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TextFilter {
    /// The column tested.
    pub column: TextColumn,
    /// The texts, any of which matches.
    pub any_of: Vec<String>,
    /// A case-sensitive test of the column's start instead of a case-insensitive one anywhere.
    pub prefix: bool,
    /// Keep the rows that do not match.
    pub negated: bool,
}

/// Whether a case-insensitive test of `text` needs more than ASCII case folding: it holds a
/// letter outside ASCII that has another case. A text without one (ASCII, Chinese, digits)
/// matches the same whether a store folds ASCII letters only or every letter.
pub fn folds_beyond_ascii(text: &str) -> bool {
    text.chars().any(|c| {
        !c.is_ascii()
            && (c.to_lowercase().ne(std::iter::once(c)) || c.to_uppercase().ne(std::iter::once(c)))
    })
}

/// A case-insensitive test of a ticket's content: the string value of the top-level `field`,
/// or without one the content's whole JSON text, contains any of `any_of`. The whole text is
/// for tokens such as ids, which read the same however a store spaces its JSON.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContentMatch {
    /// The field's key (named by a dialect, never by a client), or `None` for the whole text.
    pub field: Option<&'static str>,
    /// The texts, any of which matches.
    pub any_of: Vec<String>,
}

/// `text` as a `LIKE` pattern that finds it anywhere (`%text%`), or at the start with
/// `prefix` (`text%`): LIKE's wildcards and its escape character, backslash, escaped.
pub fn like_pattern(text: &str, prefix: bool) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    if !prefix {
        out.push('%');
    }
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A row's place in a list ordered by creation time: its ticket's creation time and id (the
/// tie-break every list index carries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PagePosition {
    /// The ticket's creation time.
    pub created_at: DateTime<Utc>,
    /// The ticket's id.
    pub id: TicketId,
}

impl PagePosition {
    /// Where `ticket` stands in a creation-time order.
    pub fn of(ticket: &Ticket) -> Self {
        Self {
            created_at: ticket.created_at,
            id: ticket.id,
        }
    }
}

/// How one search term is tested on a candidate's type and state (its title is always tested on
/// the row): by a substring test on the row (`None`), or, where the candidates' values are
/// known before any row is read, by the values that contain the term (`Some`; empty: none does).
/// Each text test costs a function call per candidate row, and a search walks many.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TermTest {
    /// The types that contain the term, when the query names the only types it lists.
    pub kinds: Option<Vec<String>>,
    /// The states whose searched word ([`TicketQuery::searched_state`]) contains the term
    /// (always decided: every such word is ASCII).
    pub states: Option<Vec<TicketState>>,
}

/// Whether `value` contains `term` as SQL's `LIKE '%term%'` sees it: ASCII letters folded, every
/// other character compared exactly (what `term_test` is used for only when both are ASCII).
fn contains_folded(value: &str, term: &str) -> bool {
    term.is_empty()
        || value
            .as_bytes()
            .windows(term.len())
            .any(|window| window.eq_ignore_ascii_case(term.as_bytes()))
}

/// The most search terms one list query may carry: each is a substring test on every candidate
/// row, so the bound keeps one request's cost in proportion (and the SQL within what the
/// databases accept).
pub const MAX_SEARCH_TERMS: usize = 64;

/// The most texts a list query's [`TextFilter`]s may carry together: each is a test of every
/// candidate row, and a store builds one condition per filter.
pub const MAX_TEXT_FILTER_VALUES: usize = 256;

/// A store's answer to a change that takes an active system administrator away, given whether
/// `others` remain: refused on `field` (the one the change makes it by, `non_field_errors` for
/// a deletion) when none does ([`crate::identity::LAST_ADMIN`]).
pub fn an_admin_remains(others: bool, field: &str) -> Result<(), StoreError> {
    if others {
        return Ok(());
    }
    Err(StoreError::Refused(Box::new(crate::DomainError::invalid(
        field,
        "last_admin",
        crate::identity::LAST_ADMIN,
    ))))
}

/// A store's answer to an asset insert that skips a taken id, given whether it `wrote` the row:
/// not is the `Conflict` of [`crate::catalog::ASSET_ID_TAKEN`].
pub fn asset_inserted(wrote: bool) -> Result<(), StoreError> {
    if !wrote {
        return Err(StoreError::Conflict {
            constraint: crate::catalog::ASSET_ID_TAKEN.into(),
        });
    }
    Ok(())
}

/// The most characters of one text a list searches for (a search term, a text filter's value,
/// a content test's text). Longer than any title, name or id, and short enough that its `LIKE`
/// pattern, every character escaped and four bytes long, stays within SQLite's 50,000 bytes (a
/// longer one failed the query, a 500).
pub const MAX_SEARCHED_CHARS: usize = 4096;

/// Refuses `text` as a searched text longer than [`MAX_SEARCHED_CHARS`], naming `field`.
pub fn check_searched_text(field: &str, text: &str) -> Result<(), crate::DomainError> {
    let chars = text.chars().count();
    if chars > MAX_SEARCHED_CHARS {
        return Err(crate::DomainError::invalid(
            field,
            "too_long",
            format!(
                "a searched text may have at most {MAX_SEARCHED_CHARS} characters, this one has {chars}"
            ),
        ));
    }
    Ok(())
}

impl TicketQuery {
    /// Refuses a query whose free-text search has more than [`MAX_SEARCH_TERMS`] terms, or
    /// whose text filters carry more than [`MAX_TEXT_FILTER_VALUES`] texts, or one of whose
    /// searched texts is longer than [`MAX_SEARCHED_CHARS`].
    pub fn check_size(&self) -> Result<(), crate::DomainError> {
        let searched = self
            .search
            .iter()
            .flatten()
            .flatten()
            .map(|term| ("search", term))
            .chain(
                self.text_filters
                    .iter()
                    .flat_map(|f| &f.any_of)
                    .map(|text| ("filter", text)),
            )
            .chain(
                self.content_tests
                    .iter()
                    .flatten()
                    .flat_map(|m| &m.any_of)
                    .map(|text| ("filter", text)),
            )
            .chain(self.applicant_text.iter().map(|text| ("applicant", text)));
        for (field, text) in searched {
            check_searched_text(field, text)?;
        }
        let terms: usize = self.search.iter().flatten().map(Vec::len).sum();
        if terms > MAX_SEARCH_TERMS {
            return Err(crate::DomainError::invalid(
                "search",
                "too_long",
                format!("a search may have at most {MAX_SEARCH_TERMS} terms, this one has {terms}"),
            ));
        }
        let texts: usize = self.text_filters.iter().map(|f| f.any_of.len()).sum();
        if texts > MAX_TEXT_FILTER_VALUES {
            return Err(crate::DomainError::invalid(
                "filter",
                "too_long",
                format!(
                    "text filters may name at most {MAX_TEXT_FILTER_VALUES} texts together, these name {texts}"
                ),
            ));
        }
        Ok(())
    }

    /// Where the page starts ([`TicketQuery::after`]) and whether the order is newest first;
    /// `None` without a position or with an order other than by creation time.
    pub fn seek(&self) -> Option<(PagePosition, bool)> {
        let newest_first = match self.order {
            TicketOrder::CreatedDesc => true,
            TicketOrder::CreatedAsc => false,
            TicketOrder::By { .. } => return None,
        };
        self.after.map(|after| (after, newest_first))
    }

    /// How `term` (one of [`TicketQuery::search`]'s) is tested on a candidate's type and state.
    /// The state is decided here for every term (its words are known: the core's or the
    /// dialect's, [`SearchedState`]); a type only for terms without letters of other cases
    /// beyond ASCII's, and ASCII types: the databases fold other letters each in their own way,
    /// so those stay their test.
    pub fn term_test(&self, term: &str) -> TermTest {
        let candidates = if self.states.is_empty() {
            &TicketState::ALL[..]
        } else {
            &self.states[..]
        };
        let states = Some(
            candidates
                .iter()
                .copied()
                .filter(|state| {
                    let word = match self.searched_state {
                        SearchedState::Name => state.as_str(),
                        SearchedState::Status => state.status_word(),
                        SearchedState::Labels(labels) => labels
                            .iter()
                            .find(|(labelled, _)| labelled == state)
                            .map_or("", |(_, word)| word),
                    };
                    if word.is_empty() {
                        return false;
                    }
                    contains_folded(word, term)
                })
                .collect(),
        );
        if folds_beyond_ascii(term) {
            return TermTest {
                kinds: None,
                states,
            };
        }
        let kinds =
            (!self.kinds.is_empty() && self.kinds.iter().all(|k| k.is_ascii())).then(|| {
                self.kinds
                    .iter()
                    .filter(|kind| contains_folded(kind, term))
                    .cloned()
                    .collect()
            });
        TermTest { kinds, states }
    }

    /// A query with no filters, newest first, 20 per page, for `visibility`.
    pub fn new(visibility: Visibility) -> Self {
        Self {
            visibility,
            org_ids: None,
            current_assignee: None,
            awaiting: None,
            states: Vec::new(),
            kinds: Vec::new(),
            applicant: None,
            ids: None,
            serial: None,
            title: None,
            text_filters: Vec::new(),
            scope: None,
            exclude_ids: Vec::new(),
            applicant_text: None,
            content_tests: Vec::new(),
            search: Vec::new(),
            searched_state: SearchedState::Name,
            created_from: None,
            created_to: None,
            archived: None,
            include_deleted: false,
            order: TicketOrder::CreatedDesc,
            limit: 20,
            offset: 0,
            after: None,
            with_total: false,
        }
    }
}

/// One page of tickets.
#[derive(Clone, Debug, PartialEq)]
pub struct TicketPage {
    /// All matches, when asked for.
    pub total: Option<u64>,
    /// This page, shared: a page kept by the caching store is handed out without copying it.
    pub items: Arc<Vec<Ticket>>,
    /// With a total, where in the store's history it was counted, for backends that keep
    /// marks (see [`Store::count_inserted_since`]).
    pub mark: Option<ListMark>,
    /// Where in the store's history the page's rows were read, for backends that read a page
    /// and its mark in one snapshot (SQLite every page; PostgreSQL a page read with its count,
    /// and one in creation-time order that holds a row): in creation-time order, where its rows
    /// stand in the list then stays known after mere insertions (the caching store's page
    /// positions), and in any order, whether a count read before the page holds for it
    /// ([`crate::cache::CachedStore`]).
    pub snapshot: Option<ListMark>,
}

/// A point in a store's history, as seen by the read that counted a list: how many commits had
/// changed data that already existed (anything but inserting new tickets), and where insertions
/// stood. A count taken at a mark grows afterwards only by tickets inserted later, while
/// `changes` stays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListMark {
    /// Commits so far that changed existing data (or anything besides new tickets).
    pub changes: i64,
    /// Where insertions stood. SQLite: the rowid of the newest ticket (one writer, so every
    /// later ticket has a higher one). PostgreSQL: a transaction number below which every
    /// inserting transaction had ended (concurrent writers commit out of number order, so
    /// tickets at or above it may still appear).
    pub last_insert: i64,
    /// Of the count, the matches inserted at or above `last_insert` (PostgreSQL; SQLite: 0):
    /// counting that range again later gives them again, with whatever was added meanwhile.
    pub unsettled: u64,
}

/// The tickets a list gained since a mark, when nothing but insertions was committed since
/// (see [`Store::count_inserted_since`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inserted {
    /// How many of the inserted tickets the list matches.
    pub count: u64,
    /// The mark of the read that counted them.
    pub mark: ListMark,
    /// A time no inserted ticket (matching or not) was created before, when the backend says
    /// (it may be earlier than the oldest); with no ticket inserted, the latest time there is.
    pub created_from: Option<DateTime<Utc>>,
}

/// Filters of the grant list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantQuery {
    /// Only these organizations (`None`: any).
    pub org_ids: Option<Vec<OrgId>>,
    /// Only grants to this user.
    pub user: Option<UserId>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only grants created by this ticket.
    pub ticket: Option<TicketId>,
    /// Page size (0: no limit).
    pub limit: u32,
    /// Rows to skip.
    pub offset: u64,
}

/// What authenticating a token reads, in one store call.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenActor {
    /// The token.
    pub record: TokenRecord,
    /// Its owner.
    pub user: User,
    /// The owner's memberships.
    pub memberships: Vec<Membership>,
    /// The directory generation read with them (`None`: the backend keeps none).
    pub directory_generation: Option<i64>,
}

/// Persistence for the whole domain. Each method is one atomic operation.
///
/// Backends: SQLite (`ticketd-store-sqlite`) and PostgreSQL; both pass the contract suite in
/// `ticketd-store-tests`.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Checks the store answers (for `/healthz`).
    async fn ping(&self) -> Result<(), StoreError>;

    // --- directory
    /// Creates the built-in organizations and roles if they are missing.
    async fn ensure_builtins(&self, orgs: Vec<Org>, roles: Vec<Role>) -> Result<(), StoreError>;
    /// Creates an organization (`Conflict` if the name is taken).
    async fn create_org(&self, org: Org) -> Result<(), StoreError>;
    /// An organization by id.
    async fn get_org(&self, id: OrgId) -> Result<Option<Org>, StoreError>;
    /// An organization by name, case-insensitive.
    async fn find_org_by_name(&self, name: &str) -> Result<Option<Org>, StoreError>;
    /// Every organization, by name.
    async fn list_orgs(&self) -> Result<Vec<Org>, StoreError>;
    /// Every role.
    async fn list_roles(&self) -> Result<Vec<Role>, StoreError>;
    /// Creates a user with its memberships, in one transaction (`Conflict` if the username is
    /// taken; `Reference` if an organization or role is gone; `Conflict` with
    /// [`crate::identity::EMAIL_TAKEN`] if another user holds its e-mail address,
    /// [`check_email_free`] in the same transaction).
    async fn create_user(&self, user: NewUser) -> Result<(), StoreError>;
    /// Writes the profile fields `change` gives of user `id`, and only those, with
    /// `updated_at` (`NotFound` if the user is gone; `Conflict` with
    /// [`crate::identity::EMAIL_TAKEN`] if the address changes to another user's, checked as in
    /// [`Store::create_user`]; refused with [`crate::identity::LAST_ADMIN`] if it would leave
    /// no active system administrator, checked in the same transaction, so two administrators
    /// demoting each other at once leave one).
    async fn change_user(
        &self,
        id: UserId,
        change: crate::identity::UserChange,
        updated_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Replaces a user's profile fields: [`Store::change_user`] with every field.
    async fn update_user(&self, user: User) -> Result<(), StoreError> {
        self.change_user(
            user.id,
            crate::identity::UserChange::all_of(&user),
            user.updated_at,
        )
        .await
    }
    /// A user by id.
    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// A user by username (exact).
    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// Every user, by username.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    /// The users with these ids (unknown ids are skipped), in one call.
    async fn users_by_ids(&self, ids: Vec<UserId>) -> Result<Vec<User>, StoreError>;
    /// The stored password verifiers of a user.
    async fn password_hashes(&self, user: UserId) -> Result<Option<PasswordHashes>, StoreError>;
    /// Replaces a user's password verifiers.
    async fn set_password_hashes(
        &self,
        user: UserId,
        hashes: PasswordHashes,
    ) -> Result<(), StoreError>;
    /// Adds a membership (no-op if present).
    async fn add_membership(&self, membership: Membership) -> Result<(), StoreError>;
    /// Removes every role of `user` in `org`: a replacement with none.
    async fn remove_member(&self, org: OrgId, user: UserId) -> Result<(), StoreError> {
        self.replace_member_roles(org, user, Vec::new()).await
    }
    /// Removes one role of `user` in `org`, keeping the others (`NotFound` if it is not held):
    /// a change of its own, so that two removals of different roles at once both stay. The
    /// last one takes them out of the organization's grants, as [`Store::replace_member_roles`].
    async fn remove_member_role(
        &self,
        org: OrgId,
        user: UserId,
        role: crate::ids::RoleId,
    ) -> Result<(), StoreError>;
    /// Makes `roles` the only roles of `user` in `org` (none: not a member), in one
    /// transaction, so no reader sees the user between the old roles and the new. Some roles
    /// replace those of a member only (`NotFound` for a user who holds none there, also one
    /// removed by a concurrent write, whom a replacement put back).
    ///
    /// A user who held a role there and is left with none is taken out of the users of the
    /// organization's grants
    /// in the same transaction (the grant list's `user` filter included), as JumpServer takes
    /// a user who leaves an organization out of its permissions: what a grant gave them there
    /// ends with their membership, and joining again gives none of it back.
    async fn replace_member_roles(
        &self,
        org: OrgId,
        user: UserId,
        roles: Vec<crate::ids::RoleId>,
    ) -> Result<(), StoreError>;
    /// Every membership of a user.
    async fn memberships_of(&self, user: UserId) -> Result<Vec<Membership>, StoreError>;
    /// Memberships held in any of `orgs`.
    async fn memberships_in(&self, orgs: Vec<OrgId>) -> Result<Vec<Membership>, StoreError>;
    /// The users who may be resolved as approvers in an organization, active or not (an
    /// inactive one is assigned nowhere, but counts when the applicant's exclusion is decided,
    /// `machine::build_steps`), with their org roles there: its members plus every system
    /// administrator (who may enter any organization); for ROOT, every user (no org roles).
    /// Shared: a caching store hands out the same list to every opening.
    async fn org_directory(&self, org: OrgId) -> Result<Arc<Vec<DirectoryEntry>>, StoreError>;

    /// Writes the fields `change` gives of an organization, and only those, so concurrent
    /// changes of different fields both stay (`NotFound` if it is gone).
    async fn update_org(&self, id: OrgId, change: OrgChange) -> Result<(), StoreError>;
    /// Deletes an organization with its memberships (`Conflict` if tickets or flows use it).
    async fn delete_org(&self, id: OrgId) -> Result<(), StoreError>;
    /// Deletes a user (`NotFound` if absent; refused with [`crate::identity::LAST_ADMIN`] for
    /// the last active system administrator); their tickets keep the applicant's display name,
    /// and every grant's users leave them out.
    async fn delete_user(&self, id: UserId) -> Result<(), StoreError>;

    // --- catalog
    /// Creates an asset (`Conflict` with [`crate::catalog::ASSET_ID_TAKEN`] if its id is taken,
    /// another `Conflict` if its name is).
    async fn put_asset(&self, asset: Asset) -> Result<(), StoreError>;
    /// Writes the fields `change` gives of asset `id`, and only those, with `updated_at`
    /// (`NotFound` if it is gone: a change racing a deletion does not bring the asset back;
    /// `Conflict` if the new name is taken).
    async fn update_asset(
        &self,
        id: AssetId,
        change: crate::catalog::AssetChange,
        updated_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Deletes an asset.
    async fn delete_asset(&self, id: AssetId) -> Result<(), StoreError>;
    /// Assets matching the query, by name, with the total count.
    async fn list_assets(&self, query: CatalogQuery) -> Result<(u64, Vec<Asset>), StoreError>;
    /// Creates or replaces a node.
    async fn put_node(&self, node: Node) -> Result<(), StoreError>;
    /// Renames a node to `name`, whose path `old_path` becomes `new_path`, and moves the paths
    /// of its descendants under the new one, in one transaction. `NotFound` when the node is
    /// gone or its path is no longer `old_path` (renamed or moved meanwhile).
    async fn rename_node(
        &self,
        id: NodeId,
        name: String,
        old_path: String,
        new_path: String,
    ) -> Result<(), StoreError>;
    /// Deletes a node.
    async fn delete_node(&self, id: NodeId) -> Result<(), StoreError>;
    /// Nodes matching the query, by full path, with the total count.
    async fn list_nodes(&self, query: CatalogQuery) -> Result<(u64, Vec<Node>), StoreError>;

    // --- credentials
    /// Stores a token (by digest).
    async fn create_token(&self, token: TokenRecord) -> Result<(), StoreError>;
    /// A token by digest.
    async fn find_token(&self, digest: [u8; 32]) -> Result<Option<TokenRecord>, StoreError>;
    /// A token with its owner, the owner's memberships and the directory generation: what
    /// every authenticated request needs, in one call (backends override it to save round
    /// trips).
    async fn token_actor(&self, digest: [u8; 32]) -> Result<Option<TokenActor>, StoreError> {
        let Some(record) = self.find_token(digest).await? else {
            return Ok(None);
        };
        let Some(user) = self.get_user(record.user_id).await? else {
            return Ok(None);
        };
        let memberships = self.memberships_of(user.id).await?;
        let directory_generation = self.directory_generation().await?;
        Ok(Some(TokenActor {
            record,
            user,
            memberships,
            directory_generation,
        }))
    }
    /// A counter that every change to organizations, roles, users, memberships, flows, assets
    /// or nodes increases in the same transaction (so caches of them can tell they are stale);
    /// `None` when the backend keeps none, and then nothing is cached.
    async fn directory_generation(&self) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }
    /// Called once when the process stops serving, after its last request, or a one-off
    /// command is done with the store. SQLite copies its
    /// write-ahead log into the database file and empties the log, so the file alone holds
    /// every commit (a copy of it is a whole backup) and the next start has no log to read;
    /// PostgreSQL has nothing to do. An error loses nothing: the log is read at the next start.
    async fn shutdown(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// A number that changes with every commit, of this process or another (SQLite: the
    /// writer's commit counter; PostgreSQL: a hash of `pg_current_snapshot()`), so what was read
    /// at one version is still exact while the version is unchanged; `None` when the backend
    /// keeps none. By default the local one (see below).
    async fn data_version(&self) -> Result<Option<u64>, StoreError> {
        Ok(self.local_data_version())
    }
    /// The data version when this process knows it without a read, because every commit to the
    /// data goes through it (SQLite: one serving process per file); `None` otherwise
    /// (PostgreSQL, where asking would cost the round trip that caching by it would save).
    fn local_data_version(&self) -> Option<u64> {
        None
    }
    /// Like [`Store::local_data_version`], for what a token lookup reads (tokens, users,
    /// memberships, the directory generation): a number known without a read that changes with
    /// every commit that may change them, and may stay the same across other commits (SQLite:
    /// ticket writes and comments; PostgreSQL: moved by the notifications every process's such
    /// commits send, known only while this process listens to them); `None` when the backend
    /// knows none. By default the local data version, which changes with every commit.
    fn local_identity_version(&self) -> Option<u64> {
        self.local_data_version()
    }
    /// Like [`Store::local_data_version`], for what a ticket's display refers to besides the
    /// ticket (users, organizations, memberships, flows, catalog entries): a number known without
    /// a read that changes with every commit that may change any of them, and may stay the same
    /// across ticket writes and comments (SQLite); `None` when the backend knows none. By default
    /// the local data version, which changes with every commit.
    fn local_reference_version(&self) -> Option<u64> {
        self.local_data_version()
    }
    /// How many of the tickets `query` matches were inserted after `since`, with the mark of the
    /// read that counted them, if nothing but ticket insertions was committed since `since` (so a
    /// count taken at `since` plus this is exact). `None` when something else changed, when too
    /// many tickets came since for a cheap count, or when the backend keeps no marks: the caller
    /// counts from scratch.
    async fn count_inserted_since(
        &self,
        query: TicketQuery,
        since: ListMark,
    ) -> Result<Option<Inserted>, StoreError> {
        let _ = (query, since);
        Ok(None)
    }
    /// Deletes a token by digest (logout).
    async fn delete_token(&self, digest: [u8; 32]) -> Result<(), StoreError>;
    /// Deletes every token of `kind` that `user` holds (their sessions, at a password reset).
    async fn delete_tokens_of_kind(
        &self,
        user: UserId,
        kind: crate::identity::TokenKind,
    ) -> Result<(), StoreError>;
    /// Makes `token` its user's only token of its kind, in one transaction: the user's other
    /// tokens of that kind are deleted, and a token of the same digest and user already stored
    /// takes `token`'s kind and expiry. A digest another user holds is
    /// [`StoreError::Conflict`], and nothing is changed, unless both are operator tokens: the
    /// operator token then moves to `token`'s user (admin renamed, and a new admin made, kept
    /// the value of `TICKETD_ADMIN_TOKEN`, and every start was refused).
    async fn replace_tokens_of_kind(&self, token: TokenRecord) -> Result<(), StoreError>;
    /// Stores an access key.
    async fn create_access_key(&self, key: AccessKey) -> Result<(), StoreError>;
    /// An access key by id.
    async fn get_access_key(&self, id: AccessKeyId) -> Result<Option<AccessKey>, StoreError>;
    /// Every access key of a user.
    async fn access_keys_of(&self, user: UserId) -> Result<Vec<AccessKey>, StoreError>;
    /// Deletes an access key.
    async fn delete_access_key(&self, id: AccessKeyId) -> Result<(), StoreError>;
    /// Enables or disables an access key (`NotFound` if absent).
    async fn set_access_key_active(&self, id: AccessKeyId, active: bool) -> Result<(), StoreError>;

    // --- flows
    /// Writes flows in one transaction, all or none, in order. A creation must keep
    /// [`check_flow_rules`] (the core's and `rule`) against the other flows of its organization,
    /// read in the transaction after every other flow write of that organization has committed
    /// or failed (so two concurrent writes cannot both pass), the batch's earlier writes
    /// included; `Refused` with the rule's error otherwise. An update meets `NotFound` if its
    /// flow is gone and `VersionConflict` if the stored version is not the expected one (checked
    /// first, so a stale write is retried on the stored flow rather than judged by the rules),
    /// then the same rules.
    async fn write_flows(
        &self,
        writes: Vec<FlowWrite>,
        rule: Option<FlowRule>,
    ) -> Result<(), StoreError>;
    /// Creates a flow ([`Store::write_flows`] of one).
    async fn create_flow(&self, flow: Flow, rule: Option<FlowRule>) -> Result<(), StoreError> {
        self.write_flows(vec![FlowWrite::Create(flow)], rule).await
    }
    /// Replaces a flow expected at `expected_version` ([`Store::write_flows`] of one).
    async fn update_flow(
        &self,
        flow: Flow,
        expected_version: i64,
        rule: Option<FlowRule>,
    ) -> Result<(), StoreError> {
        let write = FlowWrite::Update {
            flow,
            expected_version,
        };
        self.write_flows(vec![write], rule).await
    }
    /// Deletes a flow.
    async fn delete_flow(&self, id: FlowId) -> Result<(), StoreError>;
    /// A flow by id.
    async fn get_flow(&self, id: FlowId) -> Result<Option<Flow>, StoreError>;
    /// Flows of the given organizations, oldest first (shared: a cache hands out the same list
    /// to every opening).
    async fn list_flows(&self, orgs: Vec<OrgId>) -> Result<Arc<[Flow]>, StoreError>;

    // --- tickets
    /// Applies one transition atomically: inserts (allocating the serial number) when
    /// `expected_version` is `None`, otherwise updates only if the version still matches
    /// (`VersionConflict` otherwise). Returns the ticket as stored. A grant whose
    /// [`Grant::members`] one has no role left in its organization refuses the write
    /// ([`StoreError::Refused`], [`Grant::member_left`]).
    async fn write_ticket(&self, write: TicketWrite) -> Result<Ticket, StoreError>;
    /// A ticket by id (including deleted ones).
    async fn get_ticket(&self, id: TicketId) -> Result<Option<Ticket>, StoreError>;
    /// A page of tickets.
    async fn list_tickets(&self, query: TicketQuery) -> Result<TicketPage, StoreError>;
    /// History of a ticket, oldest first.
    async fn ticket_history(&self, id: TicketId) -> Result<Vec<HistoryEntry>, StoreError>;
    /// Appends a comment.
    async fn add_comment(&self, comment: Comment) -> Result<(), StoreError>;
    /// Comments of a ticket, oldest first.
    async fn ticket_comments(&self, id: TicketId) -> Result<Vec<Comment>, StoreError>;
    /// A grant by id.
    async fn get_grant(&self, id: uuid::Uuid) -> Result<Option<Grant>, StoreError>;
    /// Grants, newest first.
    async fn list_grants(&self, query: GrantQuery) -> Result<Vec<Grant>, StoreError>;
    /// Outbox events after sequence number `after`, oldest first, with their sequence numbers.
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<(i64, Event)>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(states: Vec<TicketState>, kinds: &[&str]) -> TicketQuery {
        TicketQuery {
            states,
            kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
            searched_state: SearchedState::Status,
            ..TicketQuery::new(Visibility::All)
        }
    }

    #[test]
    fn a_term_is_decided_on_the_states_and_named_types_it_can_meet() {
        // By name, TopHC's keywords: the word of each state.
        let by_name = TicketQuery::new(Visibility::All);
        assert_eq!(
            by_name.term_test("PEND").states,
            Some(vec![TicketState::Pending])
        );
        assert_eq!(by_name.term_test("open").states, Some(Vec::new()));
        let any = query(Vec::new(), &[]);
        // Folded like LIKE, on the status (open or closed) of every state, as JumpServer searches
        // `status`, not `state`; the types of unfiltered rows are unknown.
        let test = any.term_test("OPE");
        assert_eq!(
            test.states,
            Some(vec![TicketState::Draft, TicketState::Pending])
        );
        assert_eq!(test.kinds, None);
        let finished = Some(vec![
            TicketState::Approved,
            TicketState::Rejected,
            TicketState::Closed,
        ]);
        assert_eq!(any.term_test("closed").states, finished);
        assert_eq!(any.term_test("pending").states, Some(Vec::new()));
        assert_eq!(any.term_test("o").states.map(|s| s.len()), Some(5));
        // A term beyond ASCII is in no status word; its types stay the store's test.
        let wide = any.term_test("Ü");
        assert_eq!((wide.states, wide.kinds), (Some(Vec::new()), None));
        // Only the states and types the query lists are candidates' values.
        let listed = query(
            vec![TicketState::Pending, TicketState::Approved],
            &["apply_asset", "general"],
        );
        let test = listed.term_test("sed");
        assert_eq!(test.states, Some(vec![TicketState::Approved]));
        assert_eq!(test.kinds, Some(Vec::new()));
        assert_eq!(
            listed.term_test("_Asset").kinds,
            Some(vec!["apply_asset".to_owned()])
        );
        let nothing = listed.term_test("db");
        assert_eq!(
            (nothing.states, nothing.kinds),
            (Some(Vec::new()), Some(Vec::new()))
        );
        // The empty term is contained in everything, as `LIKE '%%'` matches everything.
        let everything = listed.term_test("");
        assert_eq!(everything.states.map(|s| s.len()), Some(2));
        assert_eq!(everything.kinds.map(|k| k.len()), Some(2));
    }

    fn flow(name: &str, dialect: Option<&str>, kinds: &[&str]) -> Flow {
        let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        Flow {
            id: crate::FlowId(uuid::Uuid::new_v4()),
            org_id: crate::identity::DEFAULT_ORG,
            name: name.into(),
            description: String::new(),
            kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
            is_default: false,
            enabled: true,
            levels: Vec::new(),
            cc_users: Vec::new(),
            attributes: dialect.map_or(
                serde_json::Value::Null,
                |d| serde_json::json!({"dialect": d}),
            ),
            created_by: String::new(),
            version: 1,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_flow_name_is_taken_among_one_api_s_flows_that_share_a_type() {
        let taken = |new: &Flow, others: &[Flow]| check_flow_rules(None, new, others).is_err();
        let process = [flow("P1", Some("tophc"), &[])];
        // Case and surrounding spaces make no other name.
        assert!(taken(&flow(" p1 ", Some("tophc"), &[]), &process));
        // Another API's flow of that name is another API's business; so is another type.
        assert!(!taken(&flow("p1", Some("zstack"), &[]), &process));
        let jumpserver = [flow("asset flow", None, &["apply_asset"])];
        assert!(!taken(
            &flow("Asset flow", None, &["login_confirm"]),
            &jumpserver
        ));
        assert!(taken(&flow("Asset flow", None, &[]), &jumpserver));
    }

    #[test]
    fn other_letters_stay_the_database_s_test() {
        // For the types; no status word holds a letter beyond ASCII.
        let listed = query(vec![TicketState::Pending], &["general"]);
        let test = listed.term_test("généra");
        assert_eq!((test.states, test.kinds), (Some(Vec::new()), None));
        let unicode_kind = query(Vec::new(), &["größe"]);
        assert_eq!(unicode_kind.term_test("gr").kinds, None);
    }
}
