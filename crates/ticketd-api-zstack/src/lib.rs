//! The ZStack dialect of ticketd: IAM2 tickets and flow collections under /zstack/v1 and the message API.

use axum::Router;
use ticketd_http::AppState;

/// Every route of this dialect.
pub fn router(_state: &AppState) -> Router<AppState> {
    Router::new()
}
