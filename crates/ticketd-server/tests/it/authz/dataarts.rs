//! DataArts' rows of the authorization matrix: routes from `ticketd_api_dataarts::ROUTES`, classified by rules.

use super::{
    Access, Answer, Dialect, Outcome, PROJECT, Req, Role, Route, Shape, Stage, World, nothing,
    request, ticket,
};
use crate::dataarts::EXPIRE_MS;
use serde_json::{Value, json};
use ticketd_core::TicketId;

fn apply_body(w: &World, table: &str) -> Value {
    json!({
        "approver": {
            "id": w.user_id(Role::Admin),
            "name": Role::Admin.username(),
            "type": 0,
            "workspace_id": w.alpha_id(),
            "table_approver_type": "SECURITY_MANAGER",
        },
        "table_info": {
            "instance_id": "inst-1",
            "datasource_type": "dli",
            "cluster_id": "DLI",
            "database_name": "sales",
            "table_name": table,
            "expire_time": EXPIRE_MS,
        },
        "reason": "for the matrix",
    })
}

/// An application made through DataArts by the applicant (the fixtures' template).
pub(crate) async fn template(w: &World) -> TicketId {
    let path = format!("/v1/{PROJECT}/security/permission-application/table");
    let req = Req::new("POST", path)
        .header("workspace", w.alpha_id())
        .body(apply_body(w, "marmalade_template"));
    let (status, answer) = super::setup_call(w, Dialect::Dataarts, Role::Applicant, req).await;
    assert_eq!(status, 200, "{answer}");
    TicketId::parse(answer["application_id"].as_str().unwrap()).unwrap()
}

fn code_outcome(code: &str) -> Outcome {
    match code {
        "APIGW.0301" | "APIGW.0307" => Outcome::Unauthenticated,
        "DLS.1001" | "DLS.1003" | "DLS.1004" => Outcome::Denied,
        "DLS.1002" => Outcome::Conflict,
        _ => Outcome::Other,
    }
}

/// The dialect's reading of an answer: status and `error_code` (a batch: its items').
pub(crate) fn outcome(route: &Route, answer: &Answer) -> Outcome {
    if (200..300).contains(&answer.status) {
        if !route.batch {
            return Outcome::Success;
        }
        let items: Vec<Outcome> = answer
            .json
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| match i["status"].as_str() {
                        Some("SUCCESS") => Outcome::Success,
                        _ => code_outcome(
                            i["message"]
                                .as_str()
                                .unwrap_or_default()
                                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
                                .next()
                                .unwrap_or_default(),
                        ),
                    })
                    .collect()
            })
            .unwrap_or_default();
        return match items.first() {
            Some(first) if items.iter().all(|i| i == first) => *first,
            _ => Outcome::Other,
        };
    }
    let outcome = code_outcome(answer.json["error_code"].as_str().unwrap_or_default());
    let status_fits = match outcome {
        Outcome::Unauthenticated => answer.status == 401,
        Outcome::Denied => answer.status == 403 || answer.status == 404,
        Outcome::Conflict => answer.status == 409,
        _ => false,
    };
    if status_fits { outcome } else { Outcome::Other }
}

fn classify(method: &'static str, path: &'static str) -> Option<Route> {
    let name = format!("{method} {path}");
    let concrete = path.replace("{project_id}", PROJECT);
    let relative = path.strip_prefix("/v1/{project_id}/security/")?;
    let route = |access, right, fixture, request| {
        Route::new(
            Dialect::Dataarts,
            name.clone(),
            access,
            right,
            fixture,
            request,
        )
    };
    let in_alpha = |w: &World, req: Req| req.header("workspace", w.alpha_id());
    let pending = || ticket(Shape::Dataarts, Stage::Pending);
    Some(match (method, relative) {
        ("GET", "openapi/permission-approve/approvals") => route(
            Access::TicketList,
            Role::Applicant,
            pending(),
            request(move |w, _, _| in_alpha(w, Req::new(method, format!("{concrete}?limit=200")))),
        ),
        ("POST", "permission-approve/approve/{id}" | "permission-approve/reject/{id}") => route(
            Access::Decide,
            Role::Approver1,
            pending(),
            request(move |w, made, _| {
                in_alpha(
                    w,
                    Req::new(method, concrete.replace("{id}", &made.ticket_id()))
                        .body(json!({"reason": "decided in a cell"})),
                )
            }),
        )
        .changes_ticket(),
        (
            "POST",
            "openapi/permission-approve/batch-approve" | "openapi/permission-approve/batch-reject",
        ) => route(
            Access::Decide,
            Role::Approver1,
            pending(),
            request(move |w, made, _| {
                in_alpha(
                    w,
                    Req::new(method, concrete.clone())
                        .body(json!({"reason": "decided in a cell", "ids": [made.ticket_id()]})),
                )
            }),
        )
        .changes_ticket()
        .batch(),
        ("POST", "permission-application/table/approvers") => route(
            Access::Member,
            Role::Applicant,
            nothing(),
            request(move |w, _, _| {
                in_alpha(
                    w,
                    Req::new(method, concrete.clone()).body(json!({"datasource_type": "dli",
                        "database_name": "sales", "table_name": "orders"})),
                )
            }),
        ),
        ("POST", "permission-application/table") => route(
            Access::Member,
            Role::Applicant,
            nothing(),
            request(move |w, _, _| {
                let table = format!("opened_in_cell_{}", w.next());
                in_alpha(
                    w,
                    Req::new(method, concrete.clone()).body(apply_body(w, &table)),
                )
            }),
        ),
        ("PUT", "permission-application/applications/{id}") => route(
            Access::Applicant,
            Role::Applicant,
            pending(),
            request(move |w, made, _| {
                in_alpha(
                    w,
                    Req::new(method, concrete.replace("{id}", &made.ticket_id())),
                )
            }),
        )
        .changes_ticket(),
        _ => return None,
    })
}

/// Every API of the catalogue, classified; panics on one no rule knows.
pub(crate) fn routes() -> Vec<Route> {
    let mut unknown = Vec::new();
    let routes = ticketd_api_dataarts::ROUTES
        .iter()
        .filter_map(|(method, path, sdk)| {
            let route = classify(method, path);
            if route.is_none() {
                unknown.push(format!("{sdk}: {method} {path}"));
            }
            route
        })
        .collect();
    assert!(
        unknown.is_empty(),
        "DataArts APIs no rule of the authorization matrix classifies: {unknown:#?}"
    );
    routes
}
