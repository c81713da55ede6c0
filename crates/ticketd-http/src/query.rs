//! Query strings and percent-encoding, decoded once here for every dialect.

/// Decodes `%XX` escapes and `+` (form encoding); invalid escapes are kept as they are.
pub fn percent_decode(text: &str) -> String {
    decode(text, true)
}

/// Decodes `%XX` escapes only (in a path, `+` is a plus); invalid escapes are kept as they are.
pub fn percent_decode_path(text: &str) -> String {
    decode(text, false)
}

/// A run of ASCII digits after an optional `+`, as a number however many digits it has: one
/// past `u64` is as large as `u64` goes, so a page's `offset` is past every list and its
/// `limit` capped like any large one (as Python's and Java's unbounded parsers let the list
/// decide). `None` for anything else: empty, a `-`, a space, another character.
pub fn saturating_unsigned(text: &str) -> Option<u64> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse::<u64>().unwrap_or(u64::MAX))
}

fn decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(hex_byte);
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
                continue;
            }
            (None, b'+') if plus_is_space => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The byte two hex digits spell. Only digits: `u8::from_str_radix` alone also takes a sign,
/// which made `%+0` a NUL that no `%00` check saw.
fn hex_byte(digits: &[u8]) -> Option<u8> {
    let value = |digit: u8| char::from(digit).to_digit(16);
    match digits {
        [high, low] => u8::try_from(value(*high)? * 16 + value(*low)?).ok(),
        _ => None,
    }
}

/// The `key=value` pairs of a raw query string, decoded, in order; repeated keys are kept and
/// a pair without `=` has an empty value.
pub fn pairs(raw: Option<&str>) -> impl Iterator<Item = (String, String)> + '_ {
    raw.unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_numbers_saturate_and_refuse_signs_and_spaces() {
        assert_eq!(saturating_unsigned("007"), Some(7));
        assert_eq!(saturating_unsigned("+5"), Some(5));
        assert_eq!(
            saturating_unsigned("99999999999999999999999999"),
            Some(u64::MAX)
        );
        for bad in ["", "+", "-1", "-0", "1e3", " 5", "++5", "1.5"] {
            assert_eq!(saturating_unsigned(bad), None, "{bad}");
        }
    }

    #[test]
    fn percent_decoding_keeps_invalid_escapes() {
        assert_eq!(percent_decode("Prod%20Org+x"), "Prod Org x");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%E4%B8%AD"), "中");
        assert_eq!(percent_decode_path("a+b%2Fc"), "a+b/c");
        // A sign is no hex digit: `%+0` and `%-1` are kept as written, not read as bytes.
        assert_eq!(percent_decode("%+0zz"), "% 0zz");
        assert_eq!(percent_decode_path("%+0%-1%+F"), "%+0%-1%+F");
        assert_eq!(percent_decode("%fF%"), "\u{fffd}%");
    }

    #[test]
    fn pairs_are_decoded_in_order() {
        let found: Vec<(String, String)> = pairs(Some("a=1&&b&c=x%20y&a=2")).collect();
        let expected = [("a", "1"), ("b", ""), ("c", "x y"), ("a", "2")];
        assert_eq!(found, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
        assert_eq!(pairs(None).count(), 0);
    }
}
