//! ZStack's query language: `q` conditions, `limit`/`start`, `count`, `replyWithCount`, `sort` and
//! `fields`, parsed from a query string or a query message and evaluated over inventories.

use crate::error::{SYS_INVALID_ARGUMENT, ZsError};
use crate::wire::{date_from_millis, hex, parse_date_millis, parse_uuid};
use axum::http::StatusCode;
use chrono_tz::Tz;
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// ZStack's default page size of a query (`APIQueryMessage.limit`).
const DEFAULT_LIMIT: i64 = 1000;

/// Inventory fields that hold dates (kept as epoch milliseconds until rendered).
const DATE_FIELDS: [&str; 3] = ["createDate", "lastOpDate", "expiredDate"];

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// `=`
    Eq,
    /// `!=`
    NotEq,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `?=`: one of a comma-separated list.
    In,
    /// `!?=`: none of a comma-separated list.
    NotIn,
    /// `~=`: SQL `LIKE` with `%` and `_`.
    Like,
    /// `!~=`
    NotLike,
    /// `is null`
    IsNull,
    /// `not null`
    NotNull,
}

/// The REST operators in the order `RestServer` tries them: an operator contained in another
/// (`=` in `!=`) comes after it, and the first one found in the condition splits it.
const REST_OPS: [(&str, Op); 12] = [
    ("!=", Op::NotEq),
    (">=", Op::Ge),
    ("<=", Op::Le),
    ("!?=", Op::NotIn),
    ("!~=", Op::NotLike),
    ("~=", Op::Like),
    ("?=", Op::In),
    ("=", Op::Eq),
    (">", Op::Gt),
    ("<", Op::Lt),
    ("is null", Op::IsNull),
    ("not null", Op::NotNull),
];

/// One condition of a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Condition {
    /// The field, possibly dotted into nested objects and lists (`flows.approverUuid`).
    pub(crate) name: String,
    /// The operator.
    pub(crate) op: Op,
    /// The operand as text (unused by the null tests).
    pub(crate) value: String,
}

/// A parsed query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct QuerySpec {
    /// Conditions, all of which must hold.
    pub(crate) conditions: Vec<Condition>,
    /// Page size.
    pub(crate) limit: Option<i64>,
    /// Rows to skip.
    pub(crate) start: Option<i64>,
    /// Answer only the number of matches.
    pub(crate) count: bool,
    /// Answer the number of matches with the page.
    pub(crate) reply_with_count: bool,
    /// Sort field and whether descending.
    pub(crate) sort: Option<(String, bool)>,
    /// Fields to keep in each inventory.
    pub(crate) fields: Option<Vec<String>>,
}

fn bad_query(details: impl Into<String>) -> ZsError {
    ZsError::rest(StatusCode::BAD_REQUEST, SYS_INVALID_ARGUMENT, details)
}

/// `Boolean.valueOf`: only `true` (any case) is true.
fn java_bool(text: &str) -> bool {
    text.trim().eq_ignore_ascii_case("true")
}

/// Parses one REST condition the way `RestServer` does.
fn rest_condition(cond: &str) -> Result<Condition, ZsError> {
    let Some((delimiter, op)) = REST_OPS.iter().find(|(d, _)| cond.contains(d)) else {
        let ops: Vec<&str> = REST_OPS.iter().map(|(d, _)| *d).collect();
        return Err(bad_query(format!(
            "Invalid query parameter. The '{cond}' in the parameter[q] doesn't contain any query operator. Valid query operators are [{}]",
            ops.join(", ")
        )));
    };
    let (name, value) = cond.split_once(delimiter).unwrap_or((cond, ""));
    if matches!(op, Op::IsNull | Op::NotNull) {
        return Ok(Condition {
            name: name.trim().to_owned(),
            op: *op,
            value: String::new(),
        });
    }
    Ok(Condition {
        name: name.trim().to_owned(),
        op: *op,
        // Not trimmed: a space is a valid part of some values.
        value: value.to_owned(),
    })
}

fn message_op(text: &str) -> Option<Op> {
    let text = text.trim().to_ascii_lowercase();
    let op = match text.as_str() {
        "=" => Op::Eq,
        "!=" => Op::NotEq,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "<" => Op::Lt,
        "<=" => Op::Le,
        "in" | "?=" => Op::In,
        "not in" | "!?=" => Op::NotIn,
        "like" | "~=" => Op::Like,
        "not like" | "!~=" => Op::NotLike,
        "is null" => Op::IsNull,
        "is not null" | "not null" => Op::NotNull,
        _ => return None,
    };
    Some(op)
}

fn value_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn message_int(map: &Map<String, Value>, name: &str) -> Result<Option<i64>, ZsError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| ZsError::argerr(format!("'{name}' must be an integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|parse| ZsError::argerr(format!("'{name}' must be an integer: {parse}"))),
        Some(_) => Err(ZsError::argerr(format!("'{name}' must be an integer"))),
    }
}

fn message_bool(map: &Map<String, Value>, name: &str) -> bool {
    match map.get(name) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => java_bool(s),
        _ => false,
    }
}

fn field_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect()
}

impl QuerySpec {
    /// Parses a REST query string; malformed parameters are 400s, as `RestServer` answers.
    pub(crate) fn from_query_string(raw: Option<&str>) -> Result<Self, ZsError> {
        let mut spec = Self::default();
        let mut seen: Vec<String> = Vec::new();
        for (key, value) in ticketd_http::query::pairs(raw) {
            let key = key.trim().to_owned();
            if key == "q" {
                spec.conditions.push(rest_condition(&value)?);
                continue;
            }
            // Like a servlet's parameter map, only the first value of other keys counts.
            if seen.contains(&key) {
                continue;
            }
            seen.push(key.clone());
            let value = value.trim();
            match key.as_str() {
                "limit" => {
                    spec.limit = Some(value.parse::<i64>().map_err(|parse| {
                        bad_query(format!(
                            "Invalid query parameter. 'limit' must be an integer ({parse})"
                        ))
                    })?);
                }
                "start" => {
                    spec.start = Some(value.parse::<i64>().map_err(|parse| {
                        bad_query(format!(
                            "Invalid query parameter. 'start' must be an integer ({parse})"
                        ))
                    })?);
                }
                "count" => spec.count = java_bool(value),
                "replyWithCount" => spec.reply_with_count = java_bool(value),
                "sort" => {
                    let (field, descending) = if let Some(rest) = value.strip_prefix('-') {
                        (rest, true)
                    } else {
                        (value.strip_prefix('+').unwrap_or(value), false)
                    };
                    spec.sort = Some((field.trim().to_owned(), descending));
                }
                "fields" => {
                    let fields = field_list(value);
                    if fields.is_empty() {
                        return Err(bad_query(
                            "Invalid query parameter. 'fields' contains zero field",
                        ));
                    }
                    spec.fields = Some(fields);
                }
                // `groupBy`, `filterName` and unknown parameters change nothing here.
                _ => {}
            }
        }
        Ok(spec)
    }

    /// `GET …/{uuid}`: the resource itself, whatever else the query string says.
    pub(crate) fn by_uuid(uuid: &str) -> Self {
        Self {
            conditions: vec![Condition {
                name: "uuid".into(),
                op: Op::Eq,
                value: uuid.to_owned(),
            }],
            ..Self::default()
        }
    }

    /// Parses the query fields of a query message (`conditions`, `limit`, `start`, `count`,
    /// `replyWithCount`, `sortBy`, `sortDirection`, `fields`).
    pub(crate) fn from_message(map: &Map<String, Value>) -> Result<Self, ZsError> {
        let mut spec = Self::default();
        match map.get("conditions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(conditions)) => {
                for condition in conditions {
                    let name = condition.get("name").and_then(Value::as_str);
                    let op = condition.get("op").and_then(Value::as_str);
                    let (Some(name), Some(op_text)) = (name, op) else {
                        return Err(ZsError::argerr(format!(
                            "invalid query condition {condition}: it needs a name and an op"
                        )));
                    };
                    let op = message_op(op_text).ok_or_else(|| {
                        ZsError::argerr(format!("invalid query operator[{op_text}]"))
                    })?;
                    let value = condition.get("value").filter(|v| !v.is_null());
                    // Compared with nothing, a condition matched nothing, silently.
                    if value.is_none() && !matches!(op, Op::IsNull | Op::NotNull) {
                        return Err(ZsError::argerr(format!(
                            "invalid query condition {condition}: the operator[{op_text}] needs a value"
                        )));
                    }
                    spec.conditions.push(Condition {
                        name: name.trim().to_owned(),
                        op,
                        value: value.map(value_text).unwrap_or_default(),
                    });
                }
            }
            Some(_) => return Err(ZsError::argerr("'conditions' must be a list")),
        }
        spec.limit = message_int(map, "limit")?;
        spec.start = message_int(map, "start")?;
        spec.count = message_bool(map, "count");
        spec.reply_with_count = message_bool(map, "replyWithCount");
        if let Some(field) = map.get("sortBy").and_then(Value::as_str) {
            let descending = map
                .get("sortDirection")
                .and_then(Value::as_str)
                .is_some_and(|d| d.eq_ignore_ascii_case("desc"));
            spec.sort = Some((field.trim().to_owned(), descending));
        }
        spec.fields = match map.get("fields") {
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .flat_map(field_list)
                    .collect(),
            ),
            Some(Value::String(text)) => Some(field_list(text)),
            _ => None,
        }
        .filter(|fields: &Vec<String>| !fields.is_empty());
        Ok(spec)
    }

    /// The values `field` must take for a row to match, from the first `=` or `?=` condition
    /// on it (ids in 32-hex form), so callers can narrow what they load; `None` when no such
    /// condition exists. Every condition is still evaluated on what is loaded.
    pub(crate) fn required_values(&self, field: &str) -> Option<Vec<String>> {
        self.conditions
            .iter()
            .find(|c| c.name == field && matches!(c.op, Op::Eq | Op::In))
            .map(|c| {
                let values: Vec<&str> = if c.op == Op::In {
                    c.value.split(',').collect()
                } else {
                    vec![c.value.as_str()]
                };
                values.into_iter().map(|v| normalize_id(field, v)).collect()
            })
    }
}

/// Ids in a condition on an id field may be hyphenated: compare them in 32-hex form.
fn normalize_id(field: &str, value: &str) -> String {
    let last = field
        .rsplit('.')
        .next()
        .unwrap_or(field)
        .to_ascii_lowercase();
    if (last.ends_with("uuid") || last.ends_with("uuids"))
        && let Some(id) = parse_uuid(value)
    {
        return hex(id);
    }
    value.to_owned()
}

/// What a query runs over: the inventory's name and its queryable top-level fields.
#[derive(Debug)]
pub(crate) struct Inventory {
    /// The inventory class, for error messages.
    pub(crate) name: &'static str,
    /// Its fields.
    pub(crate) fields: &'static [&'static str],
    /// Fields holding lists of nested inventories whose dates are rendered too.
    pub(crate) nested: &'static [&'static str],
}

/// Collects the values at `path`, walking into every element of the lists met on the way.
fn leaves<'v>(value: &'v Value, path: &[&str], out: &mut Vec<&'v Value>) {
    match value {
        Value::Array(items) => {
            for item in items {
                leaves(item, path, out);
            }
        }
        Value::Object(map) => match path.split_first() {
            Some((first, rest)) => {
                if let Some(next) = map.get(*first) {
                    leaves(next, rest, out);
                }
            }
            None => out.push(value),
        },
        _ if path.is_empty() => out.push(value),
        _ => {}
    }
}

fn compare(leaf: &Value, operand: &str, date: bool, zone: Tz) -> Option<Ordering> {
    match leaf {
        // Dates compare at whole seconds, as they are shown (and as ZStack stores them): the
        // `createDate` an answer showed equals the stored one it was rendered from.
        Value::Number(n) if date => {
            let target = parse_date_millis(operand, zone)?;
            Some(n.as_i64()?.div_euclid(1000).cmp(&target.div_euclid(1000)))
        }
        Value::Number(n) => n
            .as_f64()?
            .partial_cmp(&operand.trim().parse::<f64>().ok()?),
        Value::String(s) => Some(s.as_str().cmp(operand)),
        Value::Bool(b) => {
            let target = match operand.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => return None,
            };
            Some(b.cmp(&target))
        }
        _ => None,
    }
}

fn leaf_text(leaf: &Value) -> String {
    match leaf {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// SQL `LIKE` (`%` any run, `_` one character), case-insensitive as on ZStack's MySQL.
fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.to_lowercase().chars().collect();
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    let (mut t, mut p) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while let Some(&c) = text.get(t) {
        match pattern.get(p) {
            Some('%') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(&want) if want == '_' || want == c => {
                t += 1;
                p += 1;
            }
            _ => match backtrack {
                Some((star, mark)) => {
                    p = star + 1;
                    t = mark + 1;
                    backtrack = Some((star, mark + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '%'))
}

fn holds(condition: &Condition, row: &Value, zone: Tz) -> bool {
    let path: Vec<&str> = condition.name.split('.').collect();
    let mut found = Vec::new();
    leaves(row, &path, &mut found);
    let present: Vec<&Value> = found.into_iter().filter(|v| !v.is_null()).collect();
    let date = path.last().is_some_and(|last| DATE_FIELDS.contains(last));
    let operand = normalize_id(&condition.name, &condition.value);
    let any = |pred: &dyn Fn(&Value) -> bool| present.iter().any(|v| pred(v));
    let ordered = |wanted: &[Ordering]| {
        any(&|v| compare(v, &operand, date, zone).is_some_and(|o| wanted.contains(&o)))
    };
    let one_of = || {
        let options: Vec<String> = condition
            .value
            .split(',')
            .map(|v| normalize_id(&condition.name, v))
            .collect();
        any(&|v| {
            options
                .iter()
                .any(|o| compare(v, o, date, zone) == Some(Ordering::Equal))
        })
    };
    let matches_like = || any(&|v| like(&leaf_text(v), &condition.value));
    match condition.op {
        Op::IsNull => present.is_empty(),
        Op::NotNull => !present.is_empty(),
        Op::Eq => ordered(&[Ordering::Equal]),
        Op::NotEq => !present.is_empty() && !ordered(&[Ordering::Equal]),
        Op::Gt => ordered(&[Ordering::Greater]),
        Op::Ge => ordered(&[Ordering::Greater, Ordering::Equal]),
        Op::Lt => ordered(&[Ordering::Less]),
        Op::Le => ordered(&[Ordering::Less, Ordering::Equal]),
        Op::In => one_of(),
        Op::NotIn => !present.is_empty() && !one_of(),
        Op::Like => matches_like(),
        Op::NotLike => !present.is_empty() && !matches_like(),
    }
}

fn rank(value: Option<&Value>) -> u8 {
    match value {
        None | Some(Value::Null) => 0,
        Some(Value::Bool(_)) => 1,
        Some(Value::Number(_)) => 2,
        Some(Value::String(_)) => 3,
        Some(_) => 4,
    }
}

fn order(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn unknown_field(inventory: &Inventory, field: &str) -> ZsError {
    ZsError::argerr(format!(
        "the field[{field}] is not a queryable field of {}, valid fields are [{}]",
        inventory.name,
        inventory.fields.join(", ")
    ))
}

/// A date field compared with something that is no date would match nothing (or, negated,
/// everything), silently. A list (`?=`, `!?=`) is split at commas, so each of its dates is
/// given in a form without one (`2026-12-07 10:00:00`, epoch milliseconds).
fn check_date_operand(condition: &Condition, zone: Tz) -> Result<(), ZsError> {
    let field = condition.name.rsplit('.').next().unwrap_or(&condition.name);
    if !DATE_FIELDS.contains(&field) {
        return Ok(());
    }
    let operands: Vec<&str> = match condition.op {
        Op::Eq | Op::NotEq | Op::Gt | Op::Ge | Op::Lt | Op::Le => vec![condition.value.as_str()],
        Op::In | Op::NotIn => condition.value.split(',').collect(),
        _ => Vec::new(),
    };
    match operands
        .into_iter()
        .find(|operand| parse_date_millis(operand, zone).is_none())
    {
        Some(bad) => Err(ZsError::argerr(format!(
            "invalid value[{bad}] of the field[{}]: not a date",
            condition.name
        ))),
        None => Ok(()),
    }
}

fn check_field(inventory: &Inventory, field: &str) -> Result<(), ZsError> {
    let top = field.split('.').next().unwrap_or(field);
    if inventory.fields.contains(&top) {
        Ok(())
    } else {
        Err(unknown_field(inventory, field))
    }
}

/// Like [`check_field`], for what names an inventory's own field only (`fields`, `sort`):
/// a nested one (`accountSystemContext.projectUuid`) was accepted and then selected, or sorted
/// by, nothing.
fn check_own_field(inventory: &Inventory, field: &str) -> Result<(), ZsError> {
    if field.contains('.') {
        return Err(unknown_field(inventory, field));
    }
    check_field(inventory, field)
}

/// Renders the dates of one inventory (and of the nested inventories it lists).
pub(crate) fn render_dates(row: &mut Map<String, Value>, nested: &[&str], zone: Tz) {
    for field in DATE_FIELDS {
        if let Some(value) = row.get_mut(field)
            && let Some(millis) = value.as_i64()
        {
            *value = date_from_millis(millis, zone).map_or(Value::Null, Value::String);
        }
    }
    for field in nested {
        if let Some(Value::Array(items)) = row.get_mut(*field) {
            for item in items {
                if let Value::Object(inner) = item {
                    render_dates(inner, &[], zone);
                }
            }
        }
    }
}

/// Answers a query over `rows` (inventories with dates as epoch milliseconds): filters, counts,
/// sorts, pages, selects fields and renders dates.
pub(crate) fn answer(
    spec: &QuerySpec,
    inventory: &Inventory,
    rows: Vec<Map<String, Value>>,
    zone: Tz,
    max_limit: u32,
) -> Result<Map<String, Value>, ZsError> {
    for condition in &spec.conditions {
        check_field(inventory, &condition.name)?;
        check_date_operand(condition, zone)?;
    }
    if let Some((field, _)) = &spec.sort {
        check_own_field(inventory, field)?;
    }
    if let Some(fields) = &spec.fields {
        for field in fields {
            check_own_field(inventory, field)?;
        }
    }
    let start = spec.start.unwrap_or(0);
    let limit = spec.limit.unwrap_or(DEFAULT_LIMIT);
    if start < 0 || limit < 0 {
        return Err(ZsError::argerr(format!(
            "invalid paging: start[{start}] and limit[{limit}] must not be negative"
        )));
    }
    let mut matched: Vec<Value> = rows
        .into_iter()
        .map(Value::Object)
        .filter(|row| spec.conditions.iter().all(|c| holds(c, row, zone)))
        .collect();
    let total = matched.len();
    let mut answer = Map::new();
    if spec.count {
        answer.insert("total".into(), Value::from(total));
        return Ok(answer);
    }
    if let Some((field, descending)) = &spec.sort {
        matched.sort_by(|a, b| {
            let ordering = order(a.get(field), b.get(field));
            if *descending {
                ordering.reverse()
            } else {
                ordering
            }
        });
    }
    let start = usize::try_from(start).unwrap_or(usize::MAX);
    let limit = usize::try_from(limit.min(i64::from(max_limit))).unwrap_or(0);
    let page: Vec<Value> = matched
        .into_iter()
        .skip(start)
        .take(limit)
        .map(|row| {
            let Value::Object(mut row) = row else {
                return row;
            };
            if let Some(fields) = &spec.fields {
                row.retain(|key, _| fields.iter().any(|f| f == key));
            }
            render_dates(&mut row, inventory.nested, zone);
            Value::Object(row)
        })
        .collect();
    answer.insert("inventories".into(), Value::Array(page));
    if spec.reply_with_count {
        answer.insert("total".into(), Value::from(total));
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const THINGS: Inventory = Inventory {
        name: "ThingInventory",
        fields: &["uuid", "name", "size", "createDate", "tags", "owner"],
        nested: &[],
    };

    fn rows() -> Vec<Map<String, Value>> {
        let make = |v: Value| match v {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        vec![
            make(
                json!({"uuid": "a1", "name": "Alpha", "size": 3, "createDate": 1000, "tags": ["x", "y"], "owner": {"id": "u1"}}),
            ),
            make(
                json!({"uuid": "b2", "name": "beta vm", "size": 10, "createDate": 2000, "tags": [], "owner": null}),
            ),
            make(
                json!({"uuid": "c3", "name": "Gamma", "size": 7, "createDate": 3000, "tags": ["y"], "owner": {"id": "u2"}}),
            ),
        ]
    }

    fn uuids(spec: &QuerySpec) -> Vec<String> {
        let answer = answer(spec, &THINGS, rows(), chrono_tz::UTC, 1000).unwrap();
        answer["inventories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["uuid"].as_str().unwrap().to_owned())
            .collect()
    }

    fn q(raw: &str) -> QuerySpec {
        QuerySpec::from_query_string(Some(raw)).unwrap()
    }

    #[test]
    fn every_rest_operator_filters_as_documented() {
        assert_eq!(uuids(&q("q=name=Alpha")), ["a1"]);
        assert_eq!(uuids(&q("q=name!=Alpha")), ["b2", "c3"]);
        assert_eq!(uuids(&q("q=size>3")), ["b2", "c3"]);
        assert_eq!(uuids(&q("q=size>=7")), ["b2", "c3"]);
        assert_eq!(uuids(&q("q=size<7")), ["a1"]);
        assert_eq!(uuids(&q("q=size<=7")), ["a1", "c3"]);
        assert_eq!(uuids(&q("q=uuid?=a1,c3")), ["a1", "c3"]);
        assert_eq!(uuids(&q("q=uuid!?=a1,c3")), ["b2"]);
        assert_eq!(uuids(&q("q=name~=%25VM%25")), ["b2"]);
        assert_eq!(uuids(&q("q=name!~=%25a")), ["b2"]);
        assert_eq!(uuids(&q("q=owner is null")), ["b2"]);
        assert_eq!(uuids(&q("q=owner not null")), ["a1", "c3"]);
        assert_eq!(uuids(&q("q=owner.id=u2")), ["c3"]);
        assert_eq!(uuids(&q("q=tags=y")), ["a1", "c3"]);
        assert_eq!(uuids(&q("q=createDate>1970-01-01 00:00:01")), ["b2", "c3"]);
        assert_eq!(uuids(&q("q=size>3&q=name~=g_mma")), ["c3"]);
    }

    #[test]
    fn dates_compare_at_the_seconds_they_show_and_a_value_that_is_no_date_is_refused() {
        let rows = vec![Map::from_iter([
            ("uuid".into(), json!("t")),
            ("createDate".into(), json!(1_500)),
        ])];
        let matched = |raw: &str| {
            let answer = answer(&q(raw), &THINGS, rows.clone(), chrono_tz::UTC, 1000).unwrap();
            answer["inventories"].as_array().unwrap().len()
        };
        // The ticket's own date, as an answer shows it (1.5 s shown as 00:00:01).
        let shown = "Jan%201%2C%201970%2012%3A00%3A01%20AM";
        assert_eq!(matched(&format!("q=createDate={shown}")), 1);
        assert_eq!(matched(&format!("q=createDate<={shown}")), 1);
        assert_eq!(matched(&format!("q=createDate>{shown}")), 0);
        assert_eq!(matched("q=createDate>=1970-01-01 00:00:02"), 0);
        assert_eq!(
            matched("q=createDate?=1970-01-01 00:00:01,1970-01-01 00:00:02"),
            1
        );
        assert_eq!(matched("q=createDate!?=1000,3000"), 0);
        for bad in ["?=abc", "!?=1000,abc"] {
            let refused = answer(
                &q(&format!("q=createDate{bad}")),
                &THINGS,
                rows.clone(),
                chrono_tz::UTC,
                1000,
            );
            assert!(refused.is_err(), "{bad}");
        }
        for bad in ["abc", "NaN", "2026-02-30", "Feb 30, 2026 1:00:00 AM"] {
            let refused = answer(
                &q(&format!("q=createDate>{bad}")),
                &THINGS,
                rows.clone(),
                chrono_tz::UTC,
                1000,
            );
            assert!(refused.is_err(), "{bad}");
        }
    }

    #[test]
    fn paging_counting_sorting_and_fields_shape_the_answer() {
        assert_eq!(uuids(&q("sort=-size")), ["b2", "c3", "a1"]);
        assert_eq!(uuids(&q("sort=%2Bname&limit=2")), ["a1", "c3"]);
        assert_eq!(uuids(&q("sort=size&start=1&limit=1")), ["c3"]);
        let counted = answer(
            &q("count=true&q=size>3"),
            &THINGS,
            rows(),
            chrono_tz::UTC,
            1000,
        )
        .unwrap();
        assert_eq!(Value::Object(counted), json!({"total": 2}));
        let with_count = answer(
            &q("replyWithCount=true&limit=1&fields=uuid,createDate"),
            &THINGS,
            rows(),
            chrono_tz::UTC,
            1000,
        )
        .unwrap();
        assert_eq!(
            Value::Object(with_count),
            json!({"inventories": [{"uuid": "a1", "createDate": "Jan 1, 1970 12:00:01 AM"}], "total": 3})
        );
    }

    #[test]
    fn malformed_queries_are_refused_with_zstack_messages() {
        let no_op = QuerySpec::from_query_string(Some("q=name")).unwrap_err();
        assert_eq!(no_op.status, StatusCode::BAD_REQUEST);
        assert!(no_op.details.contains("doesn't contain any query operator"));
        let limit = QuerySpec::from_query_string(Some("limit=ten")).unwrap_err();
        assert!(limit.details.contains("'limit' must be an integer"));
        let unknown =
            answer(&q("q=colour=red"), &THINGS, rows(), chrono_tz::UTC, 1000).unwrap_err();
        assert_eq!(unknown.code, SYS_INVALID_ARGUMENT);
        assert_eq!(unknown.status, StatusCode::SERVICE_UNAVAILABLE);
        let negative = answer(&q("start=-1"), &THINGS, rows(), chrono_tz::UTC, 1000).unwrap_err();
        assert_eq!(negative.code, SYS_INVALID_ARGUMENT);
        // `fields` and `sort` name an inventory's own fields: a nested one selected nothing.
        for query in [
            "fields=name,owner.uuid",
            "fields=owner.name",
            "sort=owner.name",
        ] {
            let nested = answer(&q(query), &THINGS, rows(), chrono_tz::UTC, 1000).unwrap_err();
            assert_eq!(nested.code, SYS_INVALID_ARGUMENT, "{query}");
            assert!(
                nested.details.contains("is not a queryable field"),
                "{query}"
            );
        }
        for condition in [
            json!({"name": "name", "op": "="}),
            json!({"name": "name", "op": "like", "value": null}),
        ] {
            let message = Map::from_iter([("conditions".to_owned(), json!([condition]))]);
            let refused = QuerySpec::from_message(&message).unwrap_err();
            assert_eq!(refused.code, SYS_INVALID_ARGUMENT, "{condition}");
        }
        let message = Map::from_iter([(
            "conditions".to_owned(),
            json!([{"name": "owner", "op": "is null"}]),
        )]);
        assert!(QuerySpec::from_message(&message).is_ok());
    }

    #[test]
    fn like_patterns_handle_wildcards_and_backtracking() {
        assert!(like("abcabd", "%abd"));
        assert!(like("ABC", "a_c"));
        assert!(like("", "%"));
        assert!(!like("abc", "a_"));
        assert!(like("a%c", "a%c"));
        assert!(!like("abc", ""));
    }

    #[test]
    fn query_messages_take_conditions_and_paging_fields() {
        let map = match json!({
            "conditions": [{"name": "size", "op": ">", "value": 3}, {"name": "uuid", "op": "in", "value": ["b2", "c3"]}],
            "limit": 1, "sortBy": "size", "sortDirection": "desc", "replyWithCount": true
        }) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let spec = QuerySpec::from_message(&map).unwrap();
        assert_eq!(uuids(&spec), ["b2"]);
        assert_eq!(
            spec.required_values("uuid"),
            Some(vec!["b2".into(), "c3".into()])
        );
    }
}
