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
use axum::routing::{any, post};
use ticketd_http::AppState;

/// One REST operation of the catalogue (the README's API table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestOperation {
    /// HTTP method.
    pub method: &'static str,
    /// Full path, `/zstack/v1/…`, with `{uuid}` for the path variable.
    pub path: String,
    /// The message class the operation runs; the message API accepts the same class.
    pub message_class: &'static str,
    /// The parameter the path variable fills (`uuid`, `sessionUuid`, `ticketFlowCollectionUuid`).
    pub path_param: Option<&'static str>,
    /// The body key of an action or a login (`changeTicketStatus`, `logInByAccount`, …).
    pub action: Option<&'static str>,
}

/// Every REST operation this dialect serves. A test checks that every `.route(` of this crate
/// is in this catalogue (or is the message API), and the authorization matrix calls each one.
pub fn rest_operations() -> Vec<RestOperation> {
    rest::OPERATIONS
        .iter()
        .map(|&(method, path, api, path_param)| RestOperation {
            method,
            path: format!("/zstack{path}"),
            message_class: api.message_class(),
            path_param,
            action: api.action_name(),
        })
        .collect()
}

/// The paths of the message API, `POST` only.
pub const MESSAGE_API_PATHS: [&str; 2] = ["/zstack/api", "/zstack/api/"];

/// Every message class `POST /zstack/api/` serves.
pub fn message_classes() -> Vec<&'static str> {
    api::Api::message_classes().collect()
}

/// Every route of this dialect, nested under `/zstack` with ZStack's own 404 and 405 there.
pub fn router(state: &AppState) -> Router<AppState> {
    let routes = rest::router()
        .route("/api", post(message::handle))
        .route("/api/", post(message::handle))
        .fallback(rest::no_route)
        // Must come after every route: it applies to the routes registered before it.
        .method_not_allowed_fallback(rest::method_not_allowed);
    // The nested catch-all needs a segment after `/zstack/`: that path gets ZStack's 404 here,
    // not the server's JumpServer-shaped one.
    let routes = Router::new()
        .nest("/zstack", routes)
        .route("/zstack/", any(rest::no_route));
    ticketd_http::guarded::<error::ZsError>(routes, state, error::timed_out, error::panicked)
}
