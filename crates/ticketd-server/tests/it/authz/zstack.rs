//! ZStack's rows of the authorization matrix: every REST operation of `rest_operations()` and every message class of `message_classes()`.
//!
//! Each call is described once, as the message API's parameters; a REST operation is the same
//! call with its path variable, `params` wrapper, action key or query string.

use super::{
    Access, Answer, Dialect, Made, Outcome, Req, Role, Route, Shape, Stage, World, fixture, request,
};
use crate::zstack::{VM_TYPE, vm_request};
use serde_json::{Value, json};
use std::sync::Arc;
use ticketd_api_zstack::RestOperation;
use ticketd_core::TicketId;
use ticketd_core::credentials::sha512_hex;

/// A call's message-form parameters, from the world and the cell's fixture.
type Params = Arc<dyn Fn(&World, &Made) -> Value + Send + Sync>;

fn hex(id: impl std::fmt::Display) -> String {
    id.to_string().replace('-', "")
}

/// Creates a flow collection in `project` (hex) over REST as the admin, with one flow per
/// `(name, approver hex)`; returns its inventory.
async fn new_collection(w: &World, project: &str, name: &str, flows: &[(&str, String)]) -> Value {
    let flows: Vec<Value> = flows
        .iter()
        .map(|(n, a)| json!({"name": n, "approverUuid": a}))
        .collect();
    let body = json!({"params": {"projectUuid": project, "name": name, "flows": flows}});
    let (status, answer) = super::setup_call(
        w,
        Dialect::Zstack,
        Role::Admin,
        Req::new("POST", "/zstack/v1/tickets/flow-collections").body(body),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    answer["inventory"].clone()
}

/// Alpha's collection for the fixtures: approver-one, approver-two, then the system admin
/// (ZStack wants an admin or a project admin last).
pub(crate) async fn alpha_collection(w: &World) -> Value {
    let flows = [
        ("first", w.user_hex(Role::Approver1)),
        ("second", w.user_hex(Role::Approver2)),
        ("last", w.user_hex(Role::Admin)),
    ];
    new_collection(w, &w.alpha_hex(), "Zanzibar chain", &flows).await
}

/// A ticket created through ZStack by the applicant (the fixtures' template).
pub(crate) async fn template(w: &World) -> TicketId {
    let params = opening(w, &format!("{} template", super::TITLE_MARK));
    let (status, answer) = super::setup_call(
        w,
        Dialect::Zstack,
        Role::Applicant,
        Req::new("POST", "/zstack/v1/tickets").body(json!({"params": params})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    TicketId::parse(answer["inventory"]["uuid"].as_str().unwrap()).unwrap()
}

fn opening(w: &World, name: &str) -> Value {
    json!({
        "name": name,
        "description": "for the matrix",
        "requests": [vm_request("vm")],
        "accountSystemType": "iam2",
        "accountSystemContext": {"projectUuid": w.alpha_hex()},
        "flowCollectionUuid": w.zstack_collection["uuid"],
    })
}

fn code_outcome(code: &str, status: Option<u16>) -> Outcome {
    match (code, status) {
        ("ID.1001", None | Some(400 | 503)) => Outcome::Unauthenticated,
        ("ID.1002" | "SYS.1003", None | Some(503)) => Outcome::Denied,
        ("SYS.1006", None | Some(503)) => Outcome::Conflict,
        _ => Outcome::Other,
    }
}

/// A successful answer: `Empty` when a query for one object (a route whose refusals are empty
/// answers) found nothing.
fn found(route: &Route, reply: &Value) -> Outcome {
    if route.quiet_denial && reply["inventories"] == json!([]) {
        Outcome::Empty
    } else {
        Outcome::Success
    }
}

/// The dialect's reading of an answer: REST by status and error code, a message by its reply.
pub(crate) fn outcome(route: &Route, answer: &Answer) -> Outcome {
    if route.dialect == Dialect::ZstackMessage {
        let reply = answer
            .json
            .as_object()
            .and_then(|o| o.values().next())
            .cloned()
            .unwrap_or_default();
        if answer.status != 200 {
            return Outcome::Other;
        }
        if reply["success"] == json!(true) {
            return found(route, &reply);
        }
        return code_outcome(reply["error"]["code"].as_str().unwrap_or(""), None);
    }
    if answer.status == 200 {
        return found(route, &answer.json);
    }
    code_outcome(
        answer.json["error"]["code"].as_str().unwrap_or(""),
        Some(answer.status),
    )
}

/// How a call reaches the server.
#[derive(Clone, Debug)]
enum Via {
    Rest(RestOperation),
    Message(&'static str),
}

impl Via {
    /// For REST queries: the `…/{uuid}` form.
    fn by_uuid(&self) -> bool {
        matches!(self, Via::Rest(op) if op.path.contains("{uuid}"))
    }

    fn is_list(&self) -> bool {
        matches!(self, Via::Rest(op) if op.method == "GET" && !op.path.contains("{uuid}"))
    }

    /// The request carrying `params` (message form).
    fn request(&self, params: Value) -> Req {
        let Value::Object(mut params) = params else {
            unreachable!("parameters are objects")
        };
        let op = match self {
            Via::Message(class) => {
                return Req::new("POST", "/zstack/api/").body(json!({ *class: params }));
            }
            Via::Rest(op) => op,
        };
        let mut path = op.path.clone();
        if let Some(name) = op.path_param {
            let value = params
                .remove(name)
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            path = path.replace("{uuid}", &value);
        }
        match (op.method, op.action) {
            ("GET", _) => Req::new("GET", path),
            ("DELETE", _) => {
                let query: Vec<String> = params
                    .iter()
                    .flat_map(|(k, v)| match v {
                        Value::Array(items) => items
                            .iter()
                            .map(|i| format!("{k}={}", i.as_str().unwrap_or_default()))
                            .collect::<Vec<_>>(),
                        other => vec![format!("{k}={}", other.as_str().unwrap_or_default())],
                    })
                    .collect();
                if !query.is_empty() {
                    path = format!("{path}?{}", query.join("&"));
                }
                Req::new("DELETE", path)
            }
            (method, Some(action)) => Req::new(method, path).body(json!({ action: params })),
            (method, None) => Req::new(method, path).body(json!({"params": params})),
        }
    }
}

/// A throwaway collection of Alpha (approver-one, then the admin) per cell.
fn throwaway_collection() -> super::FixtureFn {
    fixture(|w, _| async move {
        let flows = [
            ("lead", w.user_hex(Role::Approver1)),
            ("boss", w.user_hex(Role::Admin)),
        ];
        let name = format!("Zanzibar cell {}", w.next());
        let inventory = new_collection(&w, &w.alpha_hex(), &name, &flows).await;
        Made {
            id: inventory["uuid"].as_str().unwrap().to_owned(),
            extra: inventory,
            ..Made::default()
        }
    })
}

/// A throwaway collection serving the VM type, in a project of its own: a type serves at most
/// one collection per project, and the REST and message cells run at once.
fn typed_collection(with_type: bool) -> super::FixtureFn {
    fixture(move |w, _| async move {
        let n = w.next();
        let project = w
            .app
            .engine
            .create_org(None, &format!("Typed project {n}"), ticketd_http::now())
            .await
            .unwrap();
        let flows = [("boss", w.user_hex(Role::Admin))];
        let inventory = new_collection(&w, &hex(project.id), &format!("Typed {n}"), &flows).await;
        let id = inventory["uuid"].as_str().unwrap().to_owned();
        if with_type {
            let (status, answer) = super::setup_call(
                &w,
                Dialect::ZstackMessage,
                Role::Admin,
                Req::new("POST", "/zstack/api/").body(json!({
                    "org.zstack.ticket.api.APIAddTicketTypesToTicketFlowCollectionMsg":
                        {"ticketFlowCollectionUuid": id, "ticketTypeUuids": [VM_TYPE]}
                })),
            )
            .await;
            assert_eq!(status, 200, "{answer}");
        }
        Made {
            id,
            extra: inventory,
            ..Made::default()
        }
    })
}

fn session_fixture() -> super::FixtureFn {
    fixture(|w, role| async move {
        Made {
            id: w.session(role).await,
            ..Made::default()
        }
    })
}

fn ticket_fixture(stage: Stage) -> super::FixtureFn {
    super::ticket(Shape::Zstack, stage)
}

/// The routes of one call: `class` reached `via` REST or a message.
#[allow(clippy::too_many_lines, reason = "one rule per call, in one place")]
fn classify(class: &'static str, via: Via) -> Vec<Route> {
    let short = class.rsplit('.').next().unwrap_or(class);
    let (dialect, name) = match &via {
        Via::Rest(op) => (
            Dialect::Zstack,
            format!("{} {} ({short})", op.method, op.path),
        ),
        Via::Message(_) => (Dialect::ZstackMessage, format!("POST /zstack/api/ {short}")),
    };
    let via = Arc::new(via);
    let route =
        |suffix: &str, access: Access, right: Role, fixture: super::FixtureFn, params: Params| {
            let via = via.clone();
            Route::new(
                dialect,
                format!("{name}{suffix}"),
                access,
                right,
                fixture,
                request(move |w, made, _| via.request(params(w, made))),
            )
        };
    let p = |f: fn(&World, &Made) -> Value| -> Params { Arc::new(f) };
    let nothing = super::nothing;
    // Queries: a list (every authenticated user, showing only what they may see), one object by
    // uuid (an empty answer for what the caller may not see), or a message with a condition.
    let query = |access_one: Access,
                 right_one: Role,
                 fixture: super::FixtureFn,
                 key: fn(&World, &Made) -> String| {
        let list_access = if access_one == Access::TicketRead {
            Access::TicketList
        } else {
            Access::Authenticated
        };
        let (access, right) = if via.is_list() {
            (list_access, Role::Applicant)
        } else {
            (access_one, right_one)
        };
        let by_uuid = via.by_uuid();
        let params: Params = Arc::new(move |w, made| {
            let uuid = key(w, made);
            if by_uuid {
                json!({"uuid": uuid})
            } else {
                json!({"conditions": [{"name": "uuid", "op": "=", "value": uuid}]})
            }
        });
        let route = route("", access, right, fixture, params);
        if access == Access::TicketList || access == Access::Authenticated {
            route
        } else {
            route.quiet_denial()
        }
    };
    let ticket_key: fn(&World, &Made) -> String = |_, m| m.ticket_hex();
    let history_key: fn(&World, &Made) -> String = |_, m| hex(&m.ticket.as_ref().unwrap().history);
    match short {
        "APILogInByAccountMsg" | "APILoginIAM2VirtualIDMsg" => {
            let params = if short == "APILogInByAccountMsg" {
                p(|_, _| {
                    json!({"accountName": Role::Applicant.username(),
                           "password": sha512_hex(&Role::Applicant.password())})
                })
            } else {
                p(|_, _| {
                    json!({"name": Role::Applicant.username(),
                           "password": sha512_hex(&Role::Applicant.password())})
                })
            };
            vec![route(
                "",
                Access::Public,
                Role::Applicant,
                nothing(),
                params,
            )]
        }
        // Ending or checking a session takes its id, which is the credential (ZStack's design).
        "APILogOutMsg" | "APIValidateSessionMsg" => vec![route(
            "",
            Access::Public,
            Role::Applicant,
            session_fixture(),
            p(|_, m| json!({"sessionUuid": m.id})),
        )],
        "APICreateTicketMsg" => vec![route(
            "",
            Access::Member,
            Role::Applicant,
            nothing(),
            p(|w, _| opening(w, &format!("Opened in a cell {}", w.next()))),
        )],
        "APIChangeTicketStatusMsg" => [
            ("approve", Access::Decide, Role::Approver1, Stage::Pending),
            ("reject", Access::Decide, Role::Approver1, Stage::Pending),
            ("cancel", Access::Applicant, Role::Applicant, Stage::Pending),
            (
                "reopen",
                Access::Applicant,
                Role::Applicant,
                Stage::Withdrawn,
            ),
            ("open", Access::Applicant, Role::Applicant, Stage::Draft),
        ]
        .into_iter()
        .map(|(event, access, right, stage)| {
            route(
                &format!(" statusEvent={event}"),
                access,
                right,
                ticket_fixture(stage),
                Arc::new(move |_, m| {
                    json!({"uuid": m.ticket_hex(), "statusEvent": event, "comment": "matrix"})
                }),
            )
            .changes_ticket()
        })
        .collect(),
        "APIUpdateTicketRequestMsg" => vec![
            route(
                "",
                Access::Applicant,
                Role::Applicant,
                ticket_fixture(Stage::Withdrawn),
                p(|_, m| json!({"uuid": m.ticket_hex(), "requests": [vm_request("updated")]})),
            )
            .changes_ticket(),
        ],
        "APIArchiveTicketMsg" => vec![
            route(
                "",
                Access::ApplicantOrManager,
                Role::Applicant,
                ticket_fixture(Stage::Rejected),
                p(|_, m| json!({"uuid": m.ticket_hex()})),
            )
            .changes_ticket(),
        ],
        "APIDeleteTicketMsg" => vec![
            route(
                "",
                Access::ApplicantOrManager,
                Role::Applicant,
                ticket_fixture(Stage::Rejected),
                p(|_, m| json!({"uuid": m.ticket_hex(), "deleteMode": "Permissive"})),
            )
            .changes_ticket(),
        ],
        "APIQueryTicketMsg" => vec![query(
            Access::TicketRead,
            Role::Approver1,
            ticket_fixture(Stage::Pending),
            ticket_key,
        )],
        "APIQueryArchiveTicketMsg" => vec![query(
            Access::TicketRead,
            Role::Approver1,
            ticket_fixture(Stage::Archived),
            ticket_key,
        )],
        "APIQueryTicketHistoryMsg" => vec![query(
            Access::TicketRead,
            Role::Approver1,
            ticket_fixture(Stage::Pending),
            history_key,
        )],
        "APIQueryArchiveTicketHistoryMsg" => vec![query(
            Access::TicketRead,
            Role::Approver1,
            ticket_fixture(Stage::Archived),
            history_key,
        )],
        "APIQueryTicketTypeMsg" => vec![query(
            Access::Authenticated,
            Role::Applicant,
            nothing(),
            |_, _| VM_TYPE.to_owned(),
        )],
        "APIQueryTicketFlowCollectionMsg" => {
            vec![query(Access::Member, Role::Applicant, nothing(), |w, _| {
                w.zstack_collection["uuid"].as_str().unwrap().to_owned()
            })]
        }
        "APIQueryTicketFlowMsg" => {
            vec![query(Access::Member, Role::Applicant, nothing(), |w, _| {
                let flow = &w.zstack_collection["flows"][0]["uuid"];
                flow.as_str().unwrap().to_owned()
            })]
        }
        "APICreateIAM2TickFlowCollectionMsg" => vec![route(
            "",
            Access::Manager,
            Role::Admin,
            nothing(),
            p(|w, _| {
                json!({"projectUuid": w.alpha_hex(), "name": format!("Zanzibar new {}", w.next()),
                       "flows": [{"name": "only", "approverUuid": w.user_hex(Role::Admin)}]})
            }),
        )],
        "APIUpdateIAM2TicketFlowCollectionMsg" => vec![route(
            "",
            Access::Manager,
            Role::Admin,
            throwaway_collection(),
            p(|w, m| json!({"uuid": m.id, "name": format!("Zanzibar renamed {}", w.next())})),
        )],
        "APIChangeTicketFlowCollectionStateMsg" => vec![route(
            "",
            Access::Manager,
            Role::Admin,
            throwaway_collection(),
            p(|_, m| json!({"uuid": m.id, "stateEvent": "disable"})),
        )],
        "APIDeleteTicketFlowCollectionMsg" => vec![route(
            "",
            Access::Manager,
            Role::Admin,
            throwaway_collection(),
            p(|_, m| json!({"uuid": m.id})),
        )],
        "APIAddTicketTypesToTicketFlowCollectionMsg"
        | "APIRemoveTicketTypesFromTicketFlowCollectionMsg" => vec![route(
            "",
            Access::Manager,
            Role::Admin,
            typed_collection(short.starts_with("APIRemove")),
            p(|_, m| json!({"ticketFlowCollectionUuid": m.id, "ticketTypeUuids": [VM_TYPE]})),
        )],
        "APIAddIAM2TicketFlowMsg" => vec![route(
            "",
            Access::Manager,
            Role::Admin,
            throwaway_collection(),
            p(|w, m| {
                json!({"collectionUuid": m.id, "name": "middle",
                       "approverUuid": w.user_hex(Role::Approver2),
                       "parentFlowUuid": m.extra["flows"][0]["uuid"]})
            }),
        )],
        "APIUpdateIAM2TicketFlowMsg" | "APIDeleteIAM2TicketFlowMsg" => {
            let params = if short == "APIUpdateIAM2TicketFlowMsg" {
                p(|_, m| json!({"uuid": m.extra["flows"][0]["uuid"], "name": "renamed"}))
            } else {
                p(|_, m| json!({"uuid": m.extra["flows"][0]["uuid"]}))
            };
            vec![route(
                "",
                Access::Manager,
                Role::Admin,
                throwaway_collection(),
                params,
            )]
        }
        _ => Vec::new(),
    }
}

/// Every REST operation and every message class, classified; panics on one no rule knows.
pub(crate) fn routes() -> Vec<Route> {
    let mut routes = Vec::new();
    let mut unknown = Vec::new();
    for op in ticketd_api_zstack::rest_operations() {
        let name = format!("{} {}", op.method, op.path);
        let classified = classify(op.message_class, Via::Rest(op));
        if classified.is_empty() {
            unknown.push(name);
        }
        routes.extend(classified);
    }
    for class in ticketd_api_zstack::message_classes() {
        let classified = classify(class, Via::Message(class));
        if classified.is_empty() {
            unknown.push(class.to_owned());
        }
        routes.extend(classified);
    }
    assert!(
        unknown.is_empty(),
        "ZStack calls no rule of the authorization matrix classifies: {unknown:#?}"
    );
    routes
}
