//! The ZStack dialect of ticketd: IAM2 tickets and flow collections under /zstack/v1 and the message API.

mod api;
mod collections;
mod error;
mod message;
#[cfg(test)]
mod parser_props;
mod query;
mod rest;
mod session;
mod tickets;
mod types;
mod wire;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use ticketd_http::AppState;

/// Every route of this dialect, nested under `/zstack` with ZStack's own 404 and 405 there.
pub fn router(state: &AppState) -> Router<AppState> {
    let zstack = rest::router()
        .route("/api", post(message::handle))
        .route("/api/", post(message::handle))
        .fallback(rest::no_route)
        // Must come after every route: it applies to the routes registered before it.
        .method_not_allowed_fallback(rest::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.settings.body_limit))
        .layer(ticketd_http::limits::deadline_layer(
            state.settings.request_timeout,
            error::timed_out,
        ));
    Router::new().nest("/zstack", zstack)
}
