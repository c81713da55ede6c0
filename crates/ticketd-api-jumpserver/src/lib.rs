//! The JumpServer dialect: `/api/v1/...` routes in JumpServer's wire shapes over the ticketd core.

mod admin;
mod choices;
mod error;
mod extract;
mod flows;
mod format;
mod listing;
pub mod openapi;
#[cfg(test)]
mod parser_props;
mod perms;
mod tickets;
mod users;

pub use error::ApiError;

use axum::Router;
use ticketd_http::AppState;

/// Every JumpServer route, with the dialect's JSON 404 for unknown paths.
pub fn router(state: &AppState) -> Router<AppState> {
    let routes = Router::new()
        .merge(users::router())
        .merge(admin::router())
        .merge(flows::router())
        .merge(perms::router())
        .merge(tickets::router())
        .merge(openapi::router())
        .fallback(error::not_found)
        // Must come after every route: it applies to the routes registered before it.
        .method_not_allowed_fallback(error::method_not_allowed);
    ticketd_http::guarded::<error::ApiError>(routes, state, error::timed_out, error::panicked)
}
