//! Ticket routes: lists, details, open, approve, reject, close, bulk, comments, super-tickets, audits.

use axum::Router;
use ticketd_http::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
}
