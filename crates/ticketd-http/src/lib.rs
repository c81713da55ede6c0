//! Shared HTTP glue for every ticketd dialect: state, clock, authentication, organizations, JSON and form bodies, limits.

pub mod auth;
pub mod form;
pub mod json;
pub mod limits;
pub mod panics;
#[cfg(test)]
mod parser_props;
pub mod query;
pub mod rendered;
pub mod signature;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::sync::Arc;
use ticketd_core::Engine;

/// Settings of the HTTP edge shared by all dialects.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Time zone for rendering datetimes (dialects may override per request).
    pub time_zone: Tz,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Deepest accepted JSON nesting.
    pub json_max_depth: usize,
    /// Largest accepted `limit` of list endpoints.
    pub max_page_size: u32,
    /// How far a signed request's `Date` may be from the server clock.
    pub signature_max_skew: chrono::Duration,
    /// How long a request (reading its body included) may take before it is answered 503.
    pub request_timeout: std::time::Duration,
    /// Largest accepted request head (request line and headers), in bytes; larger ones are
    /// answered 431 in the dialect's format.
    pub header_limit: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            time_zone: chrono_tz::UTC,
            body_limit: 4 * 1024 * 1024,
            json_max_depth: 64,
            max_page_size: 1000,
            signature_max_skew: chrono::Duration::minutes(15),
            request_timeout: std::time::Duration::from_secs(30),
            header_limit: 64 * 1024,
        }
    }
}

/// What every handler receives.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The engine.
    pub engine: Engine,
    /// Edge settings.
    pub settings: Arc<HttpSettings>,
    /// Rate limiters.
    pub limits: Arc<limits::Limits>,
    /// Tickets rendered for earlier answers (lists and details).
    pub rendered: Arc<rendered::RenderedTickets>,
}

/// The current time. The HTTP edge is where the clock is read; the core is given it.
#[allow(
    clippy::disallowed_methods,
    reason = "the one place the server reads the clock"
)]
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

/// Wraps a dialect's routes in the layers every dialect carries, each answering in the
/// dialect's format (`E` for a NUL character in a path or query, `timed_out` past the request
/// timeout, `panicked` with the panic's message as the cause), innermost first: the body
/// limit, the NUL refusal, a head or declared body over its limit, the request deadline, and
/// outermost the panic layer, so that a
/// panic anywhere beneath it (the deadline's own future included) is answered.
pub fn guarded<E>(
    routes: Router<AppState>,
    state: &AppState,
    timed_out: fn() -> axum::response::Response,
    panicked: fn(String) -> axum::response::Response,
) -> Router<AppState>
where
    E: From<json::JsonBodyError> + axum::response::IntoResponse + Send + 'static,
{
    let header_limit = state.settings.header_limit;
    let body_limit = state.settings.body_limit;
    routes
        .layer(axum::extract::DefaultBodyLimit::max(
            state.settings.body_limit,
        ))
        .layer(axum::middleware::from_fn(json::refuse_nul_in_uri::<E>))
        .layer(axum::middleware::from_fn(move |request, next| {
            json::refuse_oversized::<E>(header_limit, body_limit, request, next)
        }))
        .layer(limits::deadline_layer(
            state.settings.request_timeout,
            timed_out,
        ))
        .layer(panics::panic_layer(panicked))
        .layer(axum::middleware::map_response(private_answer))
}

/// Marks an answer as one no cache keeps and no browser reads as another type than it says:
/// answers carry sessions, tokens and access-key secrets (shown once), and every one is a
/// caller's own.
async fn private_answer(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let headers = response.headers_mut();
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    response
}

/// `GET /healthz`: unauthenticated; 200 when the store answers, 503 otherwise.
pub fn health_router(state: &AppState) -> Router<AppState> {
    let header_limit = state.settings.header_limit;
    let body_limit = state.settings.body_limit;
    Router::new()
        .route("/healthz", get(healthz))
        .layer(axum::middleware::from_fn(move |request, next| {
            json::refuse_oversized::<PlainError>(header_limit, body_limit, request, next)
        }))
}

/// `{"detail": …}`, the refusal of a route of no dialect (`/healthz`).
struct PlainError(json::JsonBodyError);

impl From<json::JsonBodyError> for PlainError {
    fn from(error: json::JsonBodyError) -> Self {
        Self(error)
    }
}

impl axum::response::IntoResponse for PlainError {
    fn into_response(self) -> axum::response::Response {
        let detail = serde_json::json!({"detail": self.0.to_string()});
        (StatusCode::BAD_REQUEST, axum::Json(detail)).into_response()
    }
}

/// The longest a health check waits for the store (or the request timeout, if shorter): a
/// checker waits for an answer, and a store that takes longer is not healthy.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

async fn healthz(State(state): State<AppState>) -> (StatusCode, axum::Json<serde_json::Value>) {
    let limit = state.settings.request_timeout.min(HEALTH_TIMEOUT);
    let answer = tokio::time::timeout(limit, state.engine.store().ping())
        .await
        .unwrap_or_else(|_elapsed| {
            Err(ticketd_core::StoreError::Unavailable(format!(
                "no answer within {} ms",
                limit.as_millis()
            )))
        });
    match answer {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok"})),
        ),
        Err(error) => {
            tracing::warn!(%error, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "unavailable"})),
            )
        }
    }
}
