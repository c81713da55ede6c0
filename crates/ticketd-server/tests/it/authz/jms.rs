//! JumpServer's rows of the authorization matrix: routes from the served OpenAPI document, classified by rules.

use super::{
    Access, Answer, Dialect, Made, Outcome, Req, Role, Route, Shape, Stage, World, fixture,
    nothing, request, ticket,
};
use crate::app::ADMIN_TOKEN;
use serde_json::{Value, json};
use std::sync::Arc;
use ticketd_core::catalog::Asset;
use ticketd_core::engine::{FlowInput, NewUserInput};
use ticketd_core::identity::{ROLE_ORG_USER, SystemRole};
use ticketd_core::{AssetId, TicketId};

/// The four ticket types, `apply_asset` first, and the typed route prefix of each.
pub(crate) const KINDS: [&str; 4] = [
    "apply_asset",
    "login_confirm",
    "login_asset_confirm",
    "command_confirm",
];
const PREFIXES: [(&str, &str); 4] = [
    ("apply-asset-tickets", "apply_asset"),
    ("apply-login-tickets", "login_confirm"),
    ("apply-login-asset-tickets", "login_asset_confirm"),
    ("apply-command-tickets", "command_confirm"),
];
const ORG_USER_ROLE: &str = "00000000-0000-0000-0000-000000000007";
const USER_ROLE: &str = "00000000-0000-0000-0000-000000000003";
const START: &str = "2026/08/21 10:00:00 +0800";
const EXPIRED: &str = "2026/08/28 10:00:00 +0800";

/// The served OpenAPI document.
pub(crate) async fn document(w: &World) -> Value {
    let (status, doc) = w
        .app
        .call("GET", "/api/v1/docs/openapi.json", ADMIN_TOKEN, None)
        .await;
    assert_eq!(status, 200);
    doc
}

/// An apply_asset ticket opened through the dialect by the applicant (the fixtures' template).
pub(crate) async fn template(w: &World) -> TicketId {
    let body = json!({
        "title": format!("{} template", super::TITLE_MARK),
        "org_id": w.alpha_id(),
        "flow_id": w.jms_flow.to_string(),
        "apply_assets": [w.asset.id.to_string()],
        "apply_accounts": ["root"],
        "apply_actions": ["connect"],
        "apply_date_start": START,
        "apply_date_expired": EXPIRED,
    });
    let (status, opened) = w
        .app
        .call_with(
            "POST",
            "/api/v1/tickets/apply-asset-tickets/open/",
            Role::Applicant.token(),
            Some(body),
            &[("X-JMS-ORG", &w.alpha_id())],
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    TicketId::parse(opened["id"].as_str().unwrap()).unwrap()
}

/// The dialect's reading of an answer.
pub(crate) fn outcome(route: &Route, answer: &Answer) -> Outcome {
    let body = &answer.json;
    // The refusals JumpServer words as 400 (§4.3, §4.6, §4.7).
    let refusal_400 = body["detail"]
        .as_str()
        .is_some_and(|d| d.starts_with("Not found Ticket object"))
        || body["org_id"].is_array()
        || body["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("User does not have permission"))
        || ["user", "users"].iter().any(|f| {
            body[f][0]
                .as_str()
                .is_some_and(|m| m.ends_with("object does not exist."))
        });
    match answer.status {
        401 => Outcome::Unauthenticated,
        200..=299 => Outcome::Success,
        403 | 404 => Outcome::Denied,
        400 if route.refuses_with_400 && refusal_400 => Outcome::Denied,
        409 => Outcome::Conflict,
        _ => Outcome::Other,
    }
}

/// The ticket type a typed path segment serves.
fn kind_of(prefix: &str) -> Option<&'static str> {
    PREFIXES.iter().find(|(p, _)| *p == prefix).map(|(_, k)| *k)
}

fn in_alpha(w: &World, req: Req) -> Req {
    req.header("X-JMS-ORG", w.alpha_id())
}

/// `path` with `{id}` replaced.
fn at(path: &str, id: &str) -> String {
    path.replace("{id}", id)
}

/// A throwaway object per cell: `make` returns its id.
fn throwaway<F, R>(make: F) -> super::FixtureFn
where
    F: Fn(Arc<World>) -> R + Send + Sync + 'static,
    R: std::future::Future<Output = String> + Send + 'static,
{
    let make = Arc::new(make);
    fixture(move |w, _| {
        let make = make.clone();
        async move {
            Made {
                id: make(w).await,
                ..Made::default()
            }
        }
    })
}

async fn new_user(w: Arc<World>, in_alpha: bool) -> String {
    let n = w.next();
    let orgs = if in_alpha {
        vec![(w.alpha.id, ROLE_ORG_USER)]
    } else {
        Vec::new()
    };
    w.app
        .engine
        .create_user(
            None,
            NewUserInput {
                username: format!("throwaway-{n}"),
                // Alpha's members carry Alpha's mark, so an outsider who sees one is caught.
                name: if in_alpha {
                    format!("Zanzibar member {n}")
                } else {
                    format!("Throwaway {n}")
                },
                email: format!("throwaway-{n}@example.com"),
                system_role: SystemRole::User,
                password: None,
                orgs,
            },
            ticketd_http::now(),
        )
        .await
        .unwrap()
        .id
        .to_string()
}

async fn new_org(w: Arc<World>) -> String {
    let n = w.next();
    w.app
        .engine
        .create_org(None, &format!("Throwaway org {n}"), ticketd_http::now())
        .await
        .unwrap()
        .id
        .to_string()
}

async fn new_asset(w: Arc<World>) -> String {
    let now = ticketd_http::now();
    let asset = Asset {
        id: AssetId(uuid::Uuid::now_v7()),
        org_id: w.alpha.id,
        name: format!("zanzibar-asset-{}", w.next()),
        address: "10.1.2.3".into(),
        platform: "Linux".into(),
        is_active: true,
        node_ids: vec![],
        comment: String::new(),
        created_at: now,
        updated_at: now,
    };
    let admin = w.actor(Role::Admin).await;
    w.app
        .engine
        .create_asset(&admin, asset.clone())
        .await
        .unwrap();
    asset.id.to_string()
}

async fn new_node(w: Arc<World>) -> String {
    let admin = w.actor(Role::Admin).await;
    let name = format!("zanzibar-node-{}", w.next());
    w.app
        .engine
        .create_node(&admin, w.alpha.id, &name, None, ticketd_http::now())
        .await
        .unwrap()
        .id
        .to_string()
}

async fn new_flow(w: Arc<World>) -> String {
    let admin = w.actor(Role::Admin).await;
    let input = FlowInput {
        org_id: w.alpha.id,
        name: format!("Zanzibar flow {}", w.next()),
        description: String::new(),
        kinds: vec!["apply_asset".into()],
        is_default: false,
        enabled: true,
        levels: vec![super::level(w.user(Role::Approver1))],
        cc_users: Vec::new(),
        attributes: Value::Null,
    };
    w.app
        .engine
        .create_flow(&admin, input, ticketd_http::now())
        .await
        .unwrap()
        .id
        .to_string()
}

/// The id JumpServer's API gives an org-role binding (see `admin/roles.rs`).
fn binding_id(org: uuid::Uuid, user: uuid::Uuid, role: uuid::Uuid) -> String {
    let mut message = Vec::new();
    message.extend_from_slice(org.as_bytes());
    message.extend_from_slice(user.as_bytes());
    message.extend_from_slice(role.as_bytes());
    let digest = ticketd_core::credentials::hmac_sha256(b"ticketd org-role-binding", &message);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

fn flow_rules(w: &World) -> Value {
    json!([{"users": {"type": "ids", "ids": [w.user_id(Role::Approver1)]}}])
}

/// Classifies one documented operation; `None` when no rule knows it.
#[allow(
    clippy::too_many_lines,
    reason = "one rule per family of routes, in one place"
)]
fn classify(method: &'static str, path: &str) -> Option<Route> {
    let name = format!("{method} {path}");
    let rel = path.strip_prefix("/api/v1/")?.to_owned();
    let segments: Vec<&str> = rel.trim_end_matches('/').split('/').collect();
    let p = path.to_owned();
    let route = |access, right, fixture, request| {
        Route::new(Dialect::Jms, name.clone(), access, right, fixture, request)
    };
    let plain = {
        let p = p.clone();
        move |org: bool| {
            let p = p.clone();
            request(move |w, _, _| {
                let req = Req::new(method, p.clone());
                if org { in_alpha(w, req) } else { req }
            })
        }
    };
    Some(match (method, segments.as_slice()) {
        // ---- public and personal
        ("POST", ["authentication", "auth" | "tokens"]) => route(
            Access::Public,
            Role::Applicant,
            nothing(),
            request(move |_, _, _| {
                Req::new(method, p.clone()).body(json!({
                    "username": Role::Applicant.username(),
                    "password": Role::Applicant.password(),
                }))
            }),
        ),
        ("GET", ["users", "profile"] | ["docs", "openapi.json"] | ["rbac", "roles"])
        | ("GET" | "POST", ["authentication", "access-keys"]) => route(
            Access::Authenticated,
            Role::Applicant,
            nothing(),
            plain(false),
        ),
        ("GET", ["rbac", "roles", "{id}"]) => route(
            Access::Authenticated,
            Role::Applicant,
            nothing(),
            request(move |_, _, _| Req::new(method, at(&p, ORG_USER_ROLE))),
        ),
        ("GET" | "DELETE" | "PUT" | "PATCH", ["authentication", "access-keys", "{id}"]) => route(
            Access::Owner,
            Role::Approver1,
            fixture(|w, _| async move {
                Made {
                    id: w.new_key(Role::Approver1).await.id.to_string(),
                    ..Made::default()
                }
            }),
            request(move |_, made, _| {
                Req::new(method, at(&p, &made.id)).body(json!({"is_active": false}))
            }),
        ),
        // ---- tickets
        ("GET", ["tickets", "tickets"]) => route(
            Access::TicketList,
            Role::Applicant,
            ticket(Shape::Jms("apply_asset"), Stage::Pending),
            plain(false),
        ),
        ("GET", ["tickets", prefix]) if kind_of(prefix).is_some() => route(
            Access::TicketList,
            Role::Applicant,
            ticket(Shape::Jms(kind_of(prefix)?), Stage::Pending),
            plain(false),
        ),
        ("GET", ["audits", "tickets"]) => route(
            Access::OrgAudit,
            Role::Admin,
            ticket(Shape::Jms("apply_asset"), Stage::Pending),
            plain(true),
        ),
        ("GET", ["audits", "tickets", "{id}"]) => route(
            Access::OrgAudit,
            Role::Admin,
            ticket(Shape::Jms("apply_asset"), Stage::Pending),
            request(move |w, made, _| in_alpha(w, Req::new(method, at(&p, &made.ticket_id())))),
        ),
        ("GET", ["tickets", prefix, "{id}"] | ["tickets", prefix, "{id}", "status"])
            if *prefix == "tickets" || *prefix == "super-tickets" || kind_of(prefix).is_some() =>
        {
            // The super-ticket status is JumpServer's `view_superticket` permission; ticketd
            // shows a ticket's status to whoever may read the ticket.
            let kind = kind_of(prefix).unwrap_or("apply_asset");
            route(
                Access::TicketRead,
                Role::Approver1,
                ticket(Shape::Jms(kind), Stage::Pending),
                request(move |_, made, _| Req::new(method, at(&p, &made.ticket_id()))),
            )
        }
        ("DELETE", ["tickets", "super-tickets", "{id}", "status"]) => route(
            Access::SysAdmin,
            Role::Admin,
            ticket(Shape::Jms("apply_asset"), Stage::Pending),
            request(move |_, made, _| Req::new(method, at(&p, &made.ticket_id()))),
        )
        .changes_ticket(),
        ("PUT" | "PATCH", ["tickets", prefix, "{id}", verb @ ("approve" | "reject")])
            if *prefix == "tickets" || kind_of(prefix).is_some() =>
        {
            let kind = kind_of(prefix).unwrap_or("apply_asset");
            let approve_asset = *verb == "approve" && kind == "apply_asset";
            route(
                Access::Decide,
                Role::Approver1,
                ticket(Shape::Jms(kind), Stage::Pending),
                request(move |w, made, _| {
                    let req = Req::new(method, at(&p, &made.ticket_id()));
                    if approve_asset {
                        // §4.4: the approver restates the organization and the window.
                        req.body(json!({"org_id": w.alpha_id(), "apply_date_start": START,
                                        "apply_date_expired": EXPIRED}))
                    } else {
                        req.body(json!({}))
                    }
                }),
            )
            .changes_ticket()
        }
        ("PUT", ["tickets", prefix, "{id}", "close"])
            if *prefix == "tickets" || kind_of(prefix).is_some() =>
        {
            let kind = kind_of(prefix).unwrap_or("apply_asset");
            route(
                Access::ApplicantOrCurrent,
                Role::Applicant,
                ticket(Shape::Jms(kind), Stage::Pending),
                request(move |_, made, _| Req::new(method, at(&p, &made.ticket_id()))),
            )
            .changes_ticket()
        }
        ("PUT", ["tickets", prefix, "bulk"]) if kind_of(prefix).is_some() => route(
            Access::Decide,
            Role::Approver1,
            ticket(Shape::Jms(kind_of(prefix)?), Stage::Pending),
            request(move |_, made, _| {
                Req::new(method, format!("{p}?action=approve"))
                    .body(json!({"tickets": [made.ticket_id()]}))
            }),
        )
        .changes_ticket()
        // §4.6: tickets the caller may not see are skipped (200 "ok"); a related caller who may
        // not decide gets 400 `{"error"}`.
        .quiet_denial()
        .refuses_with_400(),
        ("POST", ["tickets", prefix, "open"]) if kind_of(prefix).is_some() => {
            let kind = kind_of(prefix)?;
            let open = move |w: &World, made: &Made| {
                let mut body = json!({
                    "title": format!("Opened in a cell {}", made.id),
                    "org_id": w.alpha_id(),
                    "flow_id": w.jms_flow.to_string(),
                });
                if kind == "apply_asset" {
                    body["apply_date_start"] = json!(START);
                    body["apply_date_expired"] = json!(EXPIRED);
                } else {
                    body["applicant"] = json!(w.user_id(Role::Applicant));
                }
                body
            };
            // apply_asset: any member of the org; the other types are opened by other systems,
            // through system administrators (see `system_ticket`).
            let (access, right) = if kind == "apply_asset" {
                (Access::Member, Role::Applicant)
            } else {
                (Access::SysAdmin, Role::Admin)
            };
            route(
                access,
                right,
                fixture(|w, _| async move {
                    Made {
                        id: w.next().to_string(),
                        ..Made::default()
                    }
                }),
                request(move |w, made, _| {
                    in_alpha(w, Req::new(method, p.clone()).body(open(w, made)))
                }),
            )
            .refuses_with_400()
        }
        ("GET", ["tickets", "comments"]) => route(
            Access::TicketRead,
            Role::Approver1,
            ticket(Shape::Jms("apply_asset"), Stage::Pending),
            request(move |_, made, _| {
                Req::new(method, format!("{p}?ticket_id={}", made.ticket_id()))
            }),
        )
        .refuses_with_400(),
        ("POST", ["tickets", "comments"]) => route(
            Access::Related,
            Role::Approver1,
            ticket(Shape::Jms("apply_asset"), Stage::Pending),
            request(move |_, made, _| {
                Req::new(method, format!("{p}?ticket_id={}", made.ticket_id()))
                    .body(json!({"body": "a note"}))
            }),
        )
        .refuses_with_400(),
        ("GET", ["tickets", "comments", "{id}"]) => route(
            Access::TicketRead,
            Role::Approver1,
            ticket(Shape::Jms("apply_asset"), Stage::Pending),
            request(move |_, made, _| {
                let t = made.ticket.as_ref().unwrap();
                Req::new(method, format!("{}?ticket_id={}", at(&p, &t.comment), t.id))
            }),
        )
        .refuses_with_400(),
        // ---- catalog, flows
        ("GET", ["tickets", "apply-assets" | "apply-nodes"])
        | ("GET", ["tickets", "apply-assets" | "apply-nodes", "suggestions"])
        | ("GET", ["rbac", "org-role-bindings"])
        | ("GET", ["assets", "assets" | "hosts" | "nodes"]) => {
            route(Access::Member, Role::Applicant, nothing(), plain(true))
        }
        ("GET", ["tickets", "flows", "options" | "cc-users"]) => route(
            Access::Member,
            Role::Applicant,
            nothing(),
            request(move |w, _, _| {
                in_alpha(
                    w,
                    Req::new(
                        method,
                        format!("{p}?type=apply_asset&org_id={}", w.alpha_id()),
                    ),
                )
            }),
        ),
        ("GET", [_, "apply-assets" | "assets" | "hosts", "{id}"]) => route(
            Access::Member,
            Role::Applicant,
            nothing(),
            request(move |w, _, _| in_alpha(w, Req::new(method, at(&p, &w.asset.id.to_string())))),
        ),
        ("GET", [_, "apply-nodes" | "nodes", "{id}"])
        | ("GET", ["assets", "nodes", "{id}", "children"]) => route(
            Access::Member,
            Role::Applicant,
            nothing(),
            request(move |w, _, _| in_alpha(w, Req::new(method, at(&p, &w.node.id.to_string())))),
        ),
        // JumpServer's `tickets.view_ticketflow` and `users.view_user`, which its built-in
        // user role lacks: the rules name the approvers, the users their e-mail addresses.
        ("GET", ["tickets", "flows"] | ["users", "users"]) => {
            route(Access::OrgAudit, Role::Admin, nothing(), plain(true))
        }
        ("GET", ["tickets", "flows", "{id}"]) => route(
            Access::OrgAudit,
            Role::Admin,
            nothing(),
            request(move |w, _, _| in_alpha(w, Req::new(method, at(&p, &w.jms_flow.to_string())))),
        ),
        ("POST", ["tickets", "flows"]) => route(
            Access::Manager,
            Role::Admin,
            nothing(),
            request(move |w, _, _| {
                let body = json!({"name": format!("Zanzibar cell flow {}", w.next()), "approval_level": 1,
                                  "rules": flow_rules(w)});
                in_alpha(w, Req::new(method, p.clone()).body(body))
            }),
        ),
        ("PUT" | "PATCH", ["tickets", "flows"]) => route(
            Access::Manager,
            Role::Admin,
            throwaway(new_flow),
            request(move |w, made, _| {
                let body = json!([{"id": made.id, "name": format!("Zanzibar renamed {}", w.next()),
                                   "approval_level": 1, "rules": flow_rules(w)}]);
                in_alpha(w, Req::new(method, p.clone()).body(body))
            }),
        ),
        ("PUT" | "PATCH", ["tickets", "flows", "{id}"]) => route(
            Access::Manager,
            Role::Admin,
            throwaway(new_flow),
            request(move |w, made, _| {
                let body = json!({"name": format!("Zanzibar renamed {}", w.next()), "approval_level": 1,
                                  "rules": flow_rules(w)});
                in_alpha(w, Req::new(method, at(&p, &made.id)).body(body))
            }),
        ),
        // ---- asset permissions (the grant of the world's approved ticket)
        ("GET", ["perms", "asset-permissions"]) => route(
            Access::TicketList,
            Role::Applicant,
            fixture(|w, _| async move {
                Made {
                    ticket: Some(w.grant.clone()),
                    ..Made::default()
                }
            }),
            plain(false),
        ),
        ("GET", ["perms", "asset-permissions", "{id}", ..]) => route(
            Access::GrantRead,
            Role::Applicant,
            fixture(|w, _| async move {
                Made {
                    ticket: Some(w.grant.clone()),
                    ..Made::default()
                }
            }),
            request(move |_, made, _| Req::new(method, at(&p, &made.ticket_id()))),
        ),
        // ---- users, organizations, role bindings
        ("POST", ["users", "users"]) => route(
            Access::SysAdmin,
            Role::Admin,
            nothing(),
            request(move |w, _, _| {
                let n = w.next();
                let body = json!({"username": format!("cell-user-{n}"), "name": format!("Cell user {n}"),
                    "email": format!("cell-user-{n}@example.com"), "password": "Cell-password-1",
                    "system_roles": [{"id": USER_ROLE}], "org_roles": [ORG_USER_ROLE]});
                in_alpha(w, Req::new(method, p.clone()).body(body))
            }),
        ),
        // Naming a user the caller cannot see is a field error, "object does not exist" (the
        // 400 form of not found), before any permission check.
        ("POST", ["users", "users", "invite"]) => route(
            Access::Manager,
            Role::Admin,
            throwaway(|w| new_user(w, false)),
            request(move |w, made, _| {
                let body = json!({"users": [made.id], "org_roles": [ORG_USER_ROLE]});
                in_alpha(w, Req::new(method, p.clone()).body(body))
            }),
        )
        .refuses_with_400(),
        ("GET", ["users", "users", "{id}"]) => route(
            Access::OrgAudit,
            Role::Admin,
            nothing(),
            request(move |w, _, _| {
                in_alpha(w, Req::new(method, at(&p, &w.user_id(Role::Applicant))))
            }),
        ),
        ("PUT" | "PATCH" | "DELETE", ["users", "users", "{id}"]) => route(
            Access::SysAdmin,
            Role::Admin,
            throwaway(|w| new_user(w, true)),
            request(move |w, made, _| {
                let req = in_alpha(w, Req::new(method, at(&p, &made.id)));
                match method {
                    "DELETE" => req,
                    _ => {
                        // Addresses are unique: each renamed user gets one of its own.
                        let n = w.next();
                        req.body(json!({"name": "Renamed user",
                                        "email": format!("renamed-{n}@example.com"),
                                        "username": format!("renamed-{n}")}))
                    }
                }
            }),
        ),
        ("POST", ["users", "users", "{id}", "remove"]) => route(
            Access::Manager,
            Role::Admin,
            throwaway(|w| new_user(w, true)),
            request(move |w, made, _| in_alpha(w, Req::new(method, at(&p, &made.id)))),
        ),
        ("GET", ["orgs", "orgs"]) => {
            // Everyone lists the organizations they belong to.
            route(
                Access::Authenticated,
                Role::Applicant,
                nothing(),
                plain(false),
            )
        }
        ("POST", ["orgs", "orgs"]) => route(
            Access::SysAdmin,
            Role::Admin,
            nothing(),
            request(move |w, _, _| {
                Req::new(method, p.clone()).body(json!({"name": format!("Cell org {}", w.next())}))
            }),
        ),
        ("GET", ["orgs", "orgs", "{id}"]) => route(
            Access::Member,
            Role::Applicant,
            nothing(),
            request(move |w, _, _| Req::new(method, at(&p, &w.alpha_id()))),
        ),
        ("PUT" | "PATCH" | "DELETE", ["orgs", "orgs", "{id}"]) => route(
            Access::SysAdmin,
            Role::Admin,
            throwaway(new_org),
            request(move |w, made, _| {
                let req = Req::new(method, at(&p, &made.id));
                match method {
                    "DELETE" => req,
                    _ => req.body(json!({"name": format!("Renamed org {}", w.next())})),
                }
            }),
        ),
        ("POST", ["rbac", "org-role-bindings"]) => route(
            Access::Manager,
            Role::Admin,
            throwaway(|w| new_user(w, false)),
            request(move |w, made, _| {
                let body = json!({"user": made.id, "role": ORG_USER_ROLE});
                in_alpha(w, Req::new(method, p.clone()).body(body))
            }),
        )
        .refuses_with_400(),
        ("GET", ["rbac", "org-role-bindings", "{id}"]) => route(
            Access::Member,
            Role::Applicant,
            nothing(),
            request(move |w, _, _| {
                let id = binding_id(
                    w.alpha.id.uuid(),
                    w.user(Role::Applicant).id().uuid(),
                    ROLE_ORG_USER.uuid(),
                );
                in_alpha(w, Req::new(method, at(&p, &id)))
            }),
        ),
        ("DELETE", ["rbac", "org-role-bindings", "{id}"]) => route(
            Access::Manager,
            Role::Admin,
            throwaway(|w| new_user(w, true)),
            request(move |w, made, _| {
                let user = uuid::Uuid::parse_str(&made.id).unwrap();
                let id = binding_id(w.alpha.id.uuid(), user, ROLE_ORG_USER.uuid());
                in_alpha(w, Req::new(method, at(&p, &id)))
            }),
        ),
        // ---- assets and nodes
        ("POST", ["assets", "assets" | "hosts"]) => route(
            Access::Manager,
            Role::Admin,
            nothing(),
            request(move |w, _, _| {
                let body = json!({"name": format!("cell-host-{}", w.next()), "address": "10.3.2.1",
                                  "platform": "Linux"});
                in_alpha(w, Req::new(method, p.clone()).body(body))
            }),
        ),
        ("PUT" | "PATCH" | "DELETE", ["assets", "assets" | "hosts", "{id}"]) => route(
            Access::Manager,
            Role::Admin,
            throwaway(new_asset),
            request(move |w, made, _| {
                let req = in_alpha(w, Req::new(method, at(&p, &made.id)));
                match method {
                    "DELETE" => req,
                    _ => req.body(json!({"name": format!("renamed-{}", w.next()),
                                         "address": "10.3.2.2", "platform": "Linux"})),
                }
            }),
        ),
        ("POST", ["assets", "nodes"]) => route(
            Access::Manager,
            Role::Admin,
            nothing(),
            request(move |w, _, _| {
                let body = json!({"value": format!("cell-node-{}", w.next())});
                in_alpha(w, Req::new(method, p.clone()).body(body))
            }),
        ),
        ("POST", ["assets", "nodes", "{id}", "children"]) => route(
            Access::Manager,
            Role::Admin,
            nothing(),
            request(move |w, _, _| {
                let body = json!({"value": format!("cell-child-{}", w.next())});
                in_alpha(
                    w,
                    Req::new(method, at(&p, &w.node.id.to_string())).body(body),
                )
            }),
        ),
        ("PUT" | "PATCH" | "DELETE", ["assets", "nodes", "{id}"]) => route(
            Access::Manager,
            Role::Admin,
            throwaway(new_node),
            request(move |w, made, _| {
                let req = in_alpha(w, Req::new(method, at(&p, &made.id)));
                match method {
                    "DELETE" => req,
                    _ => req.body(json!({"value": format!("renamed-node-{}", w.next())})),
                }
            }),
        ),
        _ => return None,
    })
}

/// Names the caller's own organization when the rule named none, as JumpServer's clients
/// always send one (without it the request's organization is Default, which the users of this
/// world are not members of).
fn with_own_org(route: Route) -> Route {
    let inner = route.request.clone();
    Route {
        request: request(move |w, made, role| {
            let req = inner(w, made, role);
            if req.headers.iter().any(|(n, _)| *n == "X-JMS-ORG") {
                return req;
            }
            match role {
                Role::Admin => req,
                Role::OtherOrg => req.header("X-JMS-ORG", w.beta.id.to_string()),
                _ => in_alpha(w, req),
            }
        }),
        ..route
    }
}

/// Every operation of the document, classified; panics on one no rule knows.
pub(crate) fn routes(doc: &Value) -> Vec<Route> {
    let mut routes = Vec::new();
    let mut unknown = Vec::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            let method: &'static str = match method.as_str() {
                "get" => "GET",
                "post" => "POST",
                "put" => "PUT",
                "patch" => "PATCH",
                "delete" => "DELETE",
                other => panic!("method {other} of {path}"),
            };
            match classify(method, path) {
                Some(route) => routes.push(with_own_org(route)),
                None => unknown.push(format!("{method} {path}")),
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "JumpServer operations no rule of the authorization matrix classifies: {unknown:#?}"
    );
    routes
}
