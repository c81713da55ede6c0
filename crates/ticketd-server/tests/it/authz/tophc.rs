//! TopHC's rows of the authorization matrix: routes from `ticketd_api_tophc::ROUTES`, classified by rules.

use super::{
    Access, Answer, Dialect, Made, Outcome, Req, Role, Route, Shape, Stage, World, fixture,
    nothing, request, ticket,
};
use serde_json::{Value, json};
use ticketd_core::TicketId;
use ticketd_core::credentials::md5_hex;
use ticketd_core::engine::FlowInput;

/// Scodes that refuse: ticket not found, not your ticket, not an approver, process not found,
/// permission denied, tenant not found.
const REFUSALS: [i64; 6] = [26001, 26003, 26004, 26005, 26008, 26009];

/// A ticket submitted through TopHC by the applicant (the fixtures' template).
pub(crate) async fn template(w: &World) -> TicketId {
    let body = json!({"ticket_name": format!("{} template", super::TITLE_MARK), "type": "FEEDBACK",
                      "reason": "why", "tenant_uuid": w.alpha_id(),
                      "process_uuid": w.tophc_process.to_string()});
    let (status, envelope) = super::setup_call(
        w,
        Dialect::Tophc,
        Role::Applicant,
        Req::new("POST", "/v1/ticket/submit").body(body),
    )
    .await;
    assert_eq!((status, &envelope["scode"]), (200, &json!(0)), "{envelope}");
    TicketId::parse(envelope["data"]["ticket_uuid"].as_str().unwrap()).unwrap()
}

fn scode_outcome(scode: i64) -> Outcome {
    match scode {
        0 => Outcome::Success,
        10002 => Outcome::Unauthenticated,
        26002 => Outcome::Conflict,
        s if REFUSALS.contains(&s) => Outcome::Denied,
        _ => Outcome::Other,
    }
}

/// The dialect's reading of an answer: the envelope's scode (a batch: its items').
pub(crate) fn outcome(route: &Route, answer: &Answer) -> Outcome {
    if answer.status != 200 {
        return Outcome::Other;
    }
    let Some(scode) = answer.json["scode"].as_i64() else {
        return Outcome::Other;
    };
    if scode != 0 || !route.batch {
        return scode_outcome(scode);
    }
    let items: Vec<Outcome> = answer.json["data"]["results"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|i| scode_outcome(i["scode"].as_i64().unwrap_or(-1)))
                .collect()
        })
        .unwrap_or_default();
    match items.first() {
        Some(first) if items.iter().all(|i| i == first) => *first,
        _ => Outcome::Other,
    }
}

/// A throwaway process of Alpha.
async fn new_process(w: &World) -> String {
    let admin = w.actor(Role::Admin).await;
    let input = FlowInput {
        org_id: w.alpha.id,
        name: format!("Zanzibar process {}", w.next()),
        description: String::new(),
        kinds: Vec::new(),
        is_default: false,
        enabled: true,
        levels: vec![super::level(w.user(Role::Approver1))],
        cc_users: Vec::new(),
        attributes: json!({"dialect": "tophc"}),
    };
    w.app
        .engine
        .create_flow(&admin, input, ticketd_http::now())
        .await
        .unwrap()
        .id
        .to_string()
}

fn opening(w: &World, what: &str) -> Value {
    json!({"ticket_name": format!("{what} in a cell {}", w.next()), "type": "FEEDBACK",
           "tenant_uuid": w.alpha_id(), "process_uuid": w.tophc_process.to_string()})
}

fn classify(method: &'static str, path: &'static str) -> Option<Route> {
    let name = format!("{method} {path}");
    let route = |access, right, fixture, request| {
        Route::new(
            Dialect::Tophc,
            name.clone(),
            access,
            right,
            fixture,
            request,
        )
    };
    // A batch call on the cell's own ticket.
    let on_ticket = |access, right, stage: Stage, extra: Value| {
        route(
            access,
            right,
            ticket(Shape::Tophc, stage),
            request(move |_, made, _| {
                let mut body = json!({"list": [made.ticket_id()]});
                for (k, v) in extra.as_object().into_iter().flatten() {
                    body[k] = v.clone();
                }
                Req::new(method, path).body(body)
            }),
        )
        .batch()
        .changes_ticket()
    };
    let relative = path
        .strip_prefix("/v1/ticket/")
        .or_else(|| path.strip_prefix("/v1/authentication/"))?;
    Some(match (method, relative) {
        ("POST", "login") => route(
            Access::Public,
            Role::Applicant,
            nothing(),
            request(|w, _, _| {
                Req::new("POST", "/v1/authentication/login").body(json!({
                    "tenant": w.alpha_id(),
                    "user": Role::Applicant.username(),
                    "password": md5_hex(&Role::Applicant.password()),
                }))
            }),
        ),
        // Ends the presented session: each cell presents a fresh session of its own.
        ("POST", "logout") => route(
            Access::Authenticated,
            Role::Applicant,
            fixture(|w, role| async move {
                Made {
                    id: w.session(role).await,
                    ..Made::default()
                }
            }),
            request(|_, made, _| {
                let mut req = Req::new("POST", "/v1/authentication/logout");
                req.token = Some(made.id.clone());
                req
            }),
        ),
        ("POST", "save" | "submit") => route(
            Access::Member,
            Role::Applicant,
            nothing(),
            request(move |w, _, _| Req::new(method, path).body(opening(w, "Opened"))),
        ),
        ("GET", "list") => route(
            Access::TicketList,
            Role::Applicant,
            ticket(Shape::Tophc, Stage::Pending),
            request(move |_, _, _| Req::new(method, path)),
        ),
        ("GET", "inspect") => route(
            Access::TicketRead,
            Role::Approver1,
            ticket(Shape::Tophc, Stage::Pending),
            request(move |_, made, _| {
                Req::new(method, format!("{path}?ticket_uuid={}", made.ticket_id()))
            }),
        ),
        ("POST", "saved/submit") => {
            on_ticket(Access::Applicant, Role::Applicant, Stage::Draft, json!({}))
        }
        ("POST", "overruled/submit") => on_ticket(
            Access::Applicant,
            Role::Applicant,
            Stage::Rejected,
            json!({}),
        ),
        ("POST", "archive") => on_ticket(
            Access::ApplicantOrManager,
            Role::Applicant,
            Stage::Rejected,
            json!({}),
        ),
        ("GET" | "POST", "overrule") => on_ticket(
            Access::Decide,
            Role::Approver1,
            Stage::Pending,
            json!({"reason": "no"}),
        ),
        ("POST", "pass") => on_ticket(
            Access::Decide,
            Role::Approver1,
            Stage::Pending,
            json!({"reason": "fine"}),
        ),
        ("POST", "withdraw") => on_ticket(
            Access::Applicant,
            Role::Applicant,
            Stage::Pending,
            json!({}),
        ),
        ("POST", "confirm") => on_ticket(
            Access::Applicant,
            Role::Applicant,
            Stage::Rejected,
            json!({}),
        ),
        ("POST", "delete") => on_ticket(
            Access::ApplicantOrManager,
            Role::Applicant,
            Stage::Withdrawn,
            json!({}),
        ),
        ("POST", "process/create") => route(
            Access::Manager,
            Role::Admin,
            nothing(),
            request(move |w, _, _| {
                Req::new(method, path).body(json!({
                    "tenant_uuid": w.alpha_id(),
                    "process_name": format!("Cell process {}", w.next()),
                    "approval_list": [{"tenant_uuid": w.alpha_id(), "role_uuid": "administrator"}],
                }))
            }),
        ),
        ("POST", "process/update" | "process/delete") => {
            let route = route(
                Access::Manager,
                Role::Admin,
                fixture(|w, _| async move {
                    Made {
                        id: new_process(&w).await,
                        ..Made::default()
                    }
                }),
                request(move |w, made, _| {
                    let body = if relative == "process/update" {
                        json!({"tenant_uuid": w.alpha_id(), "process_uuid": made.id,
                               "process_name": format!("Renamed process {}", w.next())})
                    } else {
                        json!({"tenant_uuid": w.alpha_id(), "list": [{"process_uuid": made.id}]})
                    };
                    Req::new(method, path).body(body)
                }),
            );
            if relative == "process/delete" {
                route.batch()
            } else {
                route
            }
        }
        ("GET", "process/inspect") => route(
            Access::Member,
            Role::Applicant,
            nothing(),
            request(move |w, _, _| {
                Req::new(
                    method,
                    format!(
                        "{path}?tenant_uuid={}&process_uuid={}",
                        w.alpha_id(),
                        w.tophc_process
                    ),
                )
            }),
        ),
        ("GET", "process/list") => route(
            Access::Member,
            Role::Applicant,
            nothing(),
            request(move |w, _, _| {
                Req::new(method, format!("{path}?tenant_uuid={}", w.alpha_id()))
            }),
        ),
        _ => return None,
    })
}

/// Every route of the catalogue, classified; panics on one no rule knows.
pub(crate) fn routes() -> Vec<Route> {
    let mut unknown = Vec::new();
    let routes = ticketd_api_tophc::ROUTES
        .iter()
        .filter_map(|(method, path)| {
            let route = classify(method, path);
            if route.is_none() {
                unknown.push(format!("{method} {path}"));
            }
            route
        })
        .collect();
    assert!(
        unknown.is_empty(),
        "TopHC routes no rule of the authorization matrix classifies: {unknown:#?}"
    );
    routes
}
