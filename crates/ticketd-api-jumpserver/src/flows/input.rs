//! Flow request bodies: v4 `users` selectors and legacy `strategy` rules, with DRF-style errors.

use crate::choices::TICKET_TYPES;
pub(super) use crate::error::capitalize;
use crate::format::{expected_dict, json_type, parse_id_list};
use serde_json::{Map, Value};
use ticketd_core::UserId;
use ticketd_core::selector::{AttrRule, LegacyStrategy, MatchOp, Selector};

/// The `strategy` value rendered for selectors no legacy strategy describes; ignored on input
/// when `users` is given, so a client may send back what it read.
pub(super) const CUSTOM_STRATEGY: &str = "custom";

/// A rule giving both forms with different meanings.
const CONTRADICTION: &str =
    "The users selector and the legacy strategy describe different approvers; send one of them";

/// The most levels JumpServer allows (`TicketLevel`, §2.7).
const MAX_LEVEL: u64 = 5;

/// DRF's message for a missing field.
pub(super) const REQUIRED: &str = "This field is required.";

/// DRF-style errors of one object: field → list of messages, or a nested structure.
#[derive(Debug, Default)]
pub(super) struct Errors(Map<String, Value>);

impl Errors {
    /// Appends a message to `field`'s list.
    pub(super) fn add(&mut self, field: &str, message: impl Into<String>) {
        let entry = self
            .0
            .entry(field.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            list.push(Value::String(message.into()));
        }
    }

    /// Sets `field` to a nested error structure (per-rule dicts, for example).
    pub(super) fn set(&mut self, field: &str, value: Value) {
        self.0.insert(field.to_owned(), value);
    }

    pub(super) fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// What the caller of a parse needs present.
#[derive(Clone, Copy, Debug)]
pub(super) struct Need {
    /// `name` must be given (create, full update by id).
    pub(super) name: bool,
    /// `rules` must be given (create, full updates).
    pub(super) rules: bool,
}

/// The fields of a flow request; `None` means "not given".
#[derive(Clone, Debug, Default)]
pub(super) struct FlowBody {
    pub(super) name: Option<String>,
    /// `type`: read-only on update, chooses the flow when updating by type.
    pub(super) kind: Option<String>,
    pub(super) level: Option<usize>,
    pub(super) rules: Option<Vec<Selector>>,
    pub(super) cc_users: Option<Vec<UserId>>,
    /// Rules that gave both forms with different meanings, by position: `rules` holds the
    /// `users` form until [`FlowBody::settle_rules`] compares both with the stored levels.
    pub(super) contested: Vec<(usize, Selector)>,
}

impl FlowBody {
    /// Settles each contested rule against the flow's stored selectors: a rule read back and
    /// sent again carries the form the client changed and the one it left as read, so the one
    /// that differs from the stored level is meant; where both differ (or nothing is stored)
    /// nothing says which, and the rule is refused at its position.
    pub(super) fn settle_rules(&mut self, stored: &[Selector]) -> Result<(), Value> {
        let Some(rules) = self.rules.as_mut() else {
            return Ok(());
        };
        let mut per_rule: Vec<Value> = vec![Value::Object(Map::new()); rules.len()];
        let mut failed = false;
        for (position, legacy) in std::mem::take(&mut self.contested) {
            let Some(users) = rules.get_mut(position) else {
                continue;
            };
            let kept = stored.get(position).map(canonical);
            if kept.as_ref() == Some(&canonical(users)) {
                *users = legacy;
            } else if kept.as_ref() != Some(&canonical(&legacy)) {
                failed = true;
                let mut errors = Errors::default();
                errors.add("non_field_errors", CONTRADICTION);
                per_rule[position] = errors.into_value();
            }
        }
        if failed {
            Err(Value::Array(per_rule))
        } else {
            Ok(())
        }
    }
}

/// A choice given as `"x"` or `{"value": "x"}` (what JumpServer renders and accepts back).
fn choice_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Object(o) => o.get("value").and_then(choice_text),
        _ => None,
    }
}

fn invalid_choice(value: &Value) -> String {
    let shown = match value {
        Value::String(s) => s.clone(),
        Value::Object(o) => o.get("value").map_or_else(
            || value.to_string(),
            |v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        ),
        other => other.to_string(),
    };
    format!("\"{shown}\" is not a valid choice.")
}

/// Parses `type`: one of JumpServer's ticket types.
fn parse_kind(value: &Value) -> Result<String, String> {
    match choice_text(value) {
        Some(kind) if TICKET_TYPES.iter().any(|(v, _, _)| *v == kind) => Ok(kind),
        _ => Err(invalid_choice(value)),
    }
}

/// Parses `approval_level`: `n`, `"n"` or `{"value": n}` with n in 1..=5.
fn parse_level(value: &Value) -> Result<usize, String> {
    let number = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        Value::Object(o) => match o.get("value") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
            _ => None,
        },
        _ => None,
    };
    number
        .filter(|n| (1..=MAX_LEVEL).contains(n))
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| invalid_choice(value))
}

/// Parses `name`: a non-blank string of at most 128 characters, trimmed as DRF does.
fn parse_name(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) if s.trim().is_empty() => Err("This field may not be blank.".into()),
        Value::String(s) if s.trim().chars().count() > 128 => {
            Err("Ensure this field has no more than 128 characters.".into())
        }
        Value::String(s) => Ok(s.trim().to_owned()),
        _ => Err("Not a valid string.".into()),
    }
}

/// Parses a list of user ids, refusing users the caller does not know.
fn parse_users(value: &Value, known: &dyn Fn(UserId) -> bool) -> Result<Vec<UserId>, String> {
    let ids = parse_id_list(value)?;
    let mut users: Vec<UserId> = Vec::with_capacity(ids.len());
    for id in ids {
        let user = UserId(id);
        if !known(user) {
            return Err(crate::format::invalid_pk(id));
        }
        if !users.contains(&user) {
            users.push(user);
        }
    }
    Ok(users)
}

fn parse_op(value: Option<&Value>) -> Result<MatchOp, String> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(MatchOp::Exact);
    };
    let op = match value.as_str().unwrap_or("") {
        "exact" => MatchOp::Exact,
        "not" => MatchOp::Not,
        "in" => MatchOp::In,
        "contains" => MatchOp::Contains,
        "startswith" => MatchOp::Startswith,
        "endswith" => MatchOp::Endswith,
        "m2m" => MatchOp::M2m,
        "m2m_all" => MatchOp::M2mAll,
        // JumpServer also knows gte/lte/gt/lt/regex/ip_in; the core does not, and accepting a
        // rule it cannot evaluate would change who approves, so they are refused.
        _ => return Err(format!("match: {}", invalid_choice(value))),
    };
    Ok(op)
}

/// Parses a v4 user selector (`all`, `ids`, `attrs`); messages go under the rule's `users`.
pub(super) fn parse_selector(value: &Value) -> Result<Selector, Vec<String>> {
    let Value::Object(object) = value else {
        return Err(vec![expected_dict(value)]);
    };
    let selector = match object.get("type").and_then(Value::as_str) {
        Some("all") => Selector::All,
        Some("ids") => {
            let ids = object.get("ids").unwrap_or(&Value::Null);
            let ids = parse_id_list(ids).map_err(|message| vec![format!("ids: {message}")])?;
            let mut users: Vec<UserId> = Vec::with_capacity(ids.len());
            for id in ids.into_iter().map(UserId) {
                if !users.contains(&id) {
                    users.push(id);
                }
            }
            Selector::Ids { ids: users }
        }
        Some("attrs") => {
            let Some(Value::Array(items)) = object.get("attrs") else {
                return Err(vec![
                    "attrs: Expected a list of items of the form {\"name\", \"match\", \"value\"}."
                        .into(),
                ]);
            };
            let mut attrs = Vec::with_capacity(items.len());
            let mut errors = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let Value::Object(rule) = item else {
                    errors.push(format!("attrs[{i}]: {}", expected_dict(item)));
                    continue;
                };
                let name = match rule.get("name") {
                    Some(Value::String(name)) if !name.trim().is_empty() => name.trim().to_owned(),
                    _ => {
                        errors.push(format!("attrs[{i}].name: {REQUIRED}"));
                        continue;
                    }
                };
                let op = match parse_op(rule.get("match")) {
                    Ok(op) => op,
                    Err(message) => {
                        errors.push(format!("attrs[{i}].{message}"));
                        continue;
                    }
                };
                let Some(value) = rule.get("value").filter(|v| !v.is_null()) else {
                    errors.push(format!("attrs[{i}].value: {REQUIRED}"));
                    continue;
                };
                attrs.push(AttrRule {
                    name,
                    op,
                    value: value.clone(),
                });
            }
            if !errors.is_empty() {
                return Err(errors);
            }
            Selector::Attrs { attrs }
        }
        None => return Err(vec![format!("type: {REQUIRED}")]),
        Some(other) => {
            return Err(vec![format!(
                "type: \"{other}\" is not a valid choice (all, ids, attrs)."
            )]);
        }
    };
    // The core owns the shape rules (non-empty lists, known attributes, operand types).
    let problems: Vec<String> = selector
        .validate("users")
        .into_iter()
        .map(|e| {
            let path = e.field.trim_start_matches("users").trim_start_matches('.');
            if path.is_empty() {
                capitalize(&e.message)
            } else {
                format!("{path}: {}", capitalize(&e.message))
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(selector)
    } else {
        Err(problems)
    }
}

/// The same selector with id lists in a canonical order, to compare the two rule forms.
fn canonical(selector: &Selector) -> Selector {
    match selector {
        Selector::Ids { ids } => {
            let mut ids = ids.clone();
            ids.sort();
            ids.dedup();
            Selector::Ids { ids }
        }
        other => other.clone(),
    }
}

/// Parses one rule in either form; errors are the rule's DRF dict.
/// A rule's selector; a rule whose `users` and legacy forms disagree gives both
/// ([`FlowBody::settle_rules`] decides).
enum ParsedRule {
    One(Selector),
    Contested { users: Selector, legacy: Selector },
}

fn parse_rule(rule: &Value, known: &dyn Fn(UserId) -> bool) -> Result<ParsedRule, Errors> {
    let mut errors = Errors::default();
    let Value::Object(object) = rule else {
        errors.add("non_field_errors", expected_dict(rule));
        return Err(errors);
    };
    let users = object.get("users").filter(|v| !v.is_null());
    let strategy = object
        .get("strategy")
        .filter(|v| !v.is_null())
        .filter(|v| choice_text(v).as_deref() != Some(CUSTOM_STRATEGY));
    let from_users = users.map(parse_selector);
    let from_strategy = strategy.map(|value| {
        let Some(legacy) = choice_text(value)
            .as_deref()
            .and_then(LegacyStrategy::parse)
        else {
            return Err(("strategy", invalid_choice(value)));
        };
        if legacy != LegacyStrategy::CustomUser {
            // Only `custom_user` reads `assignees`; for the others it is display data.
            return Ok(legacy.to_selector(Vec::new()));
        }
        let given = object.get("assignees").unwrap_or(&Value::Null);
        let assignees = if given.is_null() {
            Vec::new()
        } else {
            parse_users(given, known).map_err(|message| ("assignees", message))?
        };
        if assignees.is_empty() {
            return Err(("assignees", "Please select the Assignees".into()));
        }
        Ok(legacy.to_selector(assignees))
    });
    match (from_users, from_strategy) {
        (None, None) => {
            // An empty rule is what JumpServer turned into "anyone may approve"; refuse it.
            errors.add("users", REQUIRED);
            Err(errors)
        }
        (Some(Err(messages)), _) => {
            for message in messages {
                errors.add("users", message);
            }
            Err(errors)
        }
        (_, Some(Err((field, message)))) => {
            errors.add(field, message);
            Err(errors)
        }
        (Some(Ok(selector)), None) | (None, Some(Ok(selector))) => Ok(ParsedRule::One(selector)),
        (Some(Ok(users)), Some(Ok(legacy))) => {
            if canonical(&users) == canonical(&legacy) {
                Ok(ParsedRule::One(users))
            } else {
                // Guessing which of two contradicting forms the client meant could give the
                // level to the wrong people: the stored level tells which one changed.
                Ok(ParsedRule::Contested { users, legacy })
            }
        }
    }
}

/// Parses `rules`: a list of rules in either form, errors as one dict per position.
/// The rules' selectors, and the contested ones' legacy forms by position.
type ParsedRules = (Vec<Selector>, Vec<(usize, Selector)>);

fn parse_rules(value: &Value, known: &dyn Fn(UserId) -> bool) -> Result<ParsedRules, Value> {
    let Value::Array(items) = value else {
        return Err(Value::Array(vec![Value::String(format!(
            "Expected a list of items but got type \"{}\".",
            json_type(value)
        ))]));
    };
    let mut selectors = Vec::with_capacity(items.len());
    let mut contested = Vec::new();
    let mut per_rule = Vec::with_capacity(items.len());
    let mut failed = false;
    for (position, item) in items.iter().enumerate() {
        match parse_rule(item, known) {
            Ok(ParsedRule::One(selector)) => {
                selectors.push(selector);
                per_rule.push(Value::Object(Map::new()));
            }
            Ok(ParsedRule::Contested { users, legacy }) => {
                selectors.push(users);
                contested.push((position, legacy));
                per_rule.push(Value::Object(Map::new()));
            }
            Err(errors) => {
                failed = true;
                per_rule.push(errors.into_value());
            }
        }
    }
    if failed {
        Err(Value::Array(per_rule))
    } else {
        Ok((selectors, contested))
    }
}

/// Parses a flow body; `known` says whether a user id names a user the caller may see.
pub(super) fn parse_flow(
    body: &Value,
    need: Need,
    known: &dyn Fn(UserId) -> bool,
) -> Result<FlowBody, Errors> {
    let mut errors = Errors::default();
    // (A request without a body reads as `{}`, as DRF reads it: `extract::JsonBody`; a literal
    // `null` is no dictionary, as on every other route.)
    let object = match body {
        Value::Object(object) => object,
        other => {
            errors.add("non_field_errors", expected_dict(other));
            return Err(errors);
        }
    };
    let given = |field: &str| object.get(field).filter(|v| !v.is_null());
    let mut out = FlowBody::default();
    match given("name") {
        Some(value) => match parse_name(value) {
            Ok(name) => out.name = Some(name),
            Err(message) => errors.add("name", message),
        },
        None if need.name => errors.add("name", REQUIRED),
        None => {}
    }
    if let Some(value) = given("type") {
        match parse_kind(value) {
            Ok(kind) => out.kind = Some(kind),
            Err(message) => errors.add("type", message),
        }
    }
    if let Some(value) = given("approval_level") {
        match parse_level(value) {
            Ok(level) => out.level = Some(level),
            Err(message) => errors.add("approval_level", message),
        }
    }
    match given("rules") {
        Some(value) => match parse_rules(value, known) {
            Ok((rules, contested)) => {
                out.rules = Some(rules);
                out.contested = contested;
            }
            Err(nested) => errors.set("rules", nested),
        },
        None if need.rules => errors.add("rules", REQUIRED),
        None => {}
    }
    if let Some(value) = given("cc_users") {
        match parse_users(value, known) {
            Ok(users) => out.cc_users = Some(users),
            Err(message) => errors.add("cc_users", message),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// JumpServer's rule: as many rules as the approval level. `stored` is the current number of
/// levels (updates) or `None` (creation, where the level defaults to 1).
pub(super) fn check_level_count(body: &FlowBody, stored: Option<usize>, errors: &mut Errors) {
    if errors.has("rules") || errors.has("approval_level") {
        return;
    }
    let level = body.level.or(stored).unwrap_or(1);
    let rules = body.rules.as_ref().map(Vec::len).or(stored);
    if (body.level.is_some() || body.rules.is_some()) && rules != Some(level) {
        errors.add(
            "rules",
            "The number of approval rules must match the approval level",
        );
    }
}
