//! Asset permissions created by approved tickets: `/api/v1/perms/asset-permissions/`.

use axum::Router;
use ticketd_http::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
}
