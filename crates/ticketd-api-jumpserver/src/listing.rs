//! List plumbing: query-string parsing and DRF's limit/offset pagination (§6.1).

use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri};
use serde::Serialize;
use serde_json::Value;

/// Without `limit`, lists are plain arrays truncated to this many items.
pub(crate) const DEFAULT_PAGE_SIZE: u32 = 200;

/// The decoded query string, in order; repeated keys are kept.
#[derive(Clone, Debug, Default)]
pub(crate) struct Query(pub(crate) Vec<(String, String)>);

impl Query {
    /// Parses a raw query string.
    pub(crate) fn parse(raw: Option<&str>) -> Query {
        Query(ticketd_http::query::pairs(raw).collect())
    }

    /// The value of `key`: its last, as Django's `QueryDict` answers a repeated one
    /// (`?limit=2&limit=3` is a limit of 3; the first was taken until 2026-12-07).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key` ([`Query::get`]) trimmed, if not empty.
    pub(crate) fn text(&self, key: &str) -> Option<String> {
        self.get(key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// Whether `fields`, `fields!` or `fields_size` asks to trim the rendered objects.
    pub(crate) fn selects_fields(&self) -> bool {
        self.get("fields").is_some()
            || self.get("fields!").is_some()
            || matches!(self.get("fields_size"), Some("mini" | "small"))
    }

    /// The comma-separated parts of `key`'s value ([`Query::get`], its last), empty parts
    /// dropped: DRF's ordering filter reads one value so.
    pub(crate) fn parts(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|value| {
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Comma-separated values of `key` (empty parts dropped).
    pub(crate) fn list(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            })
            .collect()
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Query {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Query::parse(parts.uri.query()))
    }
}

/// The page a list request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Page {
    /// `Some` when a valid positive `limit` was given (capped at the configured maximum).
    pub(crate) limit: Option<u32>,
    /// Rows to skip (only with `limit`).
    pub(crate) offset: u64,
}

impl Page {
    /// Reads `limit`/`offset` as DRF does: an invalid or non-positive `limit` means "no limit";
    /// an invalid or negative `offset` means 0.
    pub(crate) fn from_query(query: &Query, max: u32) -> Page {
        let limit = query
            .get("limit")
            .and_then(non_negative_int)
            .filter(|n| *n > 0);
        match limit {
            Some(n) => Page {
                limit: Some(u32::try_from(n).unwrap_or(u32::MAX).min(max)),
                offset: query.get("offset").and_then(non_negative_int).unwrap_or(0),
            },
            None => Page {
                limit: None,
                offset: 0,
            },
        }
    }

    /// The number of rows to fetch.
    pub(crate) fn fetch(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_PAGE_SIZE)
    }
}

/// A whole number as Python's `int()` reads one for DRF's `_positive_int`: surrounding
/// whitespace and a sign allowed; `None` when it is not a number or is negative. Python's
/// numbers have no limit, so one past `u64` is as large as `u64` goes: `limit` is then capped
/// like any large one, and `offset` is past every list.
fn non_negative_int(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix('-') {
        // `-0` is 0; a second sign is no number.
        Some(digits) if !digits.starts_with('+') => {
            ticketd_http::query::saturating_unsigned(digits).filter(|value| *value == 0)
        }
        Some(_) => None,
        None => ticketd_http::query::saturating_unsigned(text),
    }
}

/// The request URL with `limit`/`offset` replaced, as DRF builds `next`/`previous`.
fn page_url(uri: &Uri, headers: &HeaderMap, limit: u32, offset: Option<u64>) -> String {
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("http");
    let mut pairs: Vec<String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let key = p.split('=').next().unwrap_or("");
            key != "limit" && key != "offset"
        })
        .map(str::to_owned)
        .collect();
    pairs.insert(0, format!("limit={limit}"));
    if let Some(offset) = offset {
        pairs.insert(1, format!("offset={offset}"));
    }
    format!("{scheme}://{host}{}?{}", uri.path(), pairs.join("&"))
}

/// The list answer: `{count,next,previous,results}` with `limit`, else a plain array.
pub(crate) fn paginated(
    uri: &Uri,
    headers: &HeaderMap,
    page: Page,
    total: u64,
    results: Vec<Value>,
) -> Value {
    serde_json::to_value(page_body(uri, headers, page, total, results)).unwrap_or(Value::Null)
}

/// [`paginated`] for rows of any serializable type, serialized straight to the response body.
pub(crate) fn page_body<T: Serialize>(
    uri: &Uri,
    headers: &HeaderMap,
    page: Page,
    total: u64,
    results: Vec<T>,
) -> PageBody<T> {
    let Some(limit) = page.limit else {
        return PageBody::Bare(results);
    };
    // Saturating: `offset` is the client's, up to `u64::MAX`.
    let after = page.offset.saturating_add(u64::from(limit));
    let next = (after < total).then(|| page_url(uri, headers, limit, Some(after)));
    let previous = (page.offset > 0).then(|| {
        let previous = page.offset.saturating_sub(u64::from(limit));
        page_url(uri, headers, limit, (previous > 0).then_some(previous))
    });
    PageBody::Envelope {
        count: total,
        next,
        previous,
        results,
    }
}

/// A list answer (see [`paginated`]).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum PageBody<T> {
    /// Without `limit`: the rows alone.
    Bare(Vec<T>),
    /// With `limit`: DRF's envelope.
    Envelope {
        count: u64,
        next: Option<String>,
        previous: Option<String>,
        results: Vec<T>,
    },
}

/// A serializer's `Meta.fields_mini` and `fields_small`, which `?fields_size=mini|small` keeps.
pub(crate) struct FieldSizes {
    pub(crate) mini: &'static [&'static str],
    pub(crate) small: &'static [&'static str],
}

/// The ticket serializers' sizes (§4.3).
pub(crate) const TICKET_FIELD_SIZES: FieldSizes = FieldSizes {
    mini: &["id", "title"],
    small: &["id", "title", "org_id", "flow", "comment"],
};

/// Applies `?fields=a,b` / `?fields!=a,b` and, for a serializer with `sizes`,
/// `?fields_size=mini|small` to a rendered object, or to each object of an array.
pub(crate) fn select_fields(query: &Query, sizes: Option<&FieldSizes>, mut value: Value) -> Value {
    let keep = query.list("fields");
    let drop = query.list("fields!");
    let sized = sizes.and_then(|sizes| match query.get("fields_size") {
        Some("mini") => Some(sizes.mini),
        Some("small") => Some(sizes.small),
        _ => None,
    });
    if keep.is_empty() && drop.is_empty() && sized.is_none() {
        return value;
    }
    let trim = |object: &mut serde_json::Map<String, Value>| {
        object.retain(|k, _| {
            (keep.is_empty() || keep.contains(k))
                && !drop.contains(k)
                && sized.is_none_or(|fields| fields.contains(&k.as_str()))
        });
    };
    match &mut value {
        Value::Object(object) => trim(object),
        Value::Array(items) => items
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .for_each(trim),
        _ => {}
    }
    value
}

/// [`select_fields`] for the rows of a page (never its envelope: `count`, `next`, `results`).
pub(crate) fn select_row_fields(
    query: &Query,
    sizes: Option<&FieldSizes>,
    rows: Vec<Value>,
) -> Vec<Value> {
    match select_fields(query, sizes, Value::Array(rows)) {
        Value::Array(rows) => rows,
        other => vec![other],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parts(uri: &str) -> Parts {
        let (parts, ()) = axum::http::Request::builder()
            .uri(uri)
            .header("host", "jms.example.com")
            .body(())
            .unwrap()
            .into_parts();
        parts
    }

    #[test]
    fn a_repeated_parameter_is_its_last_value_as_django_reads_it() {
        let q = Query::parse(Some("state=pending&limit=2&state=approved&limit=3&state="));
        assert_eq!(q.get("state"), Some(""));
        assert_eq!(q.text("state"), None);
        assert_eq!(Page::from_query(&q, 1000).limit, Some(3));
        assert_eq!(q.text("limit").as_deref(), Some("3"));
        assert_eq!(q.list("state"), vec!["pending", "approved"]);
        let q = Query::parse(Some("order=title,-type&order=-serial_num, ,state"));
        assert_eq!(q.parts("order"), vec!["-serial_num", "state"]);
    }

    #[test]
    fn limit_offset_follow_drf() {
        let q = Query::parse(Some("limit=2&offset=0&state=pending"));
        let page = Page::from_query(&q, 1000);
        assert_eq!(
            page,
            Page {
                limit: Some(2),
                offset: 0
            }
        );
        let p = parts("/api/v1/tickets/tickets/?limit=2&offset=0&state=pending");
        let v = paginated(&p.uri, &p.headers, page, 5, vec![json!(1), json!(2)]);
        assert_eq!(
            v["next"],
            "http://jms.example.com/api/v1/tickets/tickets/?limit=2&offset=2&state=pending"
        );
        assert_eq!(v["previous"], Value::Null);
        let p = parts("/x/?limit=2&offset=2");
        let v = paginated(
            &p.uri,
            &p.headers,
            Page {
                limit: Some(2),
                offset: 2,
            },
            5,
            vec![],
        );
        assert_eq!(v["previous"], "http://jms.example.com/x/?limit=2");
        // The largest offset a client can send: no page after it (the sum overflowed, a panic
        // in a debug build and a `next` link back to offset 1 in a release build).
        let last = Page {
            limit: Some(2),
            offset: u64::MAX,
        };
        let v = paginated(&p.uri, &p.headers, last, 5, vec![]);
        assert_eq!(v["next"], Value::Null);
        assert_eq!(
            v["previous"],
            format!("http://jms.example.com/x/?limit=2&offset={}", u64::MAX - 2)
        );
        assert_eq!(
            Page::from_query(&Query::parse(Some("limit=abc")), 1000).limit,
            None
        );
        assert_eq!(
            Page::from_query(&Query::parse(Some("limit=-5")), 1000).limit,
            None
        );
        assert_eq!(
            Page::from_query(&Query::parse(Some("limit=99999")), 1000).limit,
            Some(1000)
        );
        assert_eq!(
            Page::from_query(&Query::parse(Some("limit=5&offset=-1")), 1000).offset,
            0
        );
        // Past u64, as Python reads them: the largest limit is capped, the largest offset kept
        // (a plain array and offset 0 before).
        assert_eq!(
            Page::from_query(
                &Query::parse(Some(
                    "limit=99999999999999999999&offset=99999999999999999999"
                )),
                1000
            ),
            Page {
                limit: Some(1000),
                offset: u64::MAX
            }
        );
        assert_eq!(
            Page::from_query(&Query::parse(Some("limit=%2B7&offset=%203%20")), 1000),
            Page {
                limit: Some(7),
                offset: 3
            }
        );
        for invalid in [
            "limit=1e3",
            "limit=-0",
            "limit=0",
            "limit=",
            "limit=+",
            "limit=1.5",
        ] {
            assert_eq!(
                Page::from_query(&Query::parse(Some(invalid)), 1000).limit,
                None,
                "{invalid}"
            );
        }
        assert!(
            paginated(
                &p.uri,
                &p.headers,
                Page {
                    limit: None,
                    offset: 0
                },
                9,
                vec![json!(1)]
            )
            .is_array()
        );
    }

    #[test]
    fn fields_selection_keeps_or_drops() {
        let q = Query::parse(Some("fields=id,title"));
        assert_eq!(
            select_fields(&q, None, json!({"id":1,"title":"t","x":2})),
            json!({"id":1,"title":"t"})
        );
        let q = Query::parse(Some("fields!=x"));
        assert_eq!(
            select_fields(&q, None, json!([{"id":1,"x":2}])),
            json!([{"id":1}])
        );
    }
}
