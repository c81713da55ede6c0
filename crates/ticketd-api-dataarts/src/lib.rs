//! The DataArts dialect of ticketd: data-permission approvals under /v1/{project_id}/security.

use axum::Router;
use ticketd_http::AppState;

/// Every route of this dialect.
pub fn router(_state: &AppState) -> Router<AppState> {
    Router::new()
}
