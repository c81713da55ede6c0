//! JumpServer value formats: datetimes as `%Y/%m/%d %H:%M:%S %z` in the request's time zone.

use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ticketd_core::payload::date_in_range;
use ticketd_http::AppState;

/// The time zone of a request: `X-TZ` if it names a valid IANA zone, else the server's.
pub(crate) fn request_time_zone(parts: &Parts, state: &AppState) -> Tz {
    parts
        .headers
        .get("x-tz")
        .and_then(|v| v.to_str().ok())
        .and_then(|name| name.trim().parse::<Tz>().ok())
        .unwrap_or(state.settings.time_zone)
}

/// Renders a datetime as JumpServer does (`%Y/%m/%d %H:%M:%S %z`).
///
/// Written out by hand: a page of tickets renders dozens of datetimes, chrono's `format` parses
/// its pattern again for each one, and even `format!` with padded fields was 3% of a list's CPU.
pub(crate) fn datetime(time: DateTime<Utc>, zone: Tz) -> String {
    use chrono::{Datelike, Offset, Timelike};
    let local = time.with_timezone(&zone);
    let offset = local.offset().fix().local_minus_utc();
    let sign = if offset < 0 { '-' } else { '+' };
    // Rounded to the minute as chrono's `%z` does (local mean times have offsets in seconds).
    let minutes = (offset.unsigned_abs() + 30) / 60;
    let mut out = String::with_capacity(25);
    if !push_date_time(&mut out, &local, '/') {
        return format!(
            "{:04}/{:02}/{:02} {:02}:{:02}:{:02} {sign}{:02}{:02}",
            local.year(),
            local.month(),
            local.day(),
            local.hour(),
            local.minute(),
            local.second(),
            minutes / 60,
            minutes % 60
        );
    }
    out.push(' ');
    out.push(sign);
    push_digits(&mut out, minutes / 60, 2);
    push_digits(&mut out, minutes % 60, 2);
    out
}

/// Appends `YYYY{date_separator}MM{date_separator}DD HH:MM:SS` when `%Y` writes the year as
/// exactly four digits (0 to 9999); otherwise writes nothing and answers `false`.
pub(crate) fn push_date_time(
    out: &mut String,
    time: &(impl chrono::Datelike + chrono::Timelike),
    date_separator: char,
) -> bool {
    let Some(year) = u32::try_from(time.year()).ok().filter(|year| *year <= 9999) else {
        return false;
    };
    push_digits(out, year, 4);
    for (separator, value) in [
        (date_separator, time.month()),
        (date_separator, time.day()),
        (' ', time.hour()),
        (':', time.minute()),
        (':', time.second()),
    ] {
        out.push(separator);
        push_digits(out, value, 2);
    }
    true
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
pub(crate) fn push_digits(out: &mut String, value: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let mut rest = value;
    for slot in digits[..width].iter_mut().rev() {
        // A digit is below 10, so the narrowing cannot lose anything.
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    for &digit in &digits[..width] {
        out.push(char::from(digit));
    }
}

/// An id as JumpServer writes it (lowercase, hyphenated), serialized from a stack buffer: a page
/// of tickets writes a few hundred ids, and formatting each into a new `String` first showed up
/// in profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IdText(pub(crate) uuid::Uuid);

impl serde::Serialize for IdText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buffer = uuid::Uuid::encode_buffer();
        serializer.serialize_str(self.0.hyphenated().encode_lower(&mut buffer))
    }
}

/// The request time zone as an extractor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Zone(pub(crate) Tz);

impl axum::extract::FromRequestParts<AppState> for Zone {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(request_time_zone(parts, state)))
    }
}

/// Parses a datetime as JumpServer accepts it (§6.4): `%Y/%m/%d %H:%M:%S %z`, ISO 8601 with or
/// without offset (of hours and minutes, or hours alone: `+08`) and fraction
/// (`2023-03-28T02:10:23.245Z`), `%Y-%m-%d %H:%M:%S[ %z]`, or a
/// date; values without an offset are read in `zone`. A moment whose year in UTC is outside 1
/// to 9999 is refused, as Python's `datetime` refuses it (`ticketd_core::payload::DATE_YEARS`).
/// Where the client is, such a moment may fall in the year 0 or 10000, and [`datetime`] writes
/// it so (`10000/01/01 07:59:59 +0800`): that is read too, so that what a client was shown it
/// can send back (an approval sends the ticket's dates).
pub(crate) fn parse_datetime(text: &str, zone: Tz) -> Option<DateTime<Utc>> {
    use chrono::TimeZone;
    let text = text.trim();
    if text.is_empty() || text.len() > 64 {
        return None;
    }
    match plain_local_datetime(text) {
        Some(naive) => zone
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .filter(|t| date_in_range(*t)),
        None => parse_datetime_by_formats(text, zone),
    }
}

/// `YYYY-MM-DD HH:MM:SS`, the form clients send most, read directly: through the formats below
/// it fails five chrono parses before one succeeds. `None` for anything else, including values
/// out of range, which the formats then read or refuse as before.
fn plain_local_datetime(text: &str) -> Option<chrono::NaiveDateTime> {
    let bytes = text.as_bytes();
    let separators = [(4, b'-'), (7, b'-'), (10, b' '), (13, b':'), (16, b':')];
    if bytes.len() != 19 || separators.iter().any(|&(at, b)| bytes[at] != b) {
        return None;
    }
    let number = |from: usize, to: usize| {
        bytes[from..to].iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    chrono::NaiveDate::from_ymd_opt(
        i32::try_from(number(0, 4)?).ok()?,
        number(5, 7)?,
        number(8, 10)?,
    )?
    .and_hms_opt(number(11, 13)?, number(14, 16)?, number(17, 19)?)
}

/// [`parse_datetime`] by trying each accepted format in turn.
pub(crate) fn parse_datetime_by_formats(text: &str, zone: Tz) -> Option<DateTime<Utc>> {
    any_format(text, zone)
        .or_else(|| any_format(&signed_five_digit_year(text)?, zone))
        .filter(|t| date_in_range(*t))
}

/// `text` with a `+` before its year when that has five digits, which chrono reads only signed.
fn signed_five_digit_year(text: &str) -> Option<String> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    (digits == 5).then(|| format!("+{text}"))
}

fn any_format(text: &str, zone: Tz) -> Option<DateTime<Utc>> {
    use chrono::{NaiveDate, NaiveDateTime, TimeZone};
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    // `%#z` also takes an offset of hours alone (`+08`, as PostgreSQL writes one), which
    // Python's `fromisoformat` reads.
    for format in [
        "%Y/%m/%d %H:%M:%S %z",
        "%Y-%m-%d %H:%M:%S %z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M:%S%.f%#z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y/%m/%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .or_else(|| {
        ["%Y-%m-%d", "%Y/%m/%d"]
            .iter()
            .find_map(|format| NaiveDate::parse_from_str(text, format).ok())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })?;
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// Action names of older JumpServer documents, mapped onto the current bits.
fn legacy_action_bits(name: &str) -> Option<u32> {
    Some(match name {
        "upload_file" => 2,
        "download_file" => 4,
        "updownload" => 6,
        "clipboard_copy" => 8,
        "clipboard_paste" => 16,
        "clipboard_copy_paste" => 24,
        _ => return None,
    })
}

/// Parses `apply_actions`: a list of names or `{"value": name}` objects, `["all"]`, or the
/// integer bitmask. Errors use JumpServer's messages.
pub(crate) fn parse_actions(value: &serde_json::Value) -> Result<u32, String> {
    use serde_json::Value;
    use ticketd_core::payload::{ACTIONS, ALL_ACTIONS};
    match value {
        Value::Number(n) => match n.as_u64() {
            Some(bits) if bits <= u64::from(ALL_ACTIONS) => Ok(u32::try_from(bits).unwrap_or(0)),
            _ => Err(format!("Invalid choice: {n}")),
        },
        Value::Array(items) => {
            let mut mask = 0u32;
            for item in items {
                let name = match item {
                    Value::String(s) => s.as_str(),
                    Value::Object(o) => o
                        .get("value")
                        .and_then(Value::as_str)
                        .ok_or("Invalid data type, should be list")?,
                    _ => return Err("Invalid data type, should be list".into()),
                };
                mask |= if name == "all" {
                    ALL_ACTIONS
                } else if let Some((_, bit)) = ACTIONS.iter().find(|(n, _)| *n == name) {
                    *bit
                } else if let Some(bits) = legacy_action_bits(name) {
                    bits
                } else {
                    return Err(format!("Invalid choice: {name}"));
                };
            }
            Ok(mask)
        }
        _ => Err("Invalid data type, should be list".into()),
    }
}

/// Parses a list of ids given as UUID strings or `{"id": …}` objects.
pub(crate) fn parse_id_list(value: &serde_json::Value) -> Result<Vec<uuid::Uuid>, String> {
    use serde_json::Value;
    let Value::Array(items) = value else {
        return Err("Expected a list of items but got type \"".to_owned()
            + json_type(value)
            + "\".");
    };
    items
        .iter()
        .map(|item| {
            let text = match item {
                Value::String(s) => s.as_str(),
                Value::Object(o) => o.get("id").and_then(Value::as_str).unwrap_or(""),
                other => {
                    return Err(format!(
                        "Incorrect type. Expected pk value, received {}.",
                        json_type(other)
                    ));
                }
            };
            uuid::Uuid::parse_str(text.trim())
                .map_err(|_not_uuid| format!("“{text}” is not a valid UUID."))
        })
        .collect()
}

/// DRF's name of a JSON value's type.
pub(crate) fn json_type(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// `"Invalid data. Expected a dictionary, but got list."`, as DRF words a body or an item that
/// should be an object and is not.
pub(crate) fn expected_dict(value: &serde_json::Value) -> String {
    format!(
        "Invalid data. Expected a dictionary, but got {}.",
        json_type(value)
    )
}

/// The body as a JSON object, or DRF's 400 naming what it is instead.
pub(crate) fn object_body(
    body: &serde_json::Value,
) -> Result<&serde_json::Map<String, serde_json::Value>, crate::error::ApiError> {
    body.as_object()
        .ok_or_else(|| crate::error::ApiError::field("non_field_errors", expected_dict(body)))
}

/// DRF's refusal of a primary key that names nothing: `Invalid pk "…" - object does not exist.`
pub(crate) fn invalid_pk(id: impl std::fmt::Display) -> String {
    format!("Invalid pk \"{id}\" - object does not exist.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn datetimes_parse_in_every_documented_form() {
        let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
        let expect = |text: &str, zone: Tz| parse_datetime(text, zone).map(|t| t.to_rfc3339());
        assert_eq!(
            expect("2023-03-28T02:10:23.245Z", shanghai).unwrap(),
            "2023-03-28T02:10:23.245+00:00"
        );
        assert_eq!(
            expect("2023-03-28 10:10:23", shanghai).unwrap(),
            "2023-03-28T02:10:23+00:00"
        );
        assert_eq!(
            expect("2026/08/21 10:00:00 +0800", chrono_tz::UTC).unwrap(),
            "2026-08-21T02:00:00+00:00"
        );
        assert_eq!(
            expect("2026-08-21 10:00:00 +0800", chrono_tz::UTC).unwrap(),
            "2026-08-21T02:00:00+00:00"
        );
        assert_eq!(
            expect("2026-08-21", chrono_tz::UTC).unwrap(),
            "2026-08-21T00:00:00+00:00"
        );
        for hours_only in ["2026-08-21 10:00:00+08", "2026-08-21T10:00:00.5+08"] {
            assert_eq!(
                expect(hours_only, chrono_tz::UTC).map(|t| t[..19].to_owned()),
                Some("2026-08-21T02:00:00".to_owned()),
                "{hours_only}"
            );
        }
        assert_eq!(parse_datetime("yesterday", chrono_tz::UTC), None);
        assert_eq!(parse_datetime("99999-01-01", chrono_tz::UTC), None);
        for outside in [
            "-5000-01-01 00:00:00",
            "0000-06-01 00:00:00",
            "+10000-01-01T00:00:00Z",
            "0001-01-01 00:00:00",
        ] {
            assert_eq!(parse_datetime(outside, shanghai), None, "{outside}");
        }
        // A leap second, which Python refuses ("wrong format"), as JumpServer does.
        for leap in [
            "2027-06-30T23:59:60Z",
            "2027-06-30 23:59:60",
            "2027/06/30 23:59:60 +0000",
            "2027-06-30T23:59:60.999+08:00",
        ] {
            assert_eq!(parse_datetime(leap, chrono_tz::UTC), None, "{leap}");
        }
        assert!(parse_datetime("0001-01-01 00:00:00", chrono_tz::UTC).is_some());
        assert!(parse_datetime("9999-12-31 23:59:59", chrono_tz::UTC).is_some());
        // A moment of the year 9999 or 1 (UTC) may be in the year 10000 or 0 where the client
        // is: it is written so, and read back as the same moment, in every zone. (It read
        // "10000/01/01 07:59:59 +0800" to a client in Shanghai, which this parser refused.)
        // (Fixed offsets for the year 1: Shanghai's then was its local mean time, +08:05:43,
        // which `%z` rounds to the minute.)
        let fixed = [
            chrono_tz::UTC,
            chrono_tz::Etc::GMTMinus8,
            chrono_tz::Etc::GMTPlus5,
            chrono_tz::Etc::GMTPlus12,
            chrono_tz::Etc::GMTMinus14,
        ];
        for (text, zones) in [
            ("9999-12-31T23:59:59Z", [&fixed[..], &[shanghai]].concat()),
            ("9999-12-31T15:59:59Z", [&fixed[..], &[shanghai]].concat()),
            ("0001-01-01T00:00:00Z", fixed.to_vec()),
            ("2026-08-21T02:00:00Z", [&fixed[..], &[shanghai]].concat()),
        ] {
            let time = parse_datetime(text, chrono_tz::UTC).unwrap();
            for zone in zones {
                let shown = datetime(time, zone);
                assert_eq!(
                    parse_datetime(&shown, zone),
                    Some(time),
                    "{text} as {shown}"
                );
            }
        }
        assert_eq!(
            parse_datetime("10000/01/01 07:59:59 +0800", shanghai).map(|t| t.to_rfc3339()),
            Some("9999-12-31T23:59:59+00:00".to_owned())
        );
        assert_eq!(parse_datetime("10000/01/01 08:00:00 +0800", shanghai), None);
    }

    #[test]
    fn actions_accept_names_objects_all_and_bits() {
        assert_eq!(parse_actions(&json!(["all"])), Ok(127));
        assert_eq!(
            parse_actions(&json!(["connect", {"value": "upload"}])),
            Ok(3)
        );
        assert_eq!(parse_actions(&json!(5)), Ok(5));
        assert_eq!(parse_actions(&json!([])), Ok(0));
        assert_eq!(parse_actions(&json!(["clipboard_copy_paste"])), Ok(24));
        assert_eq!(
            parse_actions(&json!(["fly"])),
            Err("Invalid choice: fly".into())
        );
        assert_eq!(
            parse_actions(&json!(null)),
            Err("Invalid data type, should be list".into())
        );
        assert_eq!(
            parse_actions(&json!(500)),
            Err("Invalid choice: 500".into())
        );
    }

    #[test]
    fn id_lists_accept_strings_and_objects() {
        let id = "8e5b1c4e-2f0a-4c7e-9d59-0a3c4b1f6d11";
        assert_eq!(parse_id_list(&json!([id, {"id": id}])).unwrap().len(), 2);
        assert!(parse_id_list(&json!(["nope"])).is_err());
        assert!(parse_id_list(&json!({"id": id})).is_err());
    }
}
