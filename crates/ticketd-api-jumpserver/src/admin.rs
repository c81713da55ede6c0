//! The admin API a self-contained deployment needs: users, organizations, assets, nodes, access keys.

use axum::Router;
use ticketd_http::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
}
