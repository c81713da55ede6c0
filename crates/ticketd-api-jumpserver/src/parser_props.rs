//! Property tests of the dialect's input parsers: any input is parsed or refused, never a panic.

use crate::format::{parse_actions, parse_datetime, parse_datetime_by_formats, parse_id_list};
use crate::listing::Query;
use proptest::prelude::*;
use serde_json::{Value, json};

const DATE_PARTS: &[&str] = &[
    "2026",
    "-",
    "/",
    "08",
    "21",
    "13",
    "45",
    "99999",
    "0000",
    " ",
    "T",
    ":",
    "10",
    "00",
    "60",
    "+0800",
    "+9999",
    "-2500",
    "Z",
    ".",
    "123456789",
    "+08:00",
];

fn dates() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![3 => proptest::sample::select(DATE_PARTS).prop_map(str::to_owned), 1 => any::<String>()],
        0..16,
    )
    .prop_map(|parts| parts.concat())
}

fn values() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        proptest::sample::select(vec!["connect", "upload", "all", "", "-1", "99", "copy"])
            .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    proptest::sample::select(vec!["a", "actions", "value"]).prop_map(str::to_owned),
                    inner
                ),
                0..3
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn datetimes_parse_or_are_refused(text in dates(), zone in proptest::sample::select(vec![
        chrono_tz::UTC, chrono_tz::Asia::Shanghai, chrono_tz::Pacific::Kiritimati,
    ])) {
        let _ = parse_datetime(&text, zone);
    }

    #[test]
    fn plain_datetimes_read_directly_as_the_formats_read_them(
        fields in (0u32..10_000, 0u32..14, 0u32..33, 0u32..26, 0u32..61, 0u32..62),
        zone in proptest::sample::select(vec![
            chrono_tz::UTC, chrono_tz::Asia::Shanghai, chrono_tz::America::New_York,
        ]),
    ) {
        let (year, month, day, hour, minute, second) = fields;
        let text = format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}");
        prop_assert_eq!(parse_datetime(&text, zone), parse_datetime_by_formats(&text, zone));
    }

    #[test]
    fn action_and_id_lists_parse_or_are_refused(value in values()) {
        let _ = parse_actions(&value);
        let _ = parse_id_list(&value);
    }

    #[test]
    fn query_strings_parse(raw in any::<String>()) {
        let query = Query::parse(Some(&raw));
        let _ = query.text("limit");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn datetimes_render_as_chrono_formats_them(
        seconds in -62_000_000_000i64..250_000_000_000i64,
        zone in proptest::sample::select(vec![
            chrono_tz::UTC, chrono_tz::Asia::Shanghai, chrono_tz::Asia::Kolkata,
            chrono_tz::America::St_Johns, chrono_tz::Pacific::Kiritimati, chrono_tz::America::Los_Angeles,
        ]),
    ) {
        let time = chrono::DateTime::from_timestamp(seconds, 0).unwrap();
        let expected = time.with_timezone(&zone).format("%Y/%m/%d %H:%M:%S %z").to_string();
        prop_assert_eq!(crate::format::datetime(time, zone), expected);
    }

    #[test]
    fn approval_dates_render_as_python_str_of_a_utc_datetime(
        seconds in 0i64..250_000_000_000i64,
        micros in proptest::sample::select(vec![0u32, 1, 999_999, 123_456, 500_000]),
    ) {
        let time = chrono::DateTime::from_timestamp(seconds, micros * 1000).unwrap();
        let pattern = if micros == 0 { "%Y-%m-%d %H:%M:%S+00:00" } else { "%Y-%m-%d %H:%M:%S%.6f+00:00" };
        prop_assert_eq!(crate::tickets::render::python_utc(time), time.format(pattern).to_string());
    }
}
