//! Wire conventions: 32-hex ids, Gson-style dates, and reading API parameters with ZStack's checks.

use crate::api::Api;
use crate::error::ZsError;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};
use uuid::Uuid;

/// The format of every date ZStack's JSON carries: Gson's default `MMM d, yyyy h:mm:ss a`
/// (`Nov 22, 2026 10:00:00 AM`), in the server's configured time zone.
const GSON_DATE: &str = "%b %-d, %Y %-I:%M:%S %p";

/// An id as ZStack writes it: 32 lowercase hex digits, no hyphens.
pub(crate) fn hex(uuid: Uuid) -> String {
    uuid.simple().to_string()
}

/// Parses an id in ZStack's 32-hex form or the hyphenated form (any case).
pub(crate) fn parse_uuid(text: &str) -> Option<Uuid> {
    let text = text.trim();
    if text.len() == 32 || text.len() == 36 {
        Uuid::try_parse(text).ok()
    } else {
        None
    }
}

/// Renders a date.
pub(crate) fn date(time: DateTime<Utc>, zone: Tz) -> String {
    time.with_timezone(&zone).format(GSON_DATE).to_string()
}

/// Renders a date kept as epoch milliseconds (how inventories carry dates until rendered, so
/// that queries compare them as instants).
pub(crate) fn date_from_millis(millis: i64, zone: Tz) -> Option<String> {
    DateTime::<Utc>::from_timestamp_millis(millis).map(|t| date(t, zone))
}

/// Parses a date given in a query condition: epoch milliseconds, `yyyy-MM-dd HH:mm:ss`,
/// `yyyy-MM-dd`, RFC 3339, or the rendered Gson form; local forms are in `zone`.
pub(crate) fn parse_date_millis(text: &str, zone: Tz) -> Option<i64> {
    let text = text.trim();
    if let Ok(millis) = text.parse::<i64>() {
        return Some(millis);
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.timestamp_millis());
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(text, "%b %d, %Y %I:%M:%S %p").ok())
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.timestamp_millis())
}

/// The parameters of one API call, with the checks ZStack's API interceptor applies.
#[derive(Debug)]
pub(crate) struct Params<'a> {
    map: &'a Map<String, Value>,
    api: Api,
}

impl<'a> Params<'a> {
    /// Wraps the parameters of `api`.
    pub(crate) fn new(map: &'a Map<String, Value>, api: Api) -> Self {
        Self { map, api }
    }

    /// The raw value of a parameter (`None` when absent or null).
    pub(crate) fn raw(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// ZStack's error for a missing mandatory field.
    pub(crate) fn missing(&self, name: &str) -> ZsError {
        ZsError::argerr(format!(
            "field[{name}] of message[{}] is mandatory, can not be null",
            self.api.message_class()
        ))
    }

    fn wrong_type(&self, name: &str, expected: &str) -> ZsError {
        ZsError::argerr(format!(
            "field[{name}] of message[{}] must be {expected}",
            self.api.message_class()
        ))
    }

    /// An optional string of at most `max` characters; numbers and booleans are taken as text
    /// (query strings carry everything as text).
    pub(crate) fn opt_str(&self, name: &str, max: usize) -> Result<Option<String>, ZsError> {
        let text = match self.raw(name) {
            None => return Ok(None),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(_) => return Err(self.wrong_type(name, "a string")),
        };
        let length = text.chars().count();
        if length > max {
            return Err(ZsError::argerr(format!(
                "field[{name}] of message[{}] exceeds max length of string. expected was <= {max}, actual was {length}",
                self.api.message_class()
            )));
        }
        Ok(Some(text))
    }

    /// A mandatory, non-blank string of at most `max` characters.
    pub(crate) fn req_str(&self, name: &str, max: usize) -> Result<String, ZsError> {
        match self.opt_str(name, max)? {
            Some(text) if !text.trim().is_empty() => Ok(text),
            Some(_) => Err(ZsError::argerr(format!(
                "field[{name}] of message[{}] can not be an empty string",
                self.api.message_class()
            ))),
            None => Err(self.missing(name)),
        }
    }

    /// An optional boolean (`true`/`false`, also as text).
    pub(crate) fn opt_bool(&self, name: &str) -> Result<Option<bool>, ZsError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(self.wrong_type(name, "a boolean")),
        }
    }

    /// An optional id.
    pub(crate) fn opt_uuid(&self, name: &str) -> Result<Option<Uuid>, ZsError> {
        match self.opt_str(name, 64)? {
            None => Ok(None),
            Some(text) if text.trim().is_empty() => Ok(None),
            Some(text) => parse_uuid(&text).map(Some).ok_or_else(|| {
                ZsError::argerr(format!(
                    "invalid value[{text}] of field[{name}], it is not a valid uuid"
                ))
            }),
        }
    }

    /// A mandatory id.
    pub(crate) fn req_uuid(&self, name: &str) -> Result<Uuid, ZsError> {
        self.opt_uuid(name)?.ok_or_else(|| self.missing(name))
    }

    /// An optional list; a string is a comma-separated list (as a query string carries it).
    pub(crate) fn opt_list(&self, name: &str) -> Result<Option<Vec<Value>>, ZsError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items.clone())),
            Some(Value::String(text)) => Ok(Some(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            )),
            Some(_) => Err(self.wrong_type(name, "a list")),
        }
    }

    /// An optional list of ids.
    pub(crate) fn opt_uuid_list(&self, name: &str) -> Result<Option<Vec<Uuid>>, ZsError> {
        let Some(items) = self.opt_list(name)? else {
            return Ok(None);
        };
        let mut ids = Vec::with_capacity(items.len());
        for item in items {
            let parsed = item.as_str().and_then(parse_uuid);
            match parsed {
                Some(id) if !ids.contains(&id) => ids.push(id),
                Some(_) => {}
                None => {
                    return Err(ZsError::argerr(format!(
                        "invalid value[{item}] in field[{name}], it is not a valid uuid"
                    )));
                }
            }
        }
        Ok(Some(ids))
    }

    /// `deleteMode`: `Permissive` (the default) or `Enforcing`.
    pub(crate) fn delete_mode(&self) -> Result<(), ZsError> {
        match self.opt_str("deleteMode", 32)? {
            None => Ok(()),
            Some(mode) if mode == "Permissive" || mode == "Enforcing" => Ok(()),
            Some(mode) => Err(ZsError::argerr(format!(
                "invalid value[{mode}] of field[deleteMode], valid values are [Permissive, Enforcing]"
            ))),
        }
    }
}

/// Text for an optional stored string: ZStack answers `null` where nothing was given.
pub(crate) fn text_or_null(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        Value::String(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_hex_and_both_forms_parse() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(hex(id), "0123456789abcdef0123456789abcdef");
        assert_eq!(parse_uuid("0123456789ABCDEF0123456789abcdef"), Some(id));
        assert_eq!(parse_uuid("01234567-89ab-cdef-0123-456789abcdef"), Some(id));
        assert_eq!(parse_uuid("{01234567-89ab-cdef-0123-456789abcdef}"), None);
        assert_eq!(parse_uuid("nope"), None);
    }

    #[test]
    fn dates_render_as_gson_and_parse_back_in_every_accepted_form() {
        let time = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 5).unwrap();
        assert_eq!(date(time, chrono_tz::UTC), "Nov 22, 2026 10:00:05 AM");
        assert_eq!(
            date(time, chrono_tz::Asia::Shanghai),
            "Nov 22, 2026 6:00:05 PM"
        );
        let millis = time.timestamp_millis();
        let utc = chrono_tz::UTC;
        assert_eq!(parse_date_millis(&millis.to_string(), utc), Some(millis));
        assert_eq!(parse_date_millis("2026-11-22 10:00:05", utc), Some(millis));
        assert_eq!(parse_date_millis("2026-11-22T10:00:05Z", utc), Some(millis));
        assert_eq!(
            parse_date_millis("Nov 22, 2026 10:00:05 AM", utc),
            Some(millis)
        );
        assert_eq!(
            parse_date_millis("2026-11-22", utc),
            Some(millis - 5_000 - 36_000_000)
        );
        assert_eq!(parse_date_millis("yesterday", utc), None);
    }
}
