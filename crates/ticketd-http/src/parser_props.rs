//! Property tests of the edge parsers: any input is answered (parsed or refused), never a panic.

use crate::form::{MAX_FORM_FIELDS, multipart_fields, urlencoded_fields};
use crate::json::{JsonBodyError, parse_body};
use crate::query::{pairs, percent_decode, percent_decode_path};
use crate::signature::{parse_params, signing_string, verify};
use proptest::prelude::*;

/// Texts assembled from the pieces these formats are made of, plus arbitrary strings.
fn pieces(parts: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![3 => proptest::sample::select(parts).prop_map(str::to_owned), 1 => any::<String>()],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

const SIGNATURE_PARTS: &[&str] = &[
    "keyId",
    "KEYID",
    "algorithm",
    "headers",
    "signature",
    "=",
    "\"",
    ",",
    " ",
    "hmac-sha256",
    "(request-target)",
    "date",
    "accept",
    "host",
    "x",
    "%",
    "\\",
];
const MULTIPART_PARTS: &[&str] = &[
    "--b",
    "--b--",
    "\r\n",
    "\r\n\r\n",
    "Content-Disposition: form-data; name=",
    "\"",
    "x",
    "; filename=\"f\"",
    "\\",
    ";",
    "=",
    " ",
    "\n",
    "-",
];
const QUERY_PARTS: &[&str] = &[
    "&", "=", "%", "%2", "%zz", "%FF", "%C3%A9", "+", "a", "limit", "?", "#",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn signature_headers_are_parsed_or_refused(text in pieces(SIGNATURE_PARTS), date in any::<String>()) {
        if let Ok(params) = parse_params(&text) {
            let headers = |name: &str| (name == "date").then(|| date.clone());
            let _ = signing_string(&params, "GET", "/x", &headers);
            let _ = verify(&params, "secret", "GET", "/x", &headers, crate::now(), chrono::Duration::minutes(15));
        }
    }

    #[test]
    fn query_strings_decode_to_something(raw in pieces(QUERY_PARTS)) {
        let _: Vec<(String, String)> = pairs(Some(&raw)).collect();
        let _ = percent_decode(&raw);
        let _ = percent_decode_path(&raw);
    }

    #[test]
    fn forms_are_read_or_refused_with_a_reason(text in pieces(MULTIPART_PARTS), raw in pieces(QUERY_PARTS)) {
        // Every field read is a named part's text; a refusal says why.
        match multipart_fields(text.as_bytes(), Some("b")) {
            Ok(fields) => prop_assert!(fields.len() <= MAX_FORM_FIELDS),
            Err(refusal) => prop_assert!(!refusal.to_string().is_empty()),
        }
        let _ = multipart_fields(text.as_bytes(), None);
        let _ = urlencoded_fields(raw.as_bytes());
    }

    #[test]
    fn bodies_are_json_or_a_reason(bytes in proptest::collection::vec(any::<u8>(), 0..256), depth in 0usize..100) {
        let _ = parse_body(&bytes, 8);
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let parsed = parse_body(nested.as_bytes(), 8);
        prop_assert_eq!(parsed.is_err(), depth > 8);
        if depth > 8 {
            prop_assert_eq!(parsed, Err(JsonBodyError::TooDeep(8)));
        }
    }
}
