//! Reading the timestamps ticketd stores in JSON (`2026-12-03T16:07:08.604236602Z`) without
//! chrono's general parser.
//!
//! Every rendered `apply_asset` ticket reads its payload's two dates, and chrono's RFC 3339
//! parser (written for every form the standard allows) was 3.5% of an `awaiting-me` request's
//! CPU. The form serde writes for a `DateTime<Utc>` is read here digit by digit; anything else
//! (an offset other than UTC, a leap second, text written by hand) goes to chrono as before, so
//! the two always agree (property test below).

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::Deserializer;
use serde::de::{Error, Visitor};

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (or `+00:00`), the form serde writes; `None` otherwise.
fn parse_canonical(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || bytes[10] != b'T'
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |value, &digit| {
            digit
                .is_ascii_digit()
                .then(|| value * 10 + u32::from(digit - b'0'))
        })
    };
    let year = i32::try_from(number(&bytes[0..4])?).ok()?;
    let (month, day) = (number(&bytes[5..7])?, number(&bytes[8..10])?);
    let (hour, minute) = (number(&bytes[11..13])?, number(&bytes[14..16])?);
    let second = number(&bytes[17..19])?;
    let mut rest = &bytes[19..];
    let mut nanos = 0;
    if let Some((b'.', fraction)) = rest.split_first() {
        let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        let exponent = u32::try_from(9 - digits).ok()?;
        nanos = number(&fraction[..digits])? * 10u32.pow(exponent);
        rest = &fraction[digits..];
    }
    if rest != b"Z" && rest != b"+00:00" {
        return None;
    }
    // Seconds stop at 59 here: a leap second goes to chrono, which knows its representation.
    NaiveDate::from_ymd_opt(year, month, day)?
        .and_hms_nano_opt(hour, minute, second, nanos)
        .map(|time| time.and_utc())
}

/// Parses a stored timestamp as serde's `DateTime<Utc>` does.
pub(crate) fn parse(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    match parse_canonical(text) {
        Some(time) => Ok(time),
        None => text
            .parse::<DateTime<FixedOffset>>()
            .map(|time| time.with_timezone(&Utc)),
    }
}

/// For `#[serde(deserialize_with = "…")]` on a stored `DateTime<Utc>`.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<DateTime<Utc>, D::Error> {
    struct Text;
    impl Visitor<'_> for Text {
        type Value = DateTime<Utc>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an RFC 3339 date and time")
        }

        fn visit_str<E: Error>(self, text: &str) -> Result<Self::Value, E> {
            parse(text).map_err(E::custom)
        }
    }
    deserializer.deserialize_str(Text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::SecondsFormat;
    use proptest::prelude::*;

    fn chrono_parse(text: &str) -> Option<DateTime<Utc>> {
        serde_json::from_value::<DateTime<Utc>>(serde_json::Value::from(text)).ok()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn stored_times_read_as_chrono_reads_them(
            seconds in -62_000_000_000i64..250_000_000_000i64,
            nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000],
            format in prop_oneof![
                Just(SecondsFormat::Secs), Just(SecondsFormat::Millis),
                Just(SecondsFormat::Micros), Just(SecondsFormat::Nanos), Just(SecondsFormat::AutoSi),
            ],
            use_z in any::<bool>(),
        ) {
            let time = DateTime::from_timestamp(seconds, nanos).unwrap();
            let text = time.to_rfc3339_opts(format, use_z);
            prop_assert_eq!(parse(&text).ok(), chrono_parse(&text));
            let written = serde_json::to_value(time).unwrap();
            prop_assert_eq!(parse(written.as_str().unwrap()).ok(), Some(time));
        }

        #[test]
        fn any_other_text_reads_as_chrono_reads_it(
            text in "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,11})?(Z|z|[+-][0-9]{2}:?[0-9]{2})?",
        ) {
            prop_assert_eq!(parse(&text).ok(), chrono_parse(&text));
        }
    }

    #[test]
    fn leap_seconds_and_offsets_go_to_chrono() {
        for text in [
            "2016-12-31T23:59:60Z",
            "2016-12-31T23:59:60.5+00:00",
            "2026-12-03T16:07:08+08:00",
            "2026-02-30T00:00:00Z",
            "2026-12-03T16:07:08.1234567891Z",
        ] {
            assert_eq!(parse(text).ok(), chrono_parse(text), "{text}");
        }
    }
}
