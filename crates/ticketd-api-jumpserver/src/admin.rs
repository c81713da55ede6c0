//! The admin API a self-contained deployment needs: users, organizations, assets, nodes, access keys.

mod access_keys;
pub(crate) mod assets;
pub(crate) mod nodes;
mod orgs;
mod roles;
mod users;

use crate::error::ApiError;
use crate::extract::required_str;
use crate::format::parse_id_list;
use crate::listing::{Page, Query, paginated, select_row_fields};
use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde_json::Value;
use ticketd_core::DomainError;
use ticketd_core::OrgId;
use ticketd_core::identity::{DEFAULT_ORG, Org, ROOT_ORG, SYSTEM_ORG};
use ticketd_http::AppState;
use uuid::Uuid;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .merge(users::router())
        .merge(orgs::router())
        .merge(roles::router())
        .merge(assets::router())
        .merge(nodes::router())
        .merge(access_keys::router())
}

/// Parses an id taken from the path: no object has an id that is not a UUID, so anything else
/// is "not found" rather than a server error.
pub(crate) fn path_id(raw: &str, model: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw.trim()).map_err(|_not_a_uuid| ApiError::not_found(model))
}

/// Converts a core error for the admin routes: "not found" names JumpServer's `model`, and
/// field errors keep the core's field names, which are JumpServer's here (the dialect's default
/// mapping renames ticket fields such as `nodes` to `apply_nodes`).
pub(crate) fn core_error(model: &'static str) -> impl Fn(DomainError) -> ApiError {
    move |error| match error {
        DomainError::NotFound { .. } => ApiError::not_found(model),
        DomainError::Validation(fields) => ApiError::Fields(
            fields
                .into_iter()
                .map(|f| {
                    let field = f.field.split(['.', '[']).next().unwrap_or("").to_owned();
                    (field, sentence(&f.message))
                })
                .collect(),
        ),
        other => other.into(),
    }
}

pub(crate) use crate::error::{method_not_allowed, sentence};

pub(crate) use crate::format::object_body;

/// The organization a new catalog object goes into: the request's, which must be a real one.
pub(crate) fn owning_org(org: &Org) -> Result<OrgId, ApiError> {
    if org.id == ROOT_ORG || org.id == SYSTEM_ORG {
        return Err(ApiError::detail(
            StatusCode::BAD_REQUEST,
            "Resources cannot be created in the global or system organization; \
             select one with X-JMS-ORG.",
            "org_required",
        ));
    }
    Ok(org.id)
}

/// The organizations a list is scoped to: everything in the global organization, else that one.
pub(crate) fn scope_of(org: &Org) -> Option<Vec<OrgId>> {
    (org.id != ROOT_ORG).then(|| vec![org.id])
}

/// Whether an object of `object_org` is visible from the request's organization.
pub(crate) fn in_scope(org: &Org, object_org: OrgId) -> bool {
    org.id == ROOT_ORG || org.id == object_org
}

/// `org_name` as JumpServer renders it: its Default organization reads `DEFAULT`.
pub(crate) fn org_label(org: &Org) -> String {
    if org.id == DEFAULT_ORG {
        "DEFAULT".into()
    } else {
        org.name.clone()
    }
}

/// `org_name` for an id among `orgs` (empty when the caller cannot see that organization).
pub(crate) fn org_label_of(orgs: &[Org], id: OrgId) -> String {
    orgs.iter()
        .find(|o| o.id == id)
        .map(org_label)
        .unwrap_or_default()
}

/// Reads a query parameter as DRF's `BooleanFilter` does; anything unrecognised means "no filter".
pub(crate) fn query_bool(query: &Query, key: &str) -> Option<bool> {
    query.text(key).and_then(|v| parse_bool_text(&v))
}

fn parse_bool_text(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
        _ => None,
    }
}

/// Case-insensitive "contains", as DRF's search does.
pub(crate) fn contains_ci(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

/// The rows of `items` a page asks for.
pub(crate) fn page_items<T>(items: Vec<T>, page: Page) -> Vec<T> {
    let skip = usize::try_from(page.offset).unwrap_or(usize::MAX);
    let take = usize::try_from(page.fetch()).unwrap_or(usize::MAX);
    items.into_iter().skip(skip).take(take).collect()
}

/// A list answer: `?fields=` applied to each row, then DRF pagination.
pub(crate) fn list_answer(
    parts: &Parts,
    query: &Query,
    page: Page,
    total: usize,
    rows: Vec<Value>,
) -> Json<Value> {
    let rows = select_row_fields(query, None, rows);
    let total = u64::try_from(total).unwrap_or(u64::MAX);
    Json(paginated(&parts.uri, &parts.headers, page, total, rows))
}

/// Field-by-field validation of a JSON body, collecting every problem as DRF does.
#[derive(Debug, Default)]
pub(crate) struct Checks {
    errors: Vec<(String, String)>,
}

impl Checks {
    /// Records a problem with `field`.
    pub(crate) fn push(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push((field.to_owned(), message.into()));
    }

    /// A required, non-blank string (trimmed).
    pub(crate) fn required_text(&mut self, body: &Value, field: &str) -> Option<String> {
        required_str(body, field, &mut self.errors).map(|s| s.trim().to_owned())
    }

    /// An optional string: `None` when absent; blank is allowed.
    pub(crate) fn optional_text(&mut self, body: &Value, field: &str) -> Option<String> {
        match body.get(field)? {
            Value::String(s) => Some(s.trim().to_owned()),
            Value::Null => {
                self.push(field, "This field may not be null.");
                None
            }
            _ => {
                self.push(field, "Not a valid string.");
                None
            }
        }
    }

    /// A required string when `required`, else an optional one.
    pub(crate) fn text(&mut self, body: &Value, field: &str, required: bool) -> Option<String> {
        if required {
            self.required_text(body, field)
        } else {
            match self.optional_text(body, field) {
                Some(text) if text.is_empty() => {
                    self.push(field, "This field may not be blank.");
                    None
                }
                other => other,
            }
        }
    }

    /// An optional boolean (`true`/`false`, or the strings and numbers DRF accepts).
    pub(crate) fn optional_bool(&mut self, body: &Value, field: &str) -> Option<bool> {
        let value = body.get(field)?;
        let parsed = match value {
            Value::Bool(b) => Some(*b),
            Value::String(s) => parse_bool_text(s),
            Value::Number(n) => match n.as_u64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            self.push(field, "Must be a valid boolean.");
        }
        parsed
    }

    /// An optional list of ids given as UUID strings, `{"id": …}` or `{"pk": …}` objects.
    pub(crate) fn optional_ids(&mut self, body: &Value, field: &str) -> Option<Vec<Uuid>> {
        let value = body.get(field)?;
        match id_list(value) {
            Ok(ids) => Some(ids),
            Err(message) => {
                self.push(field, message);
                None
            }
        }
    }

    /// One id given as a UUID string or an `{"id"}`/`{"pk"}` object; required.
    pub(crate) fn required_id(&mut self, body: &Value, field: &str) -> Option<Uuid> {
        match body.get(field) {
            None | Some(Value::Null) => {
                self.push(field, "This field is required.");
                None
            }
            Some(value) => match id_list(&Value::Array(vec![value.clone()])) {
                Ok(ids) => ids.into_iter().next(),
                Err(message) => {
                    self.push(field, message);
                    None
                }
            },
        }
    }

    /// Answers every collected problem at once, if any.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Fields(self.errors))
        }
    }
}

/// Parses a list of ids; besides what [`parse_id_list`] takes, `{"pk": …}` objects, which
/// JumpServer's own forms send.
pub(crate) fn id_list(value: &Value) -> Result<Vec<Uuid>, String> {
    let Value::Array(items) = value else {
        return parse_id_list(value);
    };
    let normalised: Vec<Value> = items
        .iter()
        .map(|item| match item {
            Value::Object(object) if !object.contains_key("id") => object
                .get("pk")
                .map_or_else(|| item.clone(), |pk| serde_json::json!({"id": pk})),
            other => other.clone(),
        })
        .collect();
    parse_id_list(&Value::Array(normalised))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn id_lists_accept_pk_objects_and_refuse_other_shapes() {
        let id = "8e5b1c4e-2f0a-4c7e-9d59-0a3c4b1f6d11";
        assert_eq!(id_list(&json!([{"pk": id}, id])).unwrap().len(), 2);
        assert!(id_list(&json!([{"pk": 3}])).is_err());
        assert!(id_list(&json!("x")).is_err());
    }

    #[test]
    fn checks_collect_every_problem_in_drf_words() {
        let body = json!({"name": "", "flag": "maybe", "ids": [1], "note": null});
        let mut checks = Checks::default();
        assert_eq!(checks.required_text(&body, "name"), None);
        assert_eq!(checks.required_text(&body, "missing"), None);
        assert_eq!(checks.optional_bool(&body, "flag"), None);
        assert_eq!(checks.optional_ids(&body, "ids"), None);
        assert_eq!(checks.optional_text(&body, "note"), None);
        let Err(ApiError::Fields(errors)) = checks.finish() else {
            panic!("expected field errors");
        };
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["name", "missing", "flag", "ids", "note"]);
    }

    #[test]
    fn booleans_read_like_drf() {
        let mut checks = Checks::default();
        assert_eq!(checks.optional_bool(&json!({"a": "True"}), "a"), Some(true));
        assert_eq!(checks.optional_bool(&json!({"a": 0}), "a"), Some(false));
        assert_eq!(checks.optional_bool(&json!({}), "a"), None);
        assert!(checks.finish().is_ok());
    }
}
