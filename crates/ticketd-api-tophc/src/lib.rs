//! The TopHC dialect of ticketd: /v1/ticket/* and /v1/authentication/* in TopHC's envelope.
//!
//! Every answer is the envelope `{scode, desc, message, message_cn, stack, data}` with HTTP 200
//! (404 for unknown routes under these prefixes); see [`error`] for the scode table and the
//! crate's README for the mapping onto the core.

mod batch;
pub mod error;
mod extract;
mod lenient;
#[cfg(test)]
mod parser_props;
mod processes;
mod render;
mod session;
mod tenant;
mod tickets;

use axum::Router;
use axum::routing::{any, get, post};
use ticketd_http::AppState;

pub use processes::install_default_process;

/// Every route of this dialect as `(method, path)`, the table of the README. A test checks that
/// every `.route(` of this crate is listed here, and the authorization matrix calls each one.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/authentication/login"),
    ("POST", "/v1/authentication/logout"),
    ("POST", "/v1/ticket/save"),
    ("POST", "/v1/ticket/submit"),
    ("GET", "/v1/ticket/list"),
    ("GET", "/v1/ticket/inspect"),
    ("POST", "/v1/ticket/saved/submit"),
    ("POST", "/v1/ticket/overruled/submit"),
    ("POST", "/v1/ticket/archive"),
    ("GET", "/v1/ticket/overrule"),
    ("POST", "/v1/ticket/overrule"),
    ("POST", "/v1/ticket/pass"),
    ("POST", "/v1/ticket/withdraw"),
    ("POST", "/v1/ticket/confirm"),
    ("POST", "/v1/ticket/delete"),
    ("POST", "/v1/ticket/process/create"),
    ("POST", "/v1/ticket/process/update"),
    ("POST", "/v1/ticket/process/delete"),
    ("GET", "/v1/ticket/process/inspect"),
    ("GET", "/v1/ticket/process/list"),
];

/// Every route of this dialect, each prefix with its own TopHC-shaped 404.
pub fn router(state: &AppState) -> Router<AppState> {
    let ticket = Router::new()
        .route("/save", post(tickets::save))
        .route("/submit", post(tickets::submit))
        .route("/list", get(tickets::list))
        .route("/inspect", get(tickets::inspect))
        .route("/saved/submit", post(tickets::saved_submit))
        .route("/overruled/submit", post(tickets::overruled_submit))
        .route("/archive", post(tickets::archive))
        // Documented as GET with a JSON body; POST is what a client changing state would send.
        .route("/overrule", get(tickets::overrule).post(tickets::overrule))
        .route("/pass", post(tickets::pass))
        .route("/withdraw", post(tickets::withdraw))
        .route("/confirm", post(tickets::confirm))
        .route("/delete", post(tickets::delete))
        .route("/process/create", post(processes::create))
        .route("/process/delete", post(processes::delete))
        .route("/process/update", post(processes::update))
        .route("/process/inspect", get(processes::inspect))
        .route("/process/list", get(processes::list))
        .fallback(error::route_not_found)
        // Must come after every route: it applies to the routes registered before it.
        .method_not_allowed_fallback(error::route_not_found);
    let authentication = Router::new()
        .route("/login", post(session::login))
        .route("/logout", post(session::logout))
        .fallback(error::route_not_found)
        .method_not_allowed_fallback(error::route_not_found);
    // A nested router's catch-all needs a segment after the prefix: the prefixes with a
    // trailing slash get their TopHC 404 here, not the server's JumpServer-shaped one.
    let routes = Router::new()
        .nest("/v1/ticket", ticket)
        .nest("/v1/authentication", authentication)
        .route("/v1/ticket/", any(error::route_not_found))
        .route("/v1/authentication/", any(error::route_not_found));
    ticketd_http::guarded::<error::ApiError>(routes, state, error::timed_out, error::panicked)
}
