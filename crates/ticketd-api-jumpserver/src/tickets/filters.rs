//! The ticket list filters, search and ordering of §5, translated into a core `TicketQuery`.

use crate::listing::Query;
use chrono::{DateTime, Duration, Utc};
use ticketd_core::catalog::CatalogQuery;
use ticketd_core::store::{
    ContentMatch, SearchedState, SortKey, TextColumn, TextFilter, TicketOrder, TicketQuery,
    Visibility,
};
use ticketd_core::ticket::TicketState;
use ticketd_core::{Actor, DomainError, FieldError, OrgId, TicketId, UserId};
use ticketd_http::AppState;

/// JumpServer lists never show drafts (a TopHC concept) nor archived tickets.
const LISTED_STATES: [TicketState; 4] = [
    TicketState::Pending,
    TicketState::Approved,
    TicketState::Rejected,
    TicketState::Closed,
];

/// Builds the core query; `None` means the filters can match nothing (e.g. an invalid UUID).
pub(crate) async fn ticket_query(
    state: &AppState,
    actor: &Actor,
    query: &Query,
    kind: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<TicketQuery>, DomainError> {
    let mut q = TicketQuery::new(Visibility::All);
    q.archived = Some(false);
    let mut states: Vec<TicketState> = LISTED_STATES.to_vec();
    match (kind, query.text("type")) {
        // A typed list (`apply-asset-tickets/`) filtered by another type is empty, as the
        // typed queryset filtered again is in JumpServer.
        (Some(kind), Some(asked)) if asked != kind => return Ok(None),
        (Some(kind), _) => q.kinds = vec![kind.to_owned()],
        (None, Some(asked)) => q.kinds = vec![asked],
        (None, None) => {}
    }
    let ids = |values: Vec<String>| -> Option<Vec<TicketId>> {
        values.iter().map(|v| TicketId::parse(v)).collect()
    };
    let mut wanted: Vec<String> = query.list("id__in");
    wanted.extend(query.list("ids"));
    if let Some(id) = query.text("id") {
        wanted.push(id);
    }
    if !wanted.is_empty() {
        match ids(wanted) {
            Some(ids) => q.ids = Some(ids),
            None => return Ok(None),
        }
    }
    let mut excluded = query.list("id!");
    excluded.extend(query.list("id__in!"));
    q.exclude_ids = excluded.iter().filter_map(|v| TicketId::parse(v)).collect();
    q.title = query.text("title");
    q.text_filters = text_filters(query);
    q.serial = query.text("serial_num");
    if let Some(org) = query.text("org_id") {
        match OrgId::parse(&org) {
            Some(org) => q.org_ids = Some(vec![org]),
            None => return Ok(None),
        }
    }
    let org_set = query.list("org_id__in");
    if !org_set.is_empty() {
        let orgs: Option<Vec<OrgId>> = org_set.iter().map(|o| OrgId::parse(o)).collect();
        match orgs {
            Some(orgs) => q.org_ids = Some(orgs),
            None => return Ok(None),
        }
    }
    if let Some(name) = query.text("org_name") {
        let needle = name.to_lowercase();
        let orgs: Vec<OrgId> = state
            .engine
            .store()
            .list_orgs()
            .await?
            .into_iter()
            .filter(|o| o.name.to_lowercase().contains(&needle))
            .map(|o| o.id)
            .collect();
        if orgs.is_empty() {
            return Ok(None);
        }
        q.org_ids = Some(orgs);
    }
    if let Some(wanted_state) = query.text("state").filter(|s| s != "all") {
        match TicketState::parse(&wanted_state).filter(|s| *s != TicketState::Draft) {
            Some(s) => states.retain(|x| *x == s),
            None => return Ok(None),
        }
    }
    match query.text("status").as_deref() {
        Some("open") => states.retain(|s| !s.is_finished()),
        Some("closed") => states.retain(|s| s.is_finished()),
        Some(_) => return Ok(None),
        None => {}
    }
    if states.is_empty() {
        return Ok(None);
    }
    q.states = states;
    if let Some(applicant) = query.text("applicant") {
        match UserId::parse(&applicant) {
            Some(id) => q.applicant = Some(id),
            None => return Ok(None),
        }
    }
    if let Some(assignee) = query.text("assignees__id") {
        match UserId::parse(&assignee) {
            Some(id) => q.current_assignee = Some(id),
            None => return Ok(None),
        }
    }
    q.applicant_text = query.text("applicant_username_name");
    if let Some(text) = query.text("relevant_asset") {
        let (_, assets) = state
            .engine
            .assets(
                actor,
                CatalogQuery {
                    search: Some(text.clone()),
                    limit: 1000,
                    ..CatalogQuery::default()
                },
            )
            .await?;
        // §5: the assets of an asset application or the login asset (ids, found in the
        // content's text), or the command's asset text; not the rest of the content (an
        // account named like the text matched).
        let mut group = vec![ContentMatch {
            field: Some("apply_run_asset"),
            any_of: vec![text],
        }];
        if !assets.is_empty() {
            group.push(ContentMatch {
                field: None,
                any_of: assets.iter().map(|a| a.id.to_string()).collect(),
            });
        }
        q.content_tests.push(group);
    }
    if let Some(text) = query.text("relevant_command") {
        q.content_tests.push(vec![ContentMatch {
            field: Some("apply_run_command"),
            any_of: vec![text],
        }]);
    }
    if let Some(days) = days(query, "days")? {
        q.created_from = Some(now - days);
    }
    if let Some(days) = days(query, "days__lt")? {
        q.created_to = Some(now - days);
    }
    q.search = search(query);
    q.searched_state = SearchedState::Status;
    q.order = order(query);
    Ok(Some(q))
}

/// `days` and `days__lt`: a number of days (django-filter's `NumberFilter`, so a fraction
/// too), at most a century; anything else is refused as django-filter refuses it.
fn days(query: &Query, key: &str) -> Result<Option<Duration>, DomainError> {
    let Some(text) = query.text(key) else {
        return Ok(None);
    };
    match text.parse::<f64>() {
        Ok(days) if days.is_finite() => {
            let seconds = (days.clamp(0.0, 36_500.0) * 86_400.0).round();
            // Within ±3.2e9 after the clamp: the conversion is exact.
            Ok(Some(Duration::seconds(seconds as i64)))
        }
        _ => Err(DomainError::Validation(vec![FieldError::new(
            key,
            "invalid",
            "enter a number",
        )])),
    }
}

/// The plain text fields that take JumpServer's dynamic lookups: the parameter's name, the
/// column, and what it is (for the OpenAPI document).
pub(crate) const TEXT_LOOKUP_FIELDS: [(&str, TextColumn, &str); 2] = [
    ("title", TextColumn::Title, "the title"),
    ("serial_num", TextColumn::Serial, "the serial number"),
];

/// The dynamic lookups [`text_filters`] reads, each with what it asks (`{}`: the field).
pub(crate) const TEXT_LOOKUPS: [(&str, &str); 5] = [
    ("icontains", "a part of {}, in any case"),
    ("startswith", "the start of {}, exactly"),
    (
        "icontains_any",
        "comma-separated parts of {}, any of them, in any case",
    ),
    (
        "icontains_all",
        "comma-separated parts of {}, each of them, in any case",
    ),
    (
        "icontains!",
        "tickets whose {} does not contain this, in any case",
    ),
];

/// JumpServer's dynamic lookups on the plain text filter fields (§5): `__icontains`,
/// `__startswith` (exact, as Django's), `__icontains_any=a,b` (any of them),
/// `__icontains_all=a,b` (each of them) and `__icontains!` (not containing).
fn text_filters(query: &Query) -> Vec<TextFilter> {
    let mut filters = Vec::new();
    for (field, column, _) in TEXT_LOOKUP_FIELDS {
        let filter = |any_of: Vec<String>, prefix: bool, negated: bool| TextFilter {
            column,
            any_of,
            prefix,
            negated,
        };
        let lookup = |name: &str| format!("{field}__{name}");
        if let Some(text) = query.text(&lookup("icontains")) {
            filters.push(filter(vec![text], false, false));
        }
        if let Some(text) = query.text(&lookup("startswith")) {
            filters.push(filter(vec![text], true, false));
        }
        if let Some(text) = query.text(&lookup("icontains!")) {
            filters.push(filter(vec![text], false, true));
        }
        let any = query.list(&lookup("icontains_any"));
        if !any.is_empty() {
            filters.push(filter(any, false, false));
        }
        for text in query.list(&lookup("icontains_all")) {
            filters.push(filter(vec![text], false, false));
        }
    }
    filters
}

/// `search` (or `q`): `,` separates batches (AND), `|` alternatives (OR), spaces terms (AND).
fn search(query: &Query) -> Vec<Vec<Vec<String>>> {
    let mut batches: Vec<Vec<Vec<String>>> = Vec::new();
    for text in [query.get("search"), query.get("q")].into_iter().flatten() {
        for batch in text.split(',') {
            let alternatives: Vec<Vec<String>> = batch
                .split('|')
                .map(|alt| {
                    alt.split_whitespace()
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .filter(|terms| !terms.is_empty())
                .collect();
            if !alternatives.is_empty() {
                batches.push(alternatives);
            }
        }
    }
    if let Some(any) = query.text("search__icontains_any") {
        batches.push(
            any.split(',')
                .map(|t| vec![t.trim().to_owned()])
                .filter(|t| !t[0].is_empty())
                .collect(),
        );
    }
    if let Some(all) = query.text("search__icontains_all") {
        for term in all.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            batches.push(vec![vec![term.to_owned()]]);
        }
    }
    batches
}

/// `order`: the first recognised key decides; `-` means descending; default newest first.
fn order(query: &Query) -> TicketOrder {
    for key in query.parts("order") {
        let (descending, name) = key
            .strip_prefix('-')
            .map_or((false, key.as_str()), |k| (true, k));
        let sort = match name {
            "date_created" => {
                return if descending {
                    TicketOrder::CreatedDesc
                } else {
                    TicketOrder::CreatedAsc
                };
            }
            "title" => SortKey::Title,
            "serial_num" => SortKey::Serial,
            "type" => SortKey::Kind,
            "state" => SortKey::State,
            "status" => SortKey::Status,
            "applicant" => SortKey::Applicant,
            "date_updated" => SortKey::UpdatedAt,
            _ => continue,
        };
        return TicketOrder::By {
            key: sort,
            descending,
        };
    }
    TicketOrder::CreatedDesc
}
