//! Property tests of the lenient body reader: any input is parsed or refused, never a panic.

use crate::lenient::parse;
use proptest::prelude::*;

const PARTS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "list",
    "ticket_uuid",
    " ",
    "\n",
    "null",
    "true",
    "1",
    "-0.5e9",
    "\\",
    "\\u12",
    "\\uD800",
    "$",
    "_",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn bodies_are_read_or_refused(text in proptest::collection::vec(
        prop_oneof![4 => proptest::sample::select(PARTS).prop_map(str::to_owned), 1 => any::<String>()],
        0..40,
    ).prop_map(|parts| parts.concat())) {
        let _ = parse(&text, 16);
    }

    #[test]
    fn nesting_is_bounded(depth in 0usize..200) {
        let text = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        prop_assert_eq!(parse(&text, 16).is_ok(), depth <= 16);
    }
}
