//! Authentication shared by every dialect: `Token`/`Bearer` tokens and HTTP Signatures.

use crate::limits::Throttled;
use crate::signature::{self, SignatureError};
use crate::{AppState, now};
use axum::http::request::Parts;
use ticketd_core::ids::AccessKeyId;
use ticketd_core::{Actor, DomainError};

/// Why a request is not authenticated. Dialects render these in their own error format.
#[derive(Debug)]
pub enum AuthError {
    /// No credentials at all (or a scheme no dialect uses).
    Missing,
    /// `Bearer`/`Token` without a token, or with spaces in it.
    MalformedToken,
    /// An unknown, expired or revoked token, or an inactive user.
    InvalidToken,
    /// A signature that fails verification.
    InvalidSignature(SignatureError),
    /// Authenticated, but over the request rate limit (or, for a login, over the attempts
    /// allowed for that account name).
    Throttled(Throttled),
    /// The store failed while checking.
    Internal(DomainError),
}

impl AuthError {
    /// JumpServer's message for the failure (DRF wording, which clients match on).
    pub fn message(&self) -> &'static str {
        match self {
            Self::Missing => "Authentication credentials were not provided.",
            Self::MalformedToken => "Invalid token header. No credentials provided.",
            Self::InvalidToken => "Invalid token.",
            Self::InvalidSignature(SignatureError::StaleDate) => {
                "Invalid signature: the Date header is missing or too far from the server clock."
            }
            Self::InvalidSignature(_) => "Invalid signature.",
            Self::Throttled(_) => "Request was throttled.",
            Self::Internal(_) => "Authentication is temporarily unavailable.",
        }
    }
}

fn header_text(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Several headers of one credential in one request (`Authorization`, DataArts'
/// `X-Auth-Token`), which no dialect reads.
#[derive(Debug)]
pub struct SeveralHeaders(pub &'static str);

impl std::fmt::Display for SeveralHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the request has several {} headers: send one", self.0)
    }
}

/// A request's header `name` carrying a credential, if it has one; several are refused:
/// taking the first, as we did, a request whose proxy had checked (or added) another was let
/// in on this one, and Django reads them joined, which no scheme accepts.
pub fn single_header<'a>(
    headers: &'a axum::http::HeaderMap,
    name: &'static str,
) -> Result<Option<&'a axum::http::HeaderValue>, SeveralHeaders> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    match values.next() {
        None => Ok(first),
        Some(_) => Err(SeveralHeaders(name)),
    }
}

/// A request's `Authorization` header ([`single_header`]).
pub fn authorization(
    headers: &axum::http::HeaderMap,
) -> Result<Option<&axum::http::HeaderValue>, SeveralHeaders> {
    single_header(headers, "Authorization")
}

/// Authenticates a request from its `Authorization` header.
pub async fn authenticate(state: &AppState, parts: &Parts) -> Result<Actor, AuthError> {
    let Some(value) =
        authorization(&parts.headers).map_err(|_several| AuthError::MalformedToken)?
    else {
        return Err(AuthError::Missing);
    };
    let Ok(value) = value.to_str() else {
        return Err(AuthError::MalformedToken);
    };
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "token" | "bearer" => {
            let token = rest.trim();
            if token.is_empty() || token.contains(' ') {
                return Err(AuthError::MalformedToken);
            }
            authenticate_token(state, token).await
        }
        "signature" => authenticate_signature(state, parts, rest).await,
        _ => Err(AuthError::Missing),
    }
}

/// Checks a bearer-style token (API token or login session).
pub async fn authenticate_token(state: &AppState, token: &str) -> Result<Actor, AuthError> {
    match state.engine.authenticate_token(token, now()).await {
        Ok(actor) => admit(state, actor),
        Err(DomainError::Unauthenticated) => Err(AuthError::InvalidToken),
        Err(other) => Err(AuthError::Internal(other)),
    }
}

/// Counts a request of an authenticated caller against the per-user rate limit. Every way of
/// authenticating ends here, after the credential is verified (so a forged request cannot spend
/// someone else's allowance).
pub fn admit(state: &AppState, actor: Actor) -> Result<Actor, AuthError> {
    state
        .limits
        .admit_user(actor.id())
        .map_err(AuthError::Throttled)?;
    Ok(actor)
}

/// Counts a password login attempt for the account `name` against the login rate limit;
/// dialects call it before checking the password.
pub fn admit_login(state: &AppState, name: &str) -> Result<(), AuthError> {
    state.limits.admit_login(name).map_err(AuthError::Throttled)
}

async fn authenticate_signature(
    state: &AppState,
    parts: &Parts,
    params: &str,
) -> Result<Actor, AuthError> {
    let params = signature::parse_params(params).map_err(AuthError::InvalidSignature)?;
    let key_id = AccessKeyId::parse(&params.key_id)
        .ok_or(AuthError::InvalidSignature(SignatureError::Mismatch))?;
    let (key, actor) = match state.engine.access_key(key_id).await {
        Ok(found) => found,
        Err(DomainError::Unauthenticated) => {
            return Err(AuthError::InvalidSignature(SignatureError::Mismatch));
        }
        Err(other) => return Err(AuthError::Internal(other)),
    };
    // The path as the client sent and signed it: inside a dialect's nested router `parts.uri`
    // has lost the mount point (TopHC's `/v1/ticket`), and no client signs that.
    let uri = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or(&parts.uri, |original| &original.0);
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.to_string());
    let headers = |name: &str| {
        if name == "host" {
            return header_text(parts, "host")
                .or_else(|| parts.uri.authority().map(ToString::to_string));
        }
        header_text(parts, name)
    };
    signature::verify(
        &params,
        &key.secret,
        parts.method.as_str(),
        &path_and_query,
        &headers,
        now(),
        state.settings.signature_max_skew,
    )
    .map_err(AuthError::InvalidSignature)?;
    admit(state, actor)
}

/// The organization a request names: the `oid` query parameter (its last value, as Django
/// reads a repeated one), else the `X-JMS-ORG` header.
pub fn requested_org(parts: &Parts) -> Option<String> {
    let from_query = crate::query::pairs(parts.uri.query())
        .filter_map(|(key, value)| (key == "oid").then_some(value))
        .last();
    from_query.or_else(|| header_text(parts, "x-jms-org"))
}

#[cfg(test)]
mod tests {
    use super::requested_org;

    #[test]
    fn the_last_oid_names_the_organization_else_the_header() {
        let parts = |uri: &str, header: Option<&str>| {
            let mut request = axum::http::Request::builder().uri(uri);
            if let Some(org) = header {
                request = request.header("x-jms-org", org);
            }
            request.body(()).unwrap().into_parts().0
        };
        assert_eq!(
            requested_org(&parts("/x/?oid=Other&oid=ROOT", Some("Default"))).as_deref(),
            Some("ROOT")
        );
        assert_eq!(
            requested_org(&parts("/x/?a=1", Some("Default"))).as_deref(),
            Some("Default")
        );
        assert_eq!(requested_org(&parts("/x/", None)), None);
    }
}
