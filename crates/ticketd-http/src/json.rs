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
}

impl std::fmt::Display for JsonBodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotUtf8 => write!(f, "JSON parse error - body is not valid UTF-8"),
            Self::TooDeep(max) => write!(f, "JSON parse error - nesting deeper than {max} levels"),
            Self::Syntax(message) => write!(f, "JSON parse error - {message}"),
            // Django's words (`ProhibitNullCharactersValidator`), which JumpServer answers.
            Self::NulCharacter => write!(f, "Null characters are not allowed."),
        }
    }
}

/// Nesting depth of a JSON text (brackets outside strings), stopping early past `max`.
fn exceeds_depth(bytes: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
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
    Ok(value)
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
