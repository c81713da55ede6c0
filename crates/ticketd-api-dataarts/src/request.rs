//! The request extractor: body within limits, `X-Auth-Token` or AK/SK authentication, path, query and workspace.

use crate::error::{self, ApiError};
use crate::signing::{self, SignatureError, SignedRequest};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, RawPathParams, Request};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::Value;
use ticketd_core::identity::Org;
use ticketd_core::ids::AccessKeyId;
use ticketd_core::{Actor, DomainError};
use ticketd_http::AppState;
use ticketd_http::auth::AuthError;

/// Longest accepted `project_id` (Huawei's are 32 hex characters).
const MAX_PROJECT_ID: usize = 64;

/// One authenticated DataArts call, with everything the handlers read from the request.
#[derive(Debug)]
pub(crate) struct Call {
    /// The caller.
    pub(crate) actor: Actor,
    /// `{project_id}` of the path: the tickets' partition key.
    pub(crate) project_id: String,
    /// `{id}` of the path, when the route has one.
    pub(crate) id: Option<String>,
    /// The query's pairs, decoded, in the order sent.
    pub(crate) query: Vec<(String, String)>,
    /// The `workspace` header, when sent.
    pub(crate) workspace: Option<String>,
    /// The raw body.
    pub(crate) body: Bytes,
}

impl FromRequest<AppState> for Call {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = request.into_parts();
        let params = RawPathParams::from_request_parts(&mut parts, state)
            .await
            .map_err(|rejection| {
                ApiError::invalid(format!("invalid path: {}", rejection.body_text()))
            })?;
        let mut project_id = String::new();
        let mut id = None;
        for (name, value) in &params {
            match name {
                "project_id" => value.clone_into(&mut project_id),
                "id" => id = Some(value.to_owned()),
                _ => {}
            }
        }
        // Routes are not nested today, but the signature covers the path the client sent, so
        // read it from `OriginalUri` in case they ever are.
        let uri: Uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.clone(), |original| original.0.clone());
        let method = parts.method.clone();
        let headers = parts.headers.clone();
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::body_too_large()
                } else {
                    ApiError::invalid(format!("unreadable body: {}", rejection.body_text()))
                }
            })?;
        let actor = authenticate(state, &method, &uri, &headers, &body).await?;
        if project_id.is_empty()
            || project_id.chars().count() > MAX_PROJECT_ID
            || project_id.chars().any(|c| c.is_control() || c == '/')
        {
            return Err(ApiError::invalid(format!(
                "project_id must be 1 to {MAX_PROJECT_ID} characters, without a slash or a control character"
            )));
        }
        // A workspace may be named by its name, which may be Chinese: the SDK sends the header
        // as UTF-8 (and signs it so), which `to_str` refused as not ASCII.
        let workspace = match headers.get("workspace") {
            None => None,
            Some(value) => match std::str::from_utf8(value.as_bytes()) {
                Ok(text) if text.trim().is_empty() => None,
                Ok(text) => Some(text.trim().to_owned()),
                Err(_not_utf8) => {
                    return Err(ApiError::invalid("the workspace header must be UTF-8"));
                }
            },
        };
        Ok(Self {
            actor,
            project_id,
            id,
            query: signing::query_pairs(uri.query()),
            workspace,
            body,
        })
    }
}

impl Call {
    /// The body as JSON within the depth limit (`null` when empty).
    pub(crate) fn json(&self, state: &AppState) -> Result<Value, ApiError> {
        Ok(ticketd_http::json::parse_body(
            &self.body,
            state.settings.json_max_depth,
        )?)
    }

    /// The organization the `workspace` header names (an id or a name); 400 when it is missing.
    pub(crate) async fn workspace(&self, state: &AppState) -> Result<Org, ApiError> {
        let Some(raw) = &self.workspace else {
            return Err(ApiError::invalid("the workspace header is required"));
        };
        resolve_workspace(state, &self.actor, raw).await
    }
}

/// Resolves a workspace id or name the actor may enter.
pub(crate) async fn resolve_workspace(
    state: &AppState,
    actor: &Actor,
    raw: &str,
) -> Result<Org, ApiError> {
    match state.engine.resolve_org(actor, raw).await {
        Ok(org) => Ok(org),
        Err(DomainError::NotFound { .. } | DomainError::Forbidden { .. }) => {
            Err(ApiError::workspace(raw))
        }
        Err(other) => Err(other.into()),
    }
}

/// `X-Auth-Token` (an API token or login session of ticketd) or an AK/SK signature, not both.
async fn authenticate(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Actor, ApiError> {
    let several = |several: ticketd_http::auth::SeveralHeaders| {
        ApiError::unauthenticated(&several.to_string())
    };
    // Both credentials' headers are checked before either is used: with a token, two
    // signatures beside it were let through unread.
    let authorization = ticketd_http::auth::authorization(headers).map_err(several)?;
    let token = ticketd_http::auth::single_header(headers, "X-Auth-Token").map_err(several)?;
    let signature = authorization
        .and_then(|value| value.to_str().ok())
        .and_then(signing::parse_authorization);
    if token.is_some() && signature.is_some() {
        // Two credentials: a proxy in front may have checked the other one (the token was
        // taken and the signature beside it ignored, even an invalid one). Another scheme
        // (`Basic`, ticketd's `Token`) is no credential here, and is ignored as before.
        return Err(ApiError::unauthenticated(
            "send X-Auth-Token or an SDK-HMAC-SHA256 signed request, not both",
        ));
    }
    if let Some(value) = token {
        let token = value.to_str().map(str::trim).unwrap_or_default();
        if token.is_empty() || token.contains(' ') {
            return Err(ApiError::unauthenticated("malformed X-Auth-Token"));
        }
        return match ticketd_http::auth::authenticate_token(state, token).await {
            Ok(actor) => Ok(actor),
            Err(AuthError::Internal(inner)) => Err(inner.into()),
            Err(AuthError::Throttled(throttled)) => {
                Err(ApiError::Throttled(throttled.retry_after_secs))
            }
            Err(_refused) => Err(ApiError::unauthenticated("invalid or expired X-Auth-Token")),
        };
    }
    let Some(parsed) = signature else {
        return Err(ApiError::unauthenticated(
            "send X-Auth-Token or an SDK-HMAC-SHA256 signed request",
        ));
    };
    let params = parsed.map_err(signature_error)?;
    let Some(key_id) = AccessKeyId::parse(&params.access) else {
        return Err(signature_error(SignatureError::Mismatch));
    };
    let (key, actor) = match state.engine.access_key(key_id).await {
        Ok(found) => found,
        Err(DomainError::Unauthenticated) => {
            return Err(signature_error(SignatureError::Mismatch));
        }
        Err(other) => return Err(other.into()),
    };
    let header = |name: &str| -> Vec<Vec<u8>> {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.as_bytes().to_vec())
            .collect()
    };
    let request = SignedRequest {
        method: method.as_str(),
        raw_path: uri.path(),
        raw_query: uri.query(),
        header: &header,
        body,
    };
    signing::verify(
        &params,
        &key.secret,
        &request,
        ticketd_http::now(),
        state.settings.signature_max_skew,
    )
    .map_err(signature_error)?;
    ticketd_http::auth::admit(state, actor).map_err(|refused| match refused {
        AuthError::Throttled(throttled) => ApiError::Throttled(throttled.retry_after_secs),
        other => ApiError::unauthenticated(other.message()),
    })
}

fn signature_error(error: SignatureError) -> ApiError {
    match error {
        SignatureError::Malformed(what) => {
            ApiError::unauthenticated(&format!("invalid AK/SK request: {what}"))
        }
        SignatureError::Stale => ApiError::new(
            StatusCode::UNAUTHORIZED,
            error::AUTH_EXPIRED,
            "The X-Sdk-Date of the signed request is too far from the server time; sign it again",
        ),
        SignatureError::Mismatch => ApiError::unauthenticated("verify aksk signature fail"),
    }
}
