//! The DataArts dialect of ticketd: data-permission approvals under /v1/{project_id}/security.
//!
//! Huawei Cloud DataArts Studio's DataArts Security "permission approval" APIs, served over the
//! ticketd core so that the official SDKs work against ticketd unchanged:
//!
//! | SDK name | route |
//! |---|---|
//! | ListSecurityApprovals | `GET /v1/{project_id}/security/openapi/permission-approve/approvals` |
//! | AcceptSecurityApplication | `POST /v1/{project_id}/security/permission-approve/approve/{id}` |
//! | DeclineSecurityApplication | `POST /v1/{project_id}/security/permission-approve/reject/{id}` |
//! | BatchApproveSecurityApplications | `POST /v1/{project_id}/security/openapi/permission-approve/batch-approve` |
//! | BatchRejectSecurityApplications | `POST /v1/{project_id}/security/openapi/permission-approve/batch-reject` |
//! | ListSecurityTableApprovers | `POST /v1/{project_id}/security/permission-application/table/approvers` |
//! | ApplySecurityTableAuthority | `POST /v1/{project_id}/security/permission-application/table` |
//! | UnpublishSecurityApplication | `PUT /v1/{project_id}/security/permission-application/applications/{id}` |
//!
//! Authentication: `X-Auth-Token` (a ticketd API token or login session) or Huawei's AK/SK
//! signing (`signing.rs`) with a ticketd access key. Errors: `error.rs`. Wire decisions are
//! listed in this crate's README.md.

mod applications;
mod approvals;
pub mod error;
#[cfg(test)]
mod parser_props;
mod render;
mod request;
pub mod signing;

pub use error::ApiError;

use axum::Router;
use axum::routing::{any, get, post, put};
use ticketd_http::AppState;

/// The path prefix of every DataArts Security API.
const PREFIX: &str = "/v1/{project_id}/security";

/// Every API of this dialect as `(method, path, SDK name)`, the table above. A test checks that
/// every `.route(` of this crate is listed here, and the authorization matrix calls each one.
pub const ROUTES: &[(&str, &str, &str)] = &[
    (
        "GET",
        "/v1/{project_id}/security/openapi/permission-approve/approvals",
        "ListSecurityApprovals",
    ),
    (
        "POST",
        "/v1/{project_id}/security/permission-approve/approve/{id}",
        "AcceptSecurityApplication",
    ),
    (
        "POST",
        "/v1/{project_id}/security/permission-approve/reject/{id}",
        "DeclineSecurityApplication",
    ),
    (
        "POST",
        "/v1/{project_id}/security/openapi/permission-approve/batch-approve",
        "BatchApproveSecurityApplications",
    ),
    (
        "POST",
        "/v1/{project_id}/security/openapi/permission-approve/batch-reject",
        "BatchRejectSecurityApplications",
    ),
    (
        "POST",
        "/v1/{project_id}/security/permission-application/table/approvers",
        "ListSecurityTableApprovers",
    ),
    (
        "POST",
        "/v1/{project_id}/security/permission-application/table",
        "ApplySecurityTableAuthority",
    ),
    (
        "PUT",
        "/v1/{project_id}/security/permission-application/applications/{id}",
        "UnpublishSecurityApplication",
    ),
];

/// Every route of this dialect, with DataArts-shaped 404s for unknown paths and methods under
/// its prefix (a route-level catch-all: the server's fallback belongs to the JumpServer router).
pub fn router(state: &AppState) -> Router<AppState> {
    let route = |path: &str| format!("{PREFIX}{path}");
    let routes = Router::new()
        .route(
            &route("/openapi/permission-approve/approvals"),
            get(approvals::list),
        )
        .route(
            &route("/permission-approve/approve/{id}"),
            post(approvals::accept),
        )
        .route(
            &route("/permission-approve/reject/{id}"),
            post(approvals::decline),
        )
        .route(
            &route("/openapi/permission-approve/batch-approve"),
            post(approvals::batch_approve),
        )
        .route(
            &route("/openapi/permission-approve/batch-reject"),
            post(approvals::batch_reject),
        )
        .route(
            &route("/permission-application/table/approvers"),
            post(applications::approvers),
        )
        .route(
            &route("/permission-application/table"),
            post(applications::apply),
        )
        .route(
            &route("/permission-application/applications/{id}"),
            put(applications::unpublish),
        )
        .route(PREFIX, any(error::no_such_api))
        // `{*rest}` needs a segment: the prefix with a trailing slash is routed on its own.
        .route(&route("/"), any(error::no_such_api))
        .route(&route("/{*rest}"), any(error::no_such_api))
        // Must come after every route: it applies to the routes registered before it.
        .method_not_allowed_fallback(error::no_such_api);
    ticketd_http::guarded::<error::ApiError>(routes, state, error::timed_out, error::panicked)
}
