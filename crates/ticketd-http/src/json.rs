//! JSON in and out: bounded parsing (size is limited by the router, nesting depth here, before
//! serde sees it) and answers serialized into one buffer sized up front.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

/// A `200 OK` JSON answer serialized into one buffer of `size_hint` bytes reserved up front: a
/// page of tickets (tens of kilobytes) would otherwise grow axum's 128-byte buffer a dozen
/// times, copying it each time.
pub fn sized_response<T: Serialize>(value: &T, size_hint: usize) -> Response {
    let mut body = Vec::with_capacity(size_hint);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        // As axum's `Json` answers: only a type that cannot be JSON (a map with non-string
        // keys) gets here, which is a bug, not bad input.
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

/// Why a body is not acceptable JSON.
#[derive(Debug, PartialEq, Eq)]
pub enum JsonBodyError {
    /// Not UTF-8.
    NotUtf8,
    /// Nested deeper than allowed.
    TooDeep(usize),
    /// Not JSON; the parser's message.
    Syntax(String),
    /// A string holds the NUL character, which no stored text may hold (PostgreSQL's text
    /// refuses it); also the answer to a request whose path or query carries one.
    NulCharacter,
    /// An integer no 64-bit integer holds (its first digits): it would be kept only as a
    /// rounded double, so the stored payload would differ from the one sent.
    IntegerBeyond64Bits(String),
    /// The request line and headers are longer than the limit (bytes); answered 431.
    HeadTooLarge(usize),
    /// The body its `Content-Length` declares is larger than the limit (bytes); answered 413.
    BodyTooLarge(usize),
}

impl std::fmt::Display for JsonBodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotUtf8 => write!(f, "JSON parse error - body is not valid UTF-8"),
            Self::TooDeep(max) => write!(f, "JSON parse error - nesting deeper than {max} levels"),
            Self::Syntax(message) => write!(f, "JSON parse error - {message}"),
            // Django's words (`ProhibitNullCharactersValidator`), which JumpServer answers.
            Self::NulCharacter => write!(f, "Null characters are not allowed."),
            Self::HeadTooLarge(limit) => write!(
                f,
                "Request header fields too large: the request line and headers may have at most \
                 {limit} bytes"
            ),
            Self::BodyTooLarge(limit) => write!(
                f,
                "Request body too large: a body may have at most {limit} bytes"
            ),
            Self::IntegerBeyond64Bits(digits) => write!(
                f,
                "JSON parse error - the integer {digits} is beyond 64 bits and cannot be kept \
                 exactly; send it as a string"
            ),
        }
    }
}

/// The deepest nesting `json_max_depth` may allow: serde_json refuses a 128th level on its own
/// (its recursion limit, a "syntax" error that ignored a larger setting), and TopHC's lenient
/// reader recurses once per level, so a setting of thousands let one body overflow a worker's
/// stack and abort the process.
pub const MAX_JSON_DEPTH: usize = 127;

/// Where a byte-by-byte walk of a JSON text stands: inside a string (and after a backslash
/// there) or not, so the scanners below see only the text's structure.
#[derive(Default)]
struct Strings {
    inside: bool,
    escaped: bool,
}

impl Strings {
    /// Takes the next byte; whether it stands outside every string (a quote opening one does
    /// not, nor does the one closing it).
    fn outside(&mut self, b: u8) -> bool {
        if self.inside {
            match (self.escaped, b) {
                (true, _) => self.escaped = false,
                (false, b'\\') => self.escaped = true,
                (false, b'"') => self.inside = false,
                _ => {}
            }
            return false;
        }
        if b == b'"' {
            self.inside = true;
            return false;
        }
        true
    }
}

/// Nesting depth of a JSON text (brackets outside strings), stopping early past `max`.
fn exceeds_depth(bytes: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut strings = Strings::default();
    for &b in bytes {
        if !strings.outside(b) {
            continue;
        }
        match b {
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Parses a request body. An empty body is `Value::Null`.
pub fn parse_body(bytes: &[u8], max_depth: usize) -> Result<Value, JsonBodyError> {
    let text = std::str::from_utf8(bytes).map_err(|_utf8| JsonBodyError::NotUtf8)?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    if exceeds_depth(bytes, max_depth) {
        return Err(JsonBodyError::TooDeep(max_depth));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| JsonBodyError::Syntax(e.to_string()))?;
    // JSON spells the NUL character only as the escape `\u0000` (a raw one is a syntax error),
    // so a body without that text needs no walk.
    if text.contains("\\u0000") && holds_nul(&value) {
        return Err(JsonBodyError::NulCharacter);
    }
    check_integers(text)?;
    Ok(value)
}

/// The most digits an integer outside the 64-bit range can be spelled with less of: `i64::MIN`
/// and `u64::MAX` have 19 and 20, so a text without a run of 19 digits needs no closer look.
const SHORTEST_RISKY_DIGITS: usize = 19;

/// Refuses a JSON text (strict, or a lenient form with bare keys) spelling, outside its
/// strings, an integer that no `i64` or `u64` holds: serde_json reads it as a double and the
/// stored value would silently differ (`123456789012345678901234` kept as
/// `1.2345678901234568e23`). A number with a fraction or an exponent is a double as sent, as
/// JSON's interoperability rule (RFC 8259, section 6) and the products' own parsers read it.
pub fn check_integers(text: &str) -> Result<(), JsonBodyError> {
    let bytes = text.as_bytes();
    let mut run = 0usize;
    let has_long_run = bytes.iter().any(|b| {
        run = if b.is_ascii_digit() { run + 1 } else { 0 };
        run >= SHORTEST_RISKY_DIGITS
    });
    if !has_long_run {
        return Ok(());
    }
    let mut strings = Strings::default();
    let mut at = 0;
    while at < bytes.len() {
        let b = bytes[at];
        let starts_number = strings.outside(b)
            && (b == b'-' || b.is_ascii_digit())
            && (at == 0
                || !(bytes[at - 1].is_ascii_alphanumeric()
                    || matches!(bytes[at - 1], b'_' | b'$')));
        if !starts_number {
            at += 1;
            continue;
        }
        let start = at;
        at += 1;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        let is_double = at < bytes.len() && matches!(bytes[at], b'.' | b'e' | b'E');
        if is_double {
            while at < bytes.len()
                && matches!(bytes[at], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
            {
                at += 1;
            }
            continue;
        }
        let token = &text[start..at];
        if token.parse::<i64>().is_err() && token.parse::<u64>().is_err() && token != "-" {
            let shown: String = token.chars().take(40).collect();
            let ellipsis = if token.len() > shown.len() { "…" } else { "" };
            return Err(JsonBodyError::IntegerBeyond64Bits(format!(
                "{shown}{ellipsis}"
            )));
        }
    }
    Ok(())
}

/// Whether any string or key of `value` holds the NUL character: a body parsed otherwise than
/// by [`parse_body`] (a lenient form, JSON inside a string) is checked with this.
pub fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, field)| key.contains('\0') || holds_nul(field)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Refuses, in its dialect's format `E`, a request whose head (request line and headers) is
/// longer than `head_limit` bytes (431; hyper itself refuses only heads four times as long, its
/// buffer's bound, and with an empty body that no dialect's client can read), or whose
/// `Content-Length` declares a body over `body_limit` bytes (413, before a byte of it is read:
/// it was read up to the limit first, and a client that asked `Expect: 100-continue` was told
/// to send it).
pub async fn refuse_oversized<E>(
    head_limit: usize,
    body_limit: usize,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response
where
    E: From<JsonBodyError> + IntoResponse,
{
    let declared_body = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok())
        .and_then(|length| length.trim().parse::<u64>().ok());
    let refusal = if head_size(&request) > head_limit {
        Some((
            JsonBodyError::HeadTooLarge(head_limit),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        ))
    } else if declared_body.is_some_and(|length| length > body_limit as u64) {
        Some((
            JsonBodyError::BodyTooLarge(body_limit),
            StatusCode::PAYLOAD_TOO_LARGE,
        ))
    } else {
        None
    };
    match refusal {
        Some((error, status)) => {
            let mut response = E::from(error).into_response();
            *response.status_mut() = status;
            response
        }
        None => next.run(request).await,
    }
}

/// The size of a request's head as HTTP/1.1 sends it: the request line, each header as
/// `name: value` and its line end, and the empty line.
fn head_size(request: &axum::extract::Request) -> usize {
    let target = request
        .uri()
        .path_and_query()
        .map_or(1, |target| target.as_str().len());
    let line = request.method().as_str().len() + " ".len() + target + " HTTP/1.1\r\n".len();
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + ": ".len() + value.len() + "\r\n".len())
        .sum();
    line + headers + "\r\n".len()
}

/// Refuses, in its dialect's format `E`, a request whose path or query carries the NUL
/// character (`%00`), as [`parse_body`] refuses a body holding one: no stored text can hold
/// it, so a filter holding one would only fail in the store.
pub async fn refuse_nul_in_uri<E>(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response
where
    E: From<JsonBodyError> + IntoResponse,
{
    let carries_nul = request.uri().path_and_query().is_some_and(|target| {
        target
            .as_str()
            .as_bytes()
            .windows(3)
            .any(|window| window == b"%00")
    });
    if carries_nul {
        return E::from(JsonBodyError::NulCharacter).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_parsed_or_refused_with_a_reason() {
        assert_eq!(parse_body(b"", 4), Ok(Value::Null));
        assert_eq!(
            parse_body(br#"{"a":[1,{"b":"]]]]"}]}"#, 3).map(|v| v["a"][0].clone()),
            Ok(Value::from(1))
        );
        assert_eq!(parse_body(b"[[[[1]]]]", 3), Err(JsonBodyError::TooDeep(3)));
        assert_eq!(parse_body(&[0xff, 0xfe], 3), Err(JsonBodyError::NotUtf8));
        assert!(matches!(
            parse_body(b"{'a':1}", 3),
            Err(JsonBodyError::Syntax(_))
        ));
        for nul in [
            &br#"{"name":"a\u0000b"}"#[..],
            br#"{"a\u0000":1}"#,
            br#"[[{"deep":["\u0000"]}]]"#,
        ] {
            assert_eq!(parse_body(nul, 8), Err(JsonBodyError::NulCharacter));
        }
        assert!(parse_body(br#"{"name":"a\u0001b"}"#, 8).is_ok());
        let deep = "[".repeat(100_000);
        assert_eq!(
            parse_body(deep.as_bytes(), 64),
            Err(JsonBodyError::TooDeep(64))
        );
    }

    #[test]
    fn the_deepest_nesting_allowed_is_parsed() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let deepest = nested(MAX_JSON_DEPTH);
        assert!(parse_body(deepest.as_bytes(), MAX_JSON_DEPTH).is_ok());
        let deeper = nested(MAX_JSON_DEPTH + 1);
        assert_eq!(
            parse_body(deeper.as_bytes(), MAX_JSON_DEPTH),
            Err(JsonBodyError::TooDeep(MAX_JSON_DEPTH))
        );
        // serde_json's own limit, which a larger setting cannot lift.
        assert!(matches!(
            parse_body(deeper.as_bytes(), MAX_JSON_DEPTH + 1),
            Err(JsonBodyError::Syntax(_))
        ));
    }

    #[test]
    fn integers_beyond_64_bits_are_refused_not_rounded() {
        for kept in [
            r#"{"n":18446744073709551615,"m":-9223372036854775808}"#,
            r#"{"id":"123456789012345678901234","big":1.5e300,"f":12345678901234567890123.5}"#,
            r#"[1234567890123456789e2, 0.12345678901234567890123, "a\"12345678901234567890123"]"#,
        ] {
            let parsed = parse_body(kept.as_bytes(), 8);
            assert!(parsed.is_ok(), "{kept}: {parsed:?}");
        }
        assert_eq!(
            parse_body(br#"{"n":18446744073709551615}"#, 8).map(|v| v["n"].to_string()),
            Ok("18446744073709551615".to_owned())
        );
        for (refused, digits) in [
            (r#"{"n":18446744073709551616}"#, "18446744073709551616"),
            (
                r#"{"a":[1,{"b":-9223372036854775809}]}"#,
                "-9223372036854775809",
            ),
            (
                r#"{"s":"x","n":123456789012345678901234}"#,
                "123456789012345678901234",
            ),
        ] {
            assert_eq!(
                parse_body(refused.as_bytes(), 8),
                Err(JsonBodyError::IntegerBeyond64Bits(digits.to_owned())),
                "{refused}"
            );
        }
        let long = format!("[{}]", "9".repeat(100));
        assert_eq!(
            parse_body(long.as_bytes(), 8),
            Err(JsonBodyError::IntegerBeyond64Bits(format!(
                "{}…",
                "9".repeat(40)
            )))
        );
        // The lenient forms' bare keys may end in digits; they are no numbers.
        assert_eq!(check_integers("{ k12345678901234567890123: 1 }"), Ok(()));
        assert_eq!(check_integers("{ $12345678901234567890123: 1 }"), Ok(()));
        assert!(check_integers("{ k: 12345678901234567890123 }").is_err());
    }

    #[tokio::test]
    async fn sized_responses_carry_the_serialized_value() {
        let value = serde_json::json!({"count": 2, "results": [{"id": "a"}, {"id": "é"}]});
        let response = sized_response(&value, 4);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            HeaderValue::from_static("application/json")
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(body, serde_json::to_vec(&value).unwrap());
        // A map whose keys cannot be JSON strings is a programming error, answered as axum does.
        let bad: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert_eq!(
            sized_response(&bad, 0).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
