//! Property tests of the dialect's input parsers: any input is parsed or refused, never a panic.

use crate::query::QuerySpec;
use crate::wire::{parse_date_millis, parse_uuid};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const QUERY_PARTS: &[&str] = &[
    "q=",
    "name",
    "uuid",
    "createDate",
    "status",
    "requests.apiName",
    "=",
    "!=",
    ">",
    "<",
    ">=",
    "<=",
    "?=",
    "!?=",
    "~=",
    "!~=",
    "is",
    "null",
    "not",
    "&",
    ",",
    "%",
    "%25",
    "%3D",
    "limit=",
    "start=",
    "count=",
    "replyWithCount=",
    "sort=",
    "+",
    "-",
    "fields=",
    "groupBy=",
    "1",
    "-1",
    "99999999999999999999",
    "true",
    "2026-08-21 10:00:00",
];

fn pieces() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![4 => proptest::sample::select(QUERY_PARTS).prop_map(str::to_owned), 1 => any::<String>()],
        0..20,
    )
    .prop_map(|parts| parts.concat())
}

fn message() -> impl Strategy<Value = Map<String, Value>> {
    let value = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        pieces().prop_map(Value::from),
        proptest::collection::vec(
            (pieces(), pieces(), pieces())
                .prop_map(|(name, op, value)| json!({"name": name, "op": op, "value": value})),
            0..4,
        )
        .prop_map(Value::Array),
    ];
    proptest::collection::vec(
        (
            proptest::sample::select(vec![
                "conditions",
                "limit",
                "start",
                "count",
                "replyWithCount",
                "sortBy",
                "sortDirection",
                "fields",
            ]),
            value,
        ),
        0..6,
    )
    .prop_map(|pairs| pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn rest_queries_parse_or_are_refused(raw in pieces()) {
        let _ = QuerySpec::from_query_string(Some(&raw));
    }

    #[test]
    fn message_queries_parse_or_are_refused(map in message()) {
        let _ = QuerySpec::from_message(&map);
    }

    #[test]
    fn ids_and_dates_parse_or_are_refused(text in pieces()) {
        let _ = parse_uuid(&text);
        let _ = parse_date_millis(&text, chrono_tz::Asia::Shanghai);
    }
}
