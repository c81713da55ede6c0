//! Property tests of the AK/SK signature parsers: any input is parsed or refused, never a panic.

use crate::signing::{
    canonical_queries, canonical_uri, parse_authorization, parse_date, query_pairs,
};
use proptest::prelude::*;

const PARTS: &[&str] = &[
    "SDK-HMAC-SHA256",
    " ",
    "Access=",
    "SignedHeaders=",
    "Signature=",
    ",",
    ";",
    "=",
    "host",
    "x-sdk-date",
    "content-type",
    "20261203T043135Z",
    "2026",
    "T",
    "Z",
    "%",
    "%2F",
    "/",
    "?",
    "&",
    "a",
    "b=c",
];

fn pieces() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![4 => proptest::sample::select(PARTS).prop_map(str::to_owned), 1 => any::<String>()],
        0..20,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn authorization_headers_parse_or_are_refused(text in pieces()) {
        let _ = parse_authorization(&text);
        let _ = parse_date(&text);
    }

    #[test]
    fn paths_and_queries_canonicalise(path in pieces(), query in pieces()) {
        let _ = canonical_uri(&path);
        let _ = canonical_queries(&query_pairs(Some(&query)));
    }
}
