//! Extractors: the caller behind `Authorization`, and the parameters of a call from its query string and body.

use crate::error::{ApiError, Scode};
use crate::lenient;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde_json::{Map, Value};
use ticketd_core::Actor;
use ticketd_http::AppState;
use ticketd_http::auth::{authenticate, authenticate_token};
use ticketd_http::json::{JsonBodyError, parse_body};

/// The authenticated caller and the token they presented (for logout).
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) actor: Actor,
    /// The bearer token; empty when the request was signed instead.
    pub(crate) token: String,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// `Authorization: Bearer <token>` (what TopHC's clients send); `Token <token>` and HTTP
    /// Signatures are accepted as everywhere in ticketd, and a bare `<token>` as TopHC's
    /// specification writes the header.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let header = ticketd_http::auth::authorization(&parts.headers)
            .map_err(|several| ApiError::new(Scode::Unauthenticated, several.to_string()))?;
        let Some(header) = header else {
            return Err(ApiError::new(
                Scode::Unauthenticated,
                "the Authorization header is missing",
            ));
        };
        let Ok(header) = header.to_str() else {
            return Err(ApiError::new(
                Scode::Unauthenticated,
                "the Authorization header is not text",
            ));
        };
        let header = header.trim();
        let caller = match header.split_once(' ') {
            Some((scheme, rest)) => {
                let actor = authenticate(state, parts).await?;
                let bearer = matches!(scheme.to_ascii_lowercase().as_str(), "bearer" | "token");
                Caller {
                    actor,
                    token: if bearer {
                        rest.trim().to_owned()
                    } else {
                        String::new()
                    },
                }
            }
            None if header.is_empty()
                || header.eq_ignore_ascii_case("bearer")
                || header.eq_ignore_ascii_case("token") =>
            {
                return Err(ApiError::new(
                    Scode::Unauthenticated,
                    "the Authorization header carries no token",
                ));
            }
            None => Caller {
                actor: authenticate_token(state, header).await?,
                token: header.to_owned(),
            },
        };
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// The parameters of a call: the body's members, then the query string's.
///
/// TopHC documents GET calls with JSON bodies and real clients send query strings, so both are
/// read for every call; a body member wins over a query parameter of the same name.
#[derive(Debug, Default)]
pub(crate) struct Input {
    /// The body's members (empty when there is no body).
    pub(crate) body: Map<String, Value>,
    query: Vec<(String, String)>,
}

impl FromRequest<AppState> for Input {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let query: Vec<(String, String)> =
            ticketd_http::query::pairs(request.uri().query()).collect();
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                let mut error = ApiError::parse(rejection.body_text());
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    error.too_large();
                }
                error
            })?;
        let value = match parse_body(&bytes, state.settings.json_max_depth) {
            Ok(value) => value,
            Err(JsonBodyError::Syntax(strict)) => {
                // Valid UTF-8 and within the depth limit, but not JSON: try the documents' forms.
                let text = String::from_utf8_lossy(&bytes);
                let relaxed =
                    lenient::parse(&text, state.settings.json_max_depth).map_err(|relaxed| {
                        ApiError::parse(format!("JSON parse error - {strict} ({relaxed})"))
                    })?;
                if ticketd_http::json::holds_nul(&relaxed) {
                    return Err(JsonBodyError::NulCharacter.into());
                }
                ticketd_http::json::check_integers(&text)?;
                relaxed
            }
            Err(other) => return Err(other.into()),
        };
        let body = match value {
            Value::Null => Map::new(),
            Value::Object(map) => map,
            _ => return Err(ApiError::parse("the body must be a JSON object")),
        };
        Ok(Self { body, query })
    }
}

impl Input {
    /// Parameters given as an object (for internal calls and tests).
    #[cfg(test)]
    pub(crate) fn from_body(body: Map<String, Value>) -> Self {
        Self {
            body,
            query: Vec::new(),
        }
    }

    fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// A text parameter as given (numbers are read as their text); `None` when absent or null.
    pub(crate) fn text(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.body.get(name) {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Null) | None => Ok(self.query_value(name).map(str::to_owned)),
            Some(_) => Err(ApiError::parse(format!("{name} must be a string"))),
        }
    }

    /// A text parameter, trimmed; `None` when absent, null or blank.
    pub(crate) fn opt(&self, name: &str) -> Result<Option<String>, ApiError> {
        Ok(self
            .text(name)?
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()))
    }

    /// A non-negative integer parameter (a number or its text); blank is absent.
    pub(crate) fn uint(&self, name: &str) -> Result<Option<u64>, ApiError> {
        let bad = || ApiError::parse(format!("{name} must be a non-negative integer"));
        match self.body.get(name) {
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(bad),
            Some(Value::String(s)) if !s.trim().is_empty() => {
                s.trim().parse().map(Some).map_err(|_parse_error| bad())
            }
            Some(Value::String(_) | Value::Null) | None => match self.query_value(name) {
                Some(text) if !text.trim().is_empty() => {
                    text.trim().parse().map(Some).map_err(|_parse_error| bad())
                }
                _ => Ok(None),
            },
            Some(_) => Err(bad()),
        }
    }

    /// A list parameter: a JSON array in the body, or in the query string `name=a&name=b` or
    /// `name=a,b`; `None` when absent.
    pub(crate) fn list(&self, name: &str) -> Result<Option<Vec<Value>>, ApiError> {
        match self.body.get(name) {
            Some(Value::Array(items)) => Ok(Some(items.clone())),
            Some(Value::Null) | None => {
                let items: Vec<Value> = self
                    .query
                    .iter()
                    .filter(|(key, _)| key == name || key == &format!("{name}[]"))
                    .flat_map(|(_, value)| value.split(','))
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| Value::String(v.to_owned()))
                    .collect();
                let given = self
                    .query
                    .iter()
                    .any(|(key, _)| key == name || key == &format!("{name}[]"));
                Ok(given.then_some(items))
            }
            Some(_) => Err(ApiError::parse(format!("{name} must be a list"))),
        }
    }

    /// A structured parameter from the body, as given.
    pub(crate) fn value(&self, name: &str) -> Option<&Value> {
        self.body.get(name).filter(|v| !v.is_null())
    }

    /// An id written alone in the body, as `{ "<id>" }`: a member with no value whose name is
    /// not one of the call's parameter names.
    pub(crate) fn bare_member(&self, known: &[&str]) -> Option<String> {
        self.body
            .iter()
            .find(|(key, value)| value.is_null() && !known.contains(&key.as_str()))
            .map(|(key, _)| key.trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(body: Value, query: &[(&str, &str)]) -> Input {
        let mut input = Input::from_body(body.as_object().cloned().unwrap_or_default());
        input.query = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        input
    }

    #[test]
    fn body_members_win_over_the_query_string_and_blanks_are_absent() {
        let i = input(
            json!({"a": "body", "n": 3, "blank": " ", "nul": null}),
            &[("a", "query"), ("nul", "q"), ("page", "2")],
        );
        assert_eq!(i.opt("a").unwrap().as_deref(), Some("body"));
        assert_eq!(i.text("n").unwrap().as_deref(), Some("3"));
        assert_eq!(i.opt("blank").unwrap(), None);
        assert_eq!(i.opt("nul").unwrap().as_deref(), Some("q"));
        assert_eq!(i.uint("page").unwrap(), Some(2));
        assert_eq!(i.uint("n").unwrap(), Some(3));
        assert_eq!(i.uint("missing").unwrap(), None);
    }

    #[test]
    fn mistyped_parameters_are_parse_errors() {
        let i = input(json!({"a": [1], "n": -1, "s": "x"}), &[("q", "y")]);
        assert_eq!(i.text("a").unwrap_err().scode, Scode::Parse);
        assert_eq!(i.uint("n").unwrap_err().scode, Scode::Parse);
        assert_eq!(i.uint("s").unwrap_err().scode, Scode::Parse);
        assert_eq!(i.uint("q").unwrap_err().scode, Scode::Parse);
        assert_eq!(i.list("s").unwrap_err().scode, Scode::Parse);
    }

    #[test]
    fn lists_come_from_the_body_or_repeated_or_comma_separated_query_values() {
        let i = input(json!({}), &[("list", "a,b"), ("list", "c")]);
        assert_eq!(
            i.list("list").unwrap().unwrap(),
            vec![json!("a"), json!("b"), json!("c")]
        );
        assert_eq!(i.list("other").unwrap(), None);
        let i = input(json!({"list": ["x"]}), &[("list", "y")]);
        assert_eq!(i.list("list").unwrap().unwrap(), vec![json!("x")]);
    }

    #[test]
    fn a_lone_id_in_the_body_is_found() {
        let i = input(json!({"0190-id": null, "ticket_uuid": null}), &[]);
        assert_eq!(i.bare_member(&["ticket_uuid"]).as_deref(), Some("0190-id"));
        let i = input(json!({"ticket_uuid": null}), &[]);
        assert_eq!(i.bare_member(&["ticket_uuid"]), None);
    }
}
