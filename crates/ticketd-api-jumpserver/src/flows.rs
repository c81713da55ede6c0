//! Ticket flows: `/api/v1/tickets/flows/` with legacy and v4 rule forms.

use axum::Router;
use ticketd_http::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
}
