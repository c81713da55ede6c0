//! The TopHC dialect of ticketd: /v1/ticket/* and /v1/authentication/* in TopHC's envelope.

use axum::Router;
use ticketd_http::AppState;

/// Every route of this dialect.
pub fn router(_state: &AppState) -> Router<AppState> {
    Router::new()
}
