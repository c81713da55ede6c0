//! JumpServer admin API tests: users, orgs, role bindings, assets, nodes, access keys, permissions, SDK.

use crate::app::{ADMIN_TOKEN, TestApp, spawn_app};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use ticketd_core::Actor;
use ticketd_core::engine::{FlowChoice, FlowInput, NewTicket, TicketCommand, any_level};
use ticketd_core::identity::{DEFAULT_ORG, ROLE_ORG_ADMIN, SystemRole};
use ticketd_core::selector::Selector;
use ticketd_core::ticket::KIND_APPLY_ASSET;

const DEFAULT: &str = "00000000-0000-0000-0000-000000000002";
const SYSTEM_ADMIN: &str = "00000000-0000-0000-0000-000000000001";
const USER: &str = "00000000-0000-0000-0000-000000000003";
const ORG_ADMIN: &str = "00000000-0000-0000-0000-000000000005";
const ORG_USER: &str = "00000000-0000-0000-0000-000000000007";
const ORG_AUDITOR: &str = "00000000-0000-0000-0000-000000000006";

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// Sends a request without any credentials.
async fn anonymous(app: &TestApp, method: &str, path: &str) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = app
        .client
        .request(method, app.url(path))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A second organization besides Default.
async fn other_org(app: &TestApp, name: &str) -> String {
    app.engine
        .create_org(None, name, ticketd_http::now())
        .await
        .unwrap()
        .id
        .to_string()
}

/// Creates a host through the API as `token` in `org`; returns its JSON.
async fn host(app: &TestApp, token: &str, org: &str, body: Value) -> Value {
    let (status, host) = app
        .call_with(
            "POST",
            "/api/v1/assets/hosts/",
            token,
            Some(body),
            &[("X-JMS-ORG", org)],
        )
        .await;
    assert_eq!(status, 201, "{host}");
    host
}

/// Creates a node through the API as admin in `org`; returns its JSON.
async fn node(app: &TestApp, org: &str, body: Value) -> Value {
    let (status, node) = app
        .call_with(
            "POST",
            "/api/v1/assets/nodes/",
            ADMIN_TOKEN,
            Some(body),
            &[("X-JMS-ORG", org)],
        )
        .await;
    assert_eq!(status, 201, "{node}");
    node
}

/// Opens an apply_asset ticket as `applicant` in Default, has admin approve it through the core
/// (the JumpServer ticket routes are tested elsewhere), and returns the id of the asset
/// permission the approval creates (the ticket's id).
async fn approved_permission(
    app: &TestApp,
    applicant: &Actor,
    title: &str,
    assets: &[&str],
    nodes: &[&str],
    window: (DateTime<Utc>, DateTime<Utc>),
) -> String {
    let admin = app.admin().await;
    let now = ticketd_http::now();
    let flow = app
        .engine
        .create_flow(
            &admin,
            FlowInput {
                org_id: DEFAULT_ORG,
                name: format!("approve {title}"),
                description: String::new(),
                kinds: vec![KIND_APPLY_ASSET.into()],
                is_default: false,
                enabled: true,
                levels: vec![any_level(Selector::Ids {
                    ids: vec![admin.id()],
                })],
                cc_users: Vec::new(),
                attributes: Value::Null,
            },
            now,
        )
        .await
        .unwrap();
    let ticket = app
        .engine
        .open_ticket(
            applicant,
            NewTicket {
                id: None,
                org_id: DEFAULT_ORG,
                kind: KIND_APPLY_ASSET.into(),
                title: title.into(),
                payload: json!({
                    "assets": assets,
                    "nodes": nodes,
                    "accounts": ["@ALL"],
                    "actions": 127,
                    "date_start": window.0.to_rfc3339(),
                    "date_expired": window.1.to_rfc3339(),
                }),
                comment: String::new(),
                scope: String::new(),
                flow: FlowChoice::Id(flow.id),
                submit: true,
                applicant: None,
                cc_users: Vec::new(),
            },
            now,
        )
        .await
        .unwrap();
    app.engine
        .act(
            &admin,
            ticket.id,
            TicketCommand::Approve {
                reason: String::new(),
                payload: None,
                changes: None,
            },
            now,
        )
        .await
        .unwrap();
    ticket.id.to_string()
}

/// A validity window around now.
fn current_window() -> (DateTime<Utc>, DateTime<Utc>) {
    let now = ticketd_http::now();
    (now - Duration::days(1), now + Duration::days(7))
}

// ------------------------------------------------------------------ users

#[tokio::test]
async fn creating_a_user_answers_201_in_the_user_serializer_shape_and_the_password_logs_in() {
    let app = spawn_app().await;
    let (status, user) = app
        .call(
            "POST",
            "/api/v1/users/users/",
            ADMIN_TOKEN,
            Some(json!({
                "username": "bob",
                "name": "Bob",
                "email": "bob@example.com",
                "password": "Bob-password-1",
                "password_strategy": "custom",
                "system_roles": [{"id": USER}],
                "org_roles": [ORG_ADMIN],
                "mfa_level": "0",
                "source": "local",
            })),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["username"], "bob");
    assert_eq!(user["name"], "Bob");
    assert_eq!(user["email"], "bob@example.com");
    assert_eq!(
        user["system_roles"],
        json!([{"id": USER, "display_name": "User"}])
    );
    assert_eq!(
        user["org_roles"],
        json!([{"id": ORG_ADMIN, "display_name": "OrgAdmin"}])
    );
    assert_eq!(user["is_org_admin"], true);
    for field in ["is_active", "is_valid"] {
        assert_eq!(user[field], true, "{field}");
    }
    assert!(user["date_joined"].as_str().unwrap().contains('/'));
    assert!(user.get("password").is_none());
    let (status, login) = app
        .call(
            "POST",
            "/api/v1/authentication/auth/",
            "",
            Some(json!({"username": "bob", "password": "Bob-password-1"})),
        )
        .await;
    assert_eq!(status, 200, "{login}");
    let (status, admin) = app
        .call(
            "POST",
            "/api/v1/users/users/",
            ADMIN_TOKEN,
            Some(
                json!({"username": "root2", "name": "Root 2", "email": "root2@example.com",
                         "system_roles": [USER, SYSTEM_ADMIN], "is_active": false}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{admin}");
    assert_eq!(admin["system_roles"][0]["id"], SYSTEM_ADMIN);
    assert_eq!(admin["org_roles"][0]["id"], ORG_USER);
    assert_eq!(admin["is_active"], false);
}

#[tokio::test]
async fn user_bodies_with_missing_or_mistyped_fields_answer_a_field_map() {
    let app = spawn_app().await;
    let post = |body: Value| app.call("POST", "/api/v1/users/users/", ADMIN_TOKEN, Some(body));
    let (status, body) = post(json!({})).await;
    assert_eq!(status, 400);
    for field in ["username", "name", "email"] {
        assert_eq!(body[field], json!(["This field is required."]), "{body}");
    }
    let (status, body) = post(json!({
        "username": 5, "name": "", "email": "not-an-email",
        "system_roles": ["nope"], "org_roles": [SYSTEM_ADMIN], "is_active": "maybe",
    }))
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["username"], json!(["Not a valid string."]));
    assert_eq!(body["name"], json!(["This field may not be blank."]));
    assert_eq!(body["email"], json!(["Enter a valid email address."]));
    assert!(body["system_roles"][0].as_str().unwrap().contains("nope"));
    assert!(
        body["org_roles"][0]
            .as_str()
            .unwrap()
            .starts_with("Invalid pk")
    );
    assert_eq!(body["is_active"], json!(["Must be a valid boolean."]));
    let (status, body) = post(json!([1, 2])).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["non_field_errors"],
        json!(["Invalid data. Expected a dictionary, but got list."])
    );
    let (status, body) =
        post(json!({"username": "admin", "name": "A", "email": "a@example.com"})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["username"],
        json!(["User with this username already exists."])
    );
    let (status, body) = app
        .call_with(
            "POST",
            "/api/v1/users/users/",
            ADMIN_TOKEN,
            None,
            &[("Content-Type", "application/json")],
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn the_user_list_is_filtered_searched_and_paginated_like_drf() {
    let app = spawn_app().await;
    for name in ["carol", "dave", "erin"] {
        app.user(name, SystemRole::User, Vec::new()).await;
    }
    let (status, all) = app
        .call("GET", "/api/v1/users/users/", ADMIN_TOKEN, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        all.as_array().unwrap().len(),
        4,
        "a plain array without limit"
    );
    let (_, page) = app
        .call(
            "GET",
            "/api/v1/users/users/?limit=2&offset=1",
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(page["count"], 4);
    assert_eq!(page["results"].as_array().unwrap().len(), 2);
    assert!(page["next"].as_str().unwrap().ends_with("limit=2&offset=3"));
    assert!(page["previous"].as_str().unwrap().ends_with("?limit=2"));
    for (query, expected) in [
        ("username=dave".to_owned(), vec!["dave"]),
        ("email=erin@example.com".to_owned(), vec!["erin"]),
        ("name=Carol".to_owned(), vec!["carol"]),
        ("search=R".to_owned(), vec!["admin", "carol", "erin"]),
        (format!("system_roles={SYSTEM_ADMIN}"), vec!["admin"]),
        ("username=nobody".to_owned(), vec![]),
        ("is_active=false".to_owned(), vec![]),
        // `order`, as DRF's ordering filter; an unknown field is passed over.
        (
            "order=-username".to_owned(),
            vec!["erin", "dave", "carol", "admin"],
        ),
        (
            "order=nothing,-date_joined".to_owned(),
            vec!["erin", "dave", "carol", "admin"],
        ),
        (
            "order=email".to_owned(),
            vec!["admin", "carol", "dave", "erin"],
        ),
    ] {
        let (status, found) = app
            .call(
                "GET",
                &format!("/api/v1/users/users/?{query}"),
                ADMIN_TOKEN,
                None,
            )
            .await;
        assert_eq!(status, 200);
        let names: Vec<&str> = found
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        assert_eq!(names, expected, "{query}");
    }
    let (_, picked) = app
        .call(
            "GET",
            "/api/v1/users/users/?username=dave&fields=id,username",
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(picked[0].as_object().unwrap().len(), 2);
}

#[tokio::test]
async fn a_user_is_read_replaced_patched_and_deleted() {
    let app = spawn_app().await;
    let frank = app.user("frank", SystemRole::User, Vec::new()).await;
    let path = format!("/api/v1/users/users/{}/", frank.id());
    let (status, user) = app.call("GET", &path, ADMIN_TOKEN, None).await;
    assert_eq!(status, 200);
    assert_eq!(user["username"], "frank");
    assert_eq!(
        user["org_roles"],
        json!([{"id": ORG_USER, "display_name": "OrgUser"}])
    );
    let (status, body) = app
        .call("PUT", &path, ADMIN_TOKEN, Some(json!({"name": "Frank"})))
        .await;
    assert_eq!(status, 400, "PUT needs every required field");
    assert_eq!(body["username"], json!(["This field is required."]));
    let (status, user) = app
        .call(
            "PUT",
            &path,
            ADMIN_TOKEN,
            Some(
                json!({"username": "frank2", "name": "Frank 2", "email": "f2@example.com",
                         "org_roles": [ORG_ADMIN], "password": "Frank-new-1"}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["username"], "frank2");
    assert_eq!(
        user["org_roles"],
        json!([{"id": ORG_ADMIN, "display_name": "OrgAdmin"}])
    );
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/authentication/auth/",
            "",
            Some(json!({"username": "frank2", "password": "Frank-new-1"})),
        )
        .await;
    assert_eq!(status, 200, "the new password logs in");
    let (status, user) = app
        .call(
            "PATCH",
            &path,
            ADMIN_TOKEN,
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (user["is_active"].clone(), user["name"].clone()),
        (json!(false), json!("Frank 2"))
    );
    let (status, body) = app
        .call("PATCH", &path, ADMIN_TOKEN, Some(json!({"email": 7})))
        .await;
    assert_eq!(
        (status, body["email"].clone()),
        (400, json!(["Not a valid string."]))
    );
    // E-mail addresses are unique, ignoring case, as JumpServer keeps them (a second user with
    // one was created); a user keeps their own.
    let taken = json!(["User with this Email already exists."]);
    let (status, body) = app
        .call(
            "PATCH",
            &path,
            ADMIN_TOKEN,
            Some(json!({"email": "Admin@Example.com"})),
        )
        .await;
    assert_eq!((status, body["email"].clone()), (400, taken.clone()));
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/users/users/",
            ADMIN_TOKEN,
            Some(json!({"username": "gina", "name": "Gina", "email": "F2@example.com"})),
        )
        .await;
    assert_eq!((status, body["email"].clone()), (400, taken), "{body}");
    let (status, body) = app
        .call(
            "PATCH",
            &path,
            ADMIN_TOKEN,
            Some(json!({"email": "f2@example.com", "name": "F"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.call("DELETE", &path, ADMIN_TOKEN, None).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = app.call("GET", &path, ADMIN_TOKEN, None).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"detail": "User object does not exist.", "code": "object_does_not_exist"})
    );
    for bad in ["not-a-uuid", "00000000-0000-0000-0000-0000000000ff"] {
        let (status, _) = app
            .call(
                "GET",
                &format!("/api/v1/users/users/{bad}/"),
                ADMIN_TOKEN,
                None,
            )
            .await;
        assert_eq!(status, 404, "{bad}");
    }
    let (status, body) = app.call("POST", &path, ADMIN_TOKEN, Some(json!({}))).await;
    assert_eq!(status, 405);
    assert_eq!(body["code"], "method_not_allowed");
    // An administrator does not demote themselves (the last one would leave nobody to
    // administer), as they do not deactivate themselves; nothing else of the body is applied.
    let admin = app.admin().await;
    let own = format!("/api/v1/users/users/{}/", admin.id());
    let (status, body) = app
        .call(
            "PATCH",
            &own,
            ADMIN_TOKEN,
            Some(json!({"system_roles": [USER], "name": "Demoted"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["system_roles"],
        json!(["You cannot change your own system role."])
    );
    let (_, me) = app.call("GET", &own, ADMIN_TOKEN, None).await;
    assert_eq!(me["system_roles"][0]["id"], SYSTEM_ADMIN, "{me}");
    assert_ne!(me["name"], "Demoted");
    let (status, _) = app
        .call("GET", "/api/v1/users/users/", ADMIN_TOKEN, None)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn ordinary_users_and_other_orgs_members_cannot_administer_users() {
    let app = spawn_app().await;
    let other = other_org(&app, "Other").await;
    let grace = app.user("grace", SystemRole::User, Vec::new()).await;
    let outsider = app
        .user(
            "heidi",
            SystemRole::User,
            vec![(ticketd_core::OrgId::parse(&other).unwrap(), ROLE_ORG_ADMIN)],
        )
        .await;
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/users/users/",
            "grace",
            Some(json!({"username": "x", "name": "X", "email": "x@example.com"})),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], "permission_denied");
    // As DRF, the refusal comes before the body's fields are read: an empty or wrongly shaped
    // body tells a caller without the right nothing of what it lacks.
    for path in [
        "/api/v1/users/users/",
        "/api/v1/users/users/invite/",
        "/api/v1/orgs/orgs/",
        "/api/v1/assets/assets/",
        "/api/v1/assets/nodes/",
    ] {
        for body in [json!({}), json!([1])] {
            let (status, answer) = app.call("POST", path, "grace", Some(body)).await;
            assert_eq!(status, 403, "{path}: {answer}");
            assert_eq!(answer["code"], "permission_denied", "{path}: {answer}");
        }
    }
    // So do changes of an asset and an organization the caller sees but may not manage.
    let ivan = app
        .user(
            "ivan",
            SystemRole::User,
            vec![(DEFAULT_ORG, ticketd_core::identity::ROLE_ORG_USER)],
        )
        .await
        .id();
    let asset = host(
        &app,
        ADMIN_TOKEN,
        &DEFAULT_ORG.to_string(),
        json!({"name": "seen", "address": "10.0.0.9", "platform": "Linux"}),
    )
    .await;
    for path in [
        format!("/api/v1/assets/assets/{}/", asset["id"].as_str().unwrap()),
        format!("/api/v1/orgs/orgs/{DEFAULT_ORG}/"),
    ] {
        let (status, answer) = app
            .call("PATCH", &path, "ivan", Some(json!({"name": 5})))
            .await;
        assert_eq!(status, 403, "{path}: {answer}");
    }
    // A body that changes nothing reads another member no more than the detail does (it
    // answered their whole record, e-mail included); one's own record is one's own.
    let admin = app.admin().await;
    for (method, body) in [
        ("PATCH", json!({})),
        (
            "PUT",
            json!({"username": "admin", "name": admin.user.name, "email": admin.user.email}),
        ),
    ] {
        let path = format!("/api/v1/users/users/{}/", admin.id());
        let (status, answer) = app.call(method, &path, "ivan", Some(body)).await;
        assert_eq!(status, 403, "{method}: {answer}");
        assert!(answer.get("email").is_none(), "{answer}");
    }
    let own = format!("/api/v1/users/users/{ivan}/");
    let (status, answer) = app.call("PATCH", &own, "ivan", Some(json!({}))).await;
    assert_eq!(
        (status, &answer["username"]),
        (200, &json!("ivan")),
        "{answer}"
    );
    let admin_path = format!("/api/v1/users/users/{}/", admin.id());
    let (status, _) = app
        .call(
            "PATCH",
            &admin_path,
            "grace",
            Some(json!({"name": "Owned"})),
        )
        .await;
    assert_eq!(status, 403, "grace may not rename the admin");
    let (status, _) = app.call("DELETE", &admin_path, "grace", None).await;
    assert_eq!(status, 403);
    let grace_path = format!("/api/v1/users/users/{}/", grace.id());
    let (status, _) = app
        .call_with("GET", &grace_path, "heidi", None, &[("X-JMS-ORG", &other)])
        .await;
    assert_eq!(
        status, 404,
        "a member of another organization does not see grace"
    );
    let (status, me) = app
        .call(
            "PATCH",
            &grace_path,
            "grace",
            Some(json!({"name": "Grace H"})),
        )
        .await;
    assert_eq!(
        (status, me["name"].clone()),
        (200, json!("Grace H")),
        "one's own name"
    );
    let (status, _) = app
        .call(
            "PATCH",
            &grace_path,
            "grace",
            Some(json!({"system_roles": [SYSTEM_ADMIN]})),
        )
        .await;
    assert_eq!(status, 403, "nobody promotes themselves");
    let (status, _) = app
        .call(
            "PATCH",
            &grace_path,
            "grace",
            Some(json!({"org_roles": [ORG_ADMIN]})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call_with(
            "GET",
            "/api/v1/users/users/",
            "heidi",
            None,
            &[("X-JMS-ORG", DEFAULT)],
        )
        .await;
    assert_eq!(status, 403, "heidi may not enter Default");
    let (status, members) = app
        .call_with(
            "GET",
            "/api/v1/users/users/",
            "heidi",
            None,
            &[("X-JMS-ORG", &other)],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(members[0]["id"], outsider.id().to_string());
    // An admin of Other who is a plain member of Default, asking in Other, finds no member of
    // Default alone: neither to read (e-mail included) nor to remove or change.
    app.user(
        "judy",
        SystemRole::User,
        vec![
            (ticketd_core::OrgId::parse(&other).unwrap(), ROLE_ORG_ADMIN),
            (DEFAULT_ORG, ticketd_core::identity::ROLE_ORG_USER),
        ],
    )
    .await;
    let ivan_path = format!("/api/v1/users/users/{ivan}/");
    let in_other = [("X-JMS-ORG", other.as_str())];
    for (method, path, body) in [
        ("GET", ivan_path.clone(), None),
        (
            "PATCH",
            ivan_path.clone(),
            Some(json!({"org_roles": [ORG_ADMIN]})),
        ),
        ("POST", format!("{ivan_path}remove/"), None),
    ] {
        let (status, answer) = app.call_with(method, &path, "judy", body, &in_other).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
    }
    let (status, _) = app.call("GET", &ivan_path, "judy", None).await;
    assert_eq!(status, 403, "judy may not view Default's directory");
    let (status, _) = app
        .call_with("GET", &ivan_path, "heidi", None, &in_other)
        .await;
    assert_eq!(status, 404);
    // Nor does a system administrator asking in Other delete him (he is Default's alone).
    let (status, answer) = app
        .call_with("DELETE", &ivan_path, ADMIN_TOKEN, None, &in_other)
        .await;
    assert_eq!(status, 404, "{answer}");
    let (status, listed) = app.call("GET", &ivan_path, ADMIN_TOKEN, None).await;
    assert_eq!(
        (status, listed["id"].clone()),
        (200, json!(ivan.to_string()))
    );
    for (method, path) in [
        ("GET", "/api/v1/users/users/"),
        ("POST", "/api/v1/users/users/"),
        ("DELETE", grace_path.as_str()),
    ] {
        let (status, body) = anonymous(&app, method, path).await;
        assert_eq!(status, 401, "{method} {path}");
        assert_eq!(body["code"], "not_authenticated");
    }
}

#[tokio::test]
async fn org_admins_change_roles_invite_and_remove_members_of_their_organization() {
    let app = spawn_app().await;
    app.user(
        "ivan",
        SystemRole::User,
        vec![(DEFAULT_ORG, ROLE_ORG_ADMIN)],
    )
    .await;
    let judy = app.user("judy", SystemRole::User, Vec::new()).await;
    let judy_path = format!("/api/v1/users/users/{}/", judy.id());
    let (status, user) = app
        .call(
            "PUT",
            &judy_path,
            "ivan",
            Some(
                json!({"username": "judy", "name": "Judy", "email": "judy@example.com",
                         "org_roles": [ORG_ADMIN, ORG_USER]}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["org_roles"].as_array().unwrap().len(), 2);
    let (status, _) = app
        .call(
            "PATCH",
            &judy_path,
            "ivan",
            Some(json!({"name": "Not yours"})),
        )
        .await;
    assert_eq!(status, 403, "profiles stay with system admins");
    let (status, _) = app
        .call("POST", &format!("{judy_path}remove/"), "ivan", None)
        .await;
    assert_eq!(status, 204);
    let (_, members) = app.call("GET", "/api/v1/users/users/", "ivan", None).await;
    let names: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"judy"), "{names:?}");
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/users/users/invite/",
            ADMIN_TOKEN,
            Some(json!({"users": [judy.id().to_string()], "org_roles": [ORG_USER]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, judy_now) = app.call("GET", &judy_path, "ivan", None).await;
    assert_eq!(
        judy_now["org_roles"],
        json!([{"id": ORG_USER, "display_name": "OrgUser"}])
    );
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/users/users/invite/",
            "ivan",
            Some(json!({"users": "x"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["users"].is_array() && body["org_roles"].is_array(),
        "{body}"
    );
}

// ------------------------------------------------------------------ organizations

#[tokio::test]
async fn organizations_are_listed_created_renamed_and_deleted() {
    let app = spawn_app().await;
    let (status, orgs) = app
        .call("GET", "/api/v1/orgs/orgs/", ADMIN_TOKEN, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        orgs.as_array().unwrap().len(),
        1,
        "only Default: GLOBAL and SYSTEM are not listed"
    );
    assert_eq!(orgs[0]["id"], DEFAULT);
    assert_eq!(orgs[0]["is_default"], true);
    // No body at all reads as an empty object, as DRF reads it: the required field is named
    // (a literal null is still not a dictionary).
    let (status, answer) = app
        .call("POST", "/api/v1/orgs/orgs/", ADMIN_TOKEN, None)
        .await;
    assert_eq!(
        (status, answer["name"].clone()),
        (400, json!(["This field is required."])),
        "{answer}"
    );
    for (body, field, message) in [
        ("", "name", "This field is required."),
        (
            "null",
            "non_field_errors",
            "Invalid data. Expected a dictionary, but got NoneType.",
        ),
    ] {
        let (status, answer) = app
            .call_raw(
                "POST",
                "/api/v1/orgs/orgs/",
                ADMIN_TOKEN,
                "application/json",
                body,
            )
            .await;
        assert_eq!(status, 400, "{body:?}: {answer}");
        assert_eq!(answer[field], json!([message]), "{body:?}");
    }
    // Blanks are a body, which DRF's JSON parser refuses; only an absent one reads as `{}`.
    let (status, answer) = app
        .call_raw(
            "POST",
            "/api/v1/orgs/orgs/",
            ADMIN_TOKEN,
            "application/json",
            " \n ",
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("parse_error")),
        "{answer}"
    );
    assert!(
        answer["detail"]
            .as_str()
            .is_some_and(|detail| detail.starts_with("JSON parse error - ")),
        "{answer}"
    );
    let (status, org) = app
        .call(
            "POST",
            "/api/v1/orgs/orgs/",
            ADMIN_TOKEN,
            Some(json!({"name": "Prod", "comment": "c"})),
        )
        .await;
    assert_eq!(status, 201, "{org}");
    for (field, value) in [
        ("name", json!("Prod")),
        ("comment", json!("c")),
        ("is_default", json!(false)),
        ("is_root", json!(false)),
        ("internal", json!(false)),
    ] {
        assert_eq!(org[field], value, "{field}");
    }
    let path = format!("/api/v1/orgs/orgs/{}/", id_of(&org));
    // The comment is kept: changed when sent, left as it was when not.
    let (status, changed) = app
        .call(
            "PATCH",
            &path,
            ADMIN_TOKEN,
            Some(json!({"comment": "production"})),
        )
        .await;
    assert_eq!(
        (status, changed["comment"].clone()),
        (200, json!("production"))
    );
    let (status, renamed) = app
        .call("PUT", &path, ADMIN_TOKEN, Some(json!({"name": "Prod"})))
        .await;
    assert_eq!(
        (status, renamed["comment"].clone()),
        (200, json!("production"))
    );
    let (_, read) = app.call("GET", &path, ADMIN_TOKEN, None).await;
    assert_eq!(read["comment"], "production");
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/orgs/orgs/",
            ADMIN_TOKEN,
            Some(json!({"name": "prod"})),
        )
        .await;
    assert_eq!(
        (status, body["name"].clone()),
        (400, json!(["Organization with this name already exists."]))
    );
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/orgs/orgs/",
            ADMIN_TOKEN,
            Some(json!({"name": ["x"]})),
        )
        .await;
    assert_eq!(
        (status, body["name"].clone()),
        (400, json!(["Not a valid string."]))
    );
    let (_, page) = app
        .call(
            "GET",
            "/api/v1/orgs/orgs/?limit=1&search=pro",
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(
        (page["count"].clone(), page["results"][0]["name"].clone()),
        (json!(1), json!("Prod"))
    );
    let (status, body) = app.call("PUT", &path, ADMIN_TOKEN, Some(json!({}))).await;
    assert_eq!(
        (status, body["name"].clone()),
        (400, json!(["This field is required."]))
    );
    let (status, org) = app
        .call(
            "PATCH",
            &path,
            ADMIN_TOKEN,
            Some(json!({"name": "Production"})),
        )
        .await;
    assert_eq!((status, org["name"].clone()), (200, json!("Production")));
    let (status, org) = app.call("GET", &path, ADMIN_TOKEN, None).await;
    assert_eq!((status, org["name"].clone()), (200, json!("Production")));
    let (status, body) = app
        .call(
            "PATCH",
            &format!("/api/v1/orgs/orgs/{DEFAULT}/"),
            ADMIN_TOKEN,
            Some(json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(status, 400, "built-ins keep their names: {body}");
    let (status, _) = app.call("DELETE", &path, ADMIN_TOKEN, None).await;
    assert_eq!(status, 204);
    let (status, body) = app.call("GET", &path, ADMIN_TOKEN, None).await;
    assert_eq!(
        (status, body["detail"].clone()),
        (404, json!("Organization object does not exist."))
    );
    let (status, _) = app
        .call("GET", "/api/v1/orgs/orgs/zzz/", ADMIN_TOKEN, None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = app.call("POST", &path, ADMIN_TOKEN, Some(json!({}))).await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn ordinary_users_see_only_their_organizations_and_cannot_change_them() {
    let app = spawn_app().await;
    let other = other_org(&app, "Other").await;
    app.user("kim", SystemRole::User, Vec::new()).await;
    let (status, orgs) = app.call("GET", "/api/v1/orgs/orgs/", "kim", None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = orgs
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Default"]);
    let (status, _) = app
        .call("GET", &format!("/api/v1/orgs/orgs/{other}/"), "kim", None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/orgs/orgs/",
            "kim",
            Some(json!({"name": "Mine"})),
        )
        .await;
    assert_eq!(status, 403);
    let default_path = format!("/api/v1/orgs/orgs/{DEFAULT}/");
    let (status, _) = app
        .call(
            "PATCH",
            &default_path,
            "kim",
            Some(json!({"name": "Default"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = app.call("DELETE", &default_path, "kim", None).await;
    assert_eq!(status, 403);
    let (status, _) = anonymous(&app, "GET", "/api/v1/orgs/orgs/").await;
    assert_eq!(status, 401);
}

/// The org roles `user` holds in Default, sorted.
async fn org_roles_of(app: &TestApp, user: &Actor) -> Vec<String> {
    let (status, bindings) = app
        .call(
            "GET",
            &format!("/api/v1/rbac/org-role-bindings/?user={}", user.id()),
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(status, 200, "{bindings}");
    let mut roles: Vec<String> = bindings
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["role"]["id"].as_str().unwrap().to_owned())
        .collect();
    roles.sort();
    roles
}

/// Role changes of one user at the same moment each stay, or one replaces the other whole: two
/// removals of different roles both remove (each rewrote the roles it had read, so one undid
/// the other, answered 204), and two replacements never leave the union (on PostgreSQL each
/// deleted only the rows its statement saw). Rounds, since a race needs a chance to show.
#[tokio::test]
async fn role_changes_of_one_user_at_once_each_stay() {
    let app = spawn_app().await;
    let ned = app.user("ned", SystemRole::User, Vec::new()).await;
    let user_path = format!("/api/v1/users/users/{}/", ned.id());
    for round in 0..8 {
        let (status, created) = app
            .call(
                "POST",
                "/api/v1/rbac/org-role-bindings/",
                ADMIN_TOKEN,
                Some(json!([{"user": ned.id().to_string(), "role": ORG_ADMIN},
                            {"user": ned.id().to_string(), "role": ORG_AUDITOR}])),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        let paths: Vec<String> = created
            .as_array()
            .unwrap()
            .iter()
            .map(|b| format!("/api/v1/rbac/org-role-bindings/{}/", id_of(b)))
            .collect();
        let (first, second) = tokio::join!(
            app.call("DELETE", &paths[0], ADMIN_TOKEN, None),
            app.call("DELETE", &paths[1], ADMIN_TOKEN, None)
        );
        assert_eq!((first.0, second.0), (204, 204), "round {round}");
        assert_eq!(org_roles_of(&app, &ned).await, [ORG_USER], "round {round}");
        let (one, other) = tokio::join!(
            app.call(
                "PATCH",
                &user_path,
                ADMIN_TOKEN,
                Some(json!({"org_roles": [ORG_ADMIN]}))
            ),
            app.call(
                "PATCH",
                &user_path,
                ADMIN_TOKEN,
                Some(json!({"org_roles": [ORG_AUDITOR]}))
            )
        );
        assert_eq!(
            (one.0, other.0),
            (200, 200),
            "round {round}: {} {}",
            one.1,
            other.1
        );
        let held = org_roles_of(&app, &ned).await;
        assert!(
            held == [ORG_ADMIN] || held == [ORG_AUDITOR],
            "round {round}: one replacement wins whole, not {held:?}"
        );
        let (status, _) = app
            .call(
                "PATCH",
                &user_path,
                ADMIN_TOKEN,
                Some(json!({"org_roles": [ORG_USER]})),
            )
            .await;
        assert_eq!(status, 200);
    }
    // A removal and a change of roles at once: in either order the user ends outside (a
    // change after the removal finds nobody), where the change put them back.
    let remove = format!("{user_path}remove/");
    for round in 0..8 {
        let (removed, changed) = tokio::join!(
            app.call("POST", &remove, ADMIN_TOKEN, None),
            app.call(
                "PATCH",
                &user_path,
                ADMIN_TOKEN,
                Some(json!({"org_roles": [ORG_AUDITOR]}))
            )
        );
        assert_eq!(removed.0, 204, "round {round}: {}", removed.1);
        assert!(matches!(changed.0, 200 | 404), "round {round}: {changed:?}");
        assert!(
            org_roles_of(&app, &ned).await.is_empty(),
            "round {round}: still a member"
        );
        let (status, body) = app
            .call(
                "POST",
                "/api/v1/rbac/org-role-bindings/",
                ADMIN_TOKEN,
                Some(json!({"user": ned.id().to_string(), "role": ORG_USER})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
}

/// Rounds of a deactivation and a rename of the object at `path` sent at once: both stay (each
/// wrote back the whole row it had read, so one undid the other).
async fn deactivation_and_rename_at_once_both_stay(app: &TestApp, path: &str) {
    for round in 0..8 {
        let name = format!("renamed-{round}");
        let (off, renamed) = tokio::join!(
            app.call(
                "PATCH",
                path,
                ADMIN_TOKEN,
                Some(json!({"is_active": false}))
            ),
            app.call("PATCH", path, ADMIN_TOKEN, Some(json!({"name": name})))
        );
        assert_eq!((off.0, renamed.0), (200, 200), "{} {}", off.1, renamed.1);
        let (_, stored) = app.call("GET", path, ADMIN_TOKEN, None).await;
        assert_eq!(
            (&stored["is_active"], &stored["name"]),
            (&json!(false), &json!(name)),
            "{path}, round {round}"
        );
        let (status, _) = app
            .call("PATCH", path, ADMIN_TOKEN, Some(json!({"is_active": true})))
            .await;
        assert_eq!(status, 200);
    }
}

/// Changes of different fields of one user at once both stay: a rename sent beside a
/// deactivation undid it (the rename wrote back the whole row it had read), and the user, and
/// their access keys, stayed active. Two administrators demoting each other at once leave one.
#[tokio::test]
async fn changes_of_a_user_at_once_keep_each_field_and_an_administrator() {
    let app = spawn_app().await;
    let ned = app.user("ned", SystemRole::User, Vec::new()).await;
    let path = format!("/api/v1/users/users/{}/", ned.id());
    deactivation_and_rename_at_once_both_stay(&app, &path).await;
    let admin = app.admin().await;
    let admin_path = format!("/api/v1/users/users/{}/", admin.id());
    for round in 0..6 {
        let username = format!("root{round}");
        let other = app.user(&username, SystemRole::Admin, Vec::new()).await;
        let other_path = format!("/api/v1/users/users/{}/", other.id());
        let demote = || Some(json!({"system_roles": [USER]}));
        let (first, second) = tokio::join!(
            app.call("PATCH", &other_path, ADMIN_TOKEN, demote()),
            app.call("PATCH", &admin_path, &username, demote())
        );
        let admins = app
            .engine
            .store()
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.system_role == SystemRole::Admin && u.is_active)
            .count();
        assert_eq!(admins, 1, "round {round}: {first:?} {second:?}");
        if second.0 == 200 {
            let promote = Some(json!({"system_roles": [SYSTEM_ADMIN]}));
            let (status, _) = app.call("PATCH", &admin_path, &username, promote).await;
            assert_eq!(status, 200);
            let (status, _) = app.call("PATCH", &other_path, ADMIN_TOKEN, demote()).await;
            assert_eq!(status, 200);
        }
    }
}

#[tokio::test]
async fn org_role_bindings_are_added_listed_and_removed_one_role_at_a_time() {
    let app = spawn_app().await;
    let leo = app.user("leo", SystemRole::User, Vec::new()).await;
    let (status, created) = app
        .call(
            "POST",
            "/api/v1/rbac/org-role-bindings/",
            ADMIN_TOKEN,
            Some(json!([{"user": leo.id().to_string(), "role": ORG_ADMIN, "scope": "org"}])),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let binding = &created[0];
    assert_eq!(binding["user"]["username"], "leo");
    assert_eq!(binding["role"]["id"], ORG_ADMIN);
    assert_eq!(
        (binding["org"].clone(), binding["org_name"].clone()),
        (json!(DEFAULT), json!("DEFAULT"))
    );
    let (_, admins) = app
        .call(
            "GET",
            &format!("/api/v1/rbac/org-role-bindings/?role={ORG_ADMIN}&limit=10"),
            ADMIN_TOKEN,
            None,
        )
        .await;
    let names: Vec<&str> = admins["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["user"]["username"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"leo") && names.contains(&"admin"));
    let path = format!("/api/v1/rbac/org-role-bindings/{}/", id_of(binding));
    let (status, same) = app.call("GET", &path, ADMIN_TOKEN, None).await;
    assert_eq!((status, same["id"].clone()), (200, binding["id"].clone()));
    let (status, _) = app.call("DELETE", &path, ADMIN_TOKEN, None).await;
    assert_eq!(status, 204);
    let (_, left) = app
        .call(
            "GET",
            &format!("/api/v1/rbac/org-role-bindings/?user={}", leo.id()),
            ADMIN_TOKEN,
            None,
        )
        .await;
    let roles: Vec<&str> = left
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["role"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(roles, [ORG_USER], "the other role of leo stays");
    let (status, _) = app.call("GET", &path, ADMIN_TOKEN, None).await;
    assert_eq!(status, 404);
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/rbac/org-role-bindings/",
            ADMIN_TOKEN,
            Some(json!({"role": SYSTEM_ADMIN})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["user"], json!(["This field is required."]));
    assert!(body["role"][0].as_str().unwrap().starts_with("Invalid pk"));
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/rbac/org-role-bindings/",
            ADMIN_TOKEN,
            Some(json!({"user": "00000000-0000-0000-0000-0000000000ee", "role": ORG_USER})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/rbac/org-role-bindings/",
            "leo",
            Some(json!({"user": leo.id().to_string(), "role": ORG_ADMIN})),
        )
        .await;
    assert_eq!(status, 403, "members do not grant themselves roles");
    // Refused before the body is read, as DRF refuses it: an empty list or a bad body too.
    for body in [json!([]), json!({}), json!([{"user": 5}])] {
        let (status, answer) = app
            .call("POST", "/api/v1/rbac/org-role-bindings/", "leo", Some(body))
            .await;
        assert_eq!(status, 403, "{answer}");
        assert_eq!(answer["code"], "permission_denied");
    }
    // In the global organization too: a system auditor reads everything and binds nothing.
    app.user("audrey", SystemRole::Auditor, Vec::new()).await;
    let (status, answer) = app
        .call_with(
            "POST",
            "/api/v1/rbac/org-role-bindings/",
            "audrey",
            Some(json!([])),
            &[("X-JMS-ORG", "00000000-0000-0000-0000-000000000000")],
        )
        .await;
    assert_eq!(status, 403, "{answer}");
    let (status, roles) = app
        .call("GET", "/api/v1/rbac/roles/?scope=org", ADMIN_TOKEN, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(roles.as_array().unwrap().len(), 3);
    let (status, _) = app
        .call(
            "GET",
            "/api/v1/rbac/org-role-bindings/nope/",
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(status, 404);
}

// ------------------------------------------------------------------ assets and nodes

#[tokio::test]
async fn hosts_are_created_in_the_requested_org_and_listed_with_filters_and_pages() {
    let app = spawn_app().await;
    let other = other_org(&app, "Other").await;
    let prod = node(&app, DEFAULT, json!({"value": "Prod"})).await;
    let (status, db) = app
        .call(
            "POST",
            &format!("/api/v1/assets/nodes/{}/children/", id_of(&prod)),
            ADMIN_TOKEN,
            Some(json!({"value": "DB"})),
        )
        .await;
    assert_eq!(status, 201, "{db}");
    let web = host(&app, ADMIN_TOKEN, DEFAULT, json!({"name": "web-1", "address": "10.0.0.1", "platform": {"pk": 1}, "nodes": [{"pk": id_of(&prod)}], "comment": "front"})).await;
    assert_eq!(web["platform"], json!({"id": 1, "name": "Linux"}));
    assert_eq!(web["nodes"], json!([{"id": id_of(&prod), "name": "Prod"}]));
    assert_eq!(web["nodes_display"], json!(["/Prod"]));
    for (field, value) in [
        ("org_id", json!(DEFAULT)),
        ("org_name", json!("DEFAULT")),
        ("is_active", json!(true)),
        ("comment", json!("front")),
        ("address", json!("10.0.0.1")),
    ] {
        assert_eq!(web[field], value, "{field}");
    }
    assert!(web["date_created"].as_str().unwrap().ends_with("+0000"));
    host(&app, ADMIN_TOKEN, DEFAULT, json!({"name": "db-1", "address": "10.0.0.2", "platform": "Windows", "nodes": [id_of(&db)]})).await;
    host(
        &app,
        ADMIN_TOKEN,
        DEFAULT,
        json!({"name": "db-2", "address": "10.0.0.3", "is_active": false}),
    )
    .await;
    let elsewhere = host(
        &app,
        ADMIN_TOKEN,
        &other,
        json!({"name": "far-1", "address": "10.9.0.1"}),
    )
    .await;
    assert_eq!(elsewhere["org_id"], other);
    let names = |list: &Value| -> Vec<String> {
        let rows = list.get("results").unwrap_or(list);
        rows.as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_owned())
            .collect()
    };
    for (query, expected) in [
        (String::new(), vec!["db-1", "db-2", "web-1"]),
        ("search=db".to_owned(), vec!["db-1", "db-2"]),
        ("name=web-1".to_owned(), vec!["web-1"]),
        ("address=10.0.0.2".to_owned(), vec!["db-1"]),
        (format!("node_id={}", id_of(&prod)), vec!["db-1", "web-1"]),
        (format!("node={}", id_of(&db)), vec!["db-1"]),
        ("platform=5".to_owned(), vec!["db-1"]),
        ("is_active=false".to_owned(), vec!["db-2"]),
        ("id=not-a-uuid".to_owned(), vec![]),
    ] {
        let (status, list) = app
            .call(
                "GET",
                &format!("/api/v1/assets/assets/?{query}"),
                ADMIN_TOKEN,
                None,
            )
            .await;
        assert_eq!(status, 200, "{query}");
        let mut found = names(&list);
        found.sort();
        assert_eq!(found, expected, "{query}");
    }
    let (_, page) = app
        .call(
            "GET",
            "/api/v1/assets/hosts/?limit=2&offset=2",
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(
        (page["count"].clone(), page["next"].clone()),
        (json!(3), Value::Null)
    );
    assert!(
        page["previous"]
            .as_str()
            .unwrap()
            .ends_with("/api/v1/assets/hosts/?limit=2")
    );
    assert_eq!(page["results"].as_array().unwrap().len(), 1);
    let (_, page) = app
        .call(
            "GET",
            "/api/v1/assets/hosts/?limit=1&search=db&node_id=",
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(page["count"], 2);
    let (_, everywhere) = app
        .call_with(
            "GET",
            "/api/v1/assets/assets/",
            ADMIN_TOKEN,
            None,
            &[("X-JMS-ORG", "ROOT")],
        )
        .await;
    assert_eq!(
        names(&everywhere).len(),
        4,
        "the global organization sees every org's assets"
    );
    let (_, there) = app
        .call_with(
            "GET",
            "/api/v1/assets/assets/",
            ADMIN_TOKEN,
            None,
            &[("X-JMS-ORG", "Other")],
        )
        .await;
    assert_eq!(names(&there), ["far-1"]);
    let (status, body) = app
        .call_with(
            "POST",
            "/api/v1/assets/hosts/",
            ADMIN_TOKEN,
            Some(json!({"name": "x", "address": "y"})),
            &[("X-JMS-ORG", "ROOT")],
        )
        .await;
    assert_eq!((status, body["code"].clone()), (400, json!("org_required")));
}

#[tokio::test]
async fn asset_bodies_with_bad_fields_answer_a_field_map() {
    let app = spawn_app().await;
    let other = other_org(&app, "Other").await;
    let foreign = node(&app, &other, json!({"value": "Theirs"})).await;
    let post = |body: Value| app.call("POST", "/api/v1/assets/hosts/", ADMIN_TOKEN, Some(body));
    let (status, body) = post(json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(
        (body["name"].clone(), body["address"].clone()),
        (
            json!(["This field is required."]),
            json!(["This field is required."])
        )
    );
    let (status, body) = post(json!({"name": "a", "address": "b", "platform": 99, "nodes": "x", "is_active": [], "comment": 3})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["platform"],
        json!(["Invalid pk \"99\" - object does not exist."])
    );
    assert_eq!(
        body["nodes"],
        json!(["Expected a list of items but got type \"str\"."])
    );
    assert_eq!(body["is_active"], json!(["Must be a valid boolean."]));
    assert_eq!(body["comment"], json!(["Not a valid string."]));
    let (status, body) =
        post(json!({"name": "a", "address": "b", "nodes": [id_of(&foreign)]})).await;
    assert_eq!(
        (status, body["nodes"].clone()),
        (400, json!(["Unknown node in this organization."]))
    );
    let (status, body) = post(json!({"name": "a", "address": "b", "nodes": ["nope"]})).await;
    assert_eq!(status, 400);
    assert!(
        body["nodes"][0]
            .as_str()
            .unwrap()
            .contains("not a valid UUID")
    );
    host(
        &app,
        ADMIN_TOKEN,
        DEFAULT,
        json!({"name": "dup", "address": "1.1.1.1"}),
    )
    .await;
    let (status, body) = post(json!({"name": "dup", "address": "1.1.1.2"})).await;
    assert_eq!(
        (status, body["name"].clone()),
        (400, json!(["Asset with this name already exists."]))
    );
    let (status, body) = post(json!({"name": "long", "address": "x".repeat(800)})).await;
    assert_eq!(status, 400);
    assert!(body["address"].is_array(), "{body}");
    let (status, body) = post(json!("a string")).await;
    assert_eq!(status, 400);
    assert!(body["non_field_errors"].is_array());
}

/// A change of an asset racing its deletion never brings it back (the change was an upsert:
/// the asset was deleted, 204, and there again), changes of different fields at once both
/// stay (each wrote back the row it had read), and two creations with one client-chosen id
/// make one asset (both answered 201, the last one's fields kept).
#[tokio::test]
async fn an_asset_deleted_while_changed_stays_deleted_and_an_id_is_created_once() {
    let app = spawn_app().await;
    let asset = host(
        &app,
        ADMIN_TOKEN,
        DEFAULT,
        json!({"name": "fields", "address": "10.9.0.3"}),
    )
    .await;
    let path = format!("/api/v1/assets/assets/{}/", id_of(&asset));
    deactivation_and_rename_at_once_both_stay(&app, &path).await;
    for round in 0..8 {
        let asset = host(
            &app,
            ADMIN_TOKEN,
            DEFAULT,
            json!({"name": format!("race-{round}"), "address": "10.9.0.1"}),
        )
        .await;
        let path = format!("/api/v1/assets/assets/{}/", id_of(&asset));
        let (changed, deleted) = tokio::join!(
            app.call(
                "PATCH",
                &path,
                ADMIN_TOKEN,
                Some(json!({"comment": "changed"}))
            ),
            app.call("DELETE", &path, ADMIN_TOKEN, None)
        );
        assert_eq!(deleted.0, 204, "round {round}: {}", deleted.1);
        assert!(matches!(changed.0, 200 | 404), "round {round}: {changed:?}");
        let (status, _) = app.call("GET", &path, ADMIN_TOKEN, None).await;
        assert_eq!(status, 404, "round {round}: the deleted asset is back");
    }
    for round in 0..8 {
        let id = uuid::Uuid::now_v7().to_string();
        let body = |name: &str| {
            Some(json!({"id": id, "name": name, "address": "10.9.0.2", "platform": "Linux"}))
        };
        let (first, second) = tokio::join!(
            app.call(
                "POST",
                "/api/v1/assets/assets/",
                ADMIN_TOKEN,
                body(&format!("a-{round}"))
            ),
            app.call(
                "POST",
                "/api/v1/assets/assets/",
                ADMIN_TOKEN,
                body(&format!("b-{round}"))
            )
        );
        let mut statuses = [first.0, second.0];
        statuses.sort_unstable();
        assert_eq!(statuses[0], 201, "round {round}: {first:?} {second:?}");
        assert!(
            statuses[1] >= 400,
            "round {round}: both created: {first:?} {second:?}"
        );
        let (created, refused) = if first.0 == 201 {
            (&first.1, &second.1)
        } else {
            (&second.1, &first.1)
        };
        // Refused on its id, as when sent after the other (it was told the name was taken).
        assert_eq!(
            refused["id"],
            json!(["Asset with this id already exists."]),
            "round {round}: {refused}"
        );
        let (_, stored) = app
            .call(
                "GET",
                &format!("/api/v1/assets/assets/{id}/"),
                ADMIN_TOKEN,
                None,
            )
            .await;
        assert_eq!(stored["name"], created["name"], "round {round}");
    }
}

#[tokio::test]
async fn assets_are_replaced_patched_deleted_and_hidden_from_other_orgs() {
    let app = spawn_app().await;
    let other = other_org(&app, "Other").await;
    app.user(
        "mallory",
        SystemRole::User,
        vec![(ticketd_core::OrgId::parse(&other).unwrap(), ROLE_ORG_ADMIN)],
    )
    .await;
    app.user("nina", SystemRole::User, Vec::new()).await;
    let asset = host(
        &app,
        ADMIN_TOKEN,
        DEFAULT,
        json!({"name": "app-1", "address": "10.1.0.1"}),
    )
    .await;
    let path = format!("/api/v1/assets/assets/{}/", id_of(&asset));
    let (status, body) = app
        .call("PUT", &path, ADMIN_TOKEN, Some(json!({"name": "app-1b"})))
        .await;
    assert_eq!(
        (status, body["address"].clone()),
        (400, json!(["This field is required."]))
    );
    let (status, body) = app
        .call(
            "PUT",
            &path,
            ADMIN_TOKEN,
            Some(json!({"name": "app-1b", "address": "10.1.0.2", "platform": "Windows"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["name"].clone(), body["platform"]["id"].clone()),
        (json!("app-1b"), json!(5))
    );
    let (status, body) = app
        .call(
            "PATCH",
            &format!("/api/v1/assets/hosts/{}/", id_of(&asset)),
            ADMIN_TOKEN,
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(
        (status, body["is_active"].clone(), body["name"].clone()),
        (200, json!(false), json!("app-1b"))
    );
    let (status, body) = app.call("GET", &path, "nina", None).await;
    assert_eq!(
        (status, body["name"].clone()),
        (200, json!("app-1b")),
        "members of Default read it"
    );
    let (status, _) = app
        .call("PATCH", &path, "nina", Some(json!({"name": "mine"})))
        .await;
    assert_eq!(status, 403, "members do not manage the catalog");
    let (status, _) = app.call("DELETE", &path, "nina", None).await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/assets/hosts/",
            "nina",
            Some(json!({"name": "n", "address": "n"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = app
        .call_with("GET", &path, "mallory", None, &[("X-JMS-ORG", &other)])
        .await;
    assert_eq!(
        (status, body["detail"].clone()),
        (404, json!("Asset object does not exist."))
    );
    let (status, _) = app
        .call_with("GET", &path, ADMIN_TOKEN, None, &[("X-JMS-ORG", &other)])
        .await;
    assert_eq!(status, 404, "an asset of Default is not found from Other");
    let (status, _) = anonymous(&app, "GET", &path).await;
    assert_eq!(status, 401);
    let (status, _) = app.call("DELETE", &path, ADMIN_TOKEN, None).await;
    assert_eq!(status, 204);
    let (status, _) = app.call("GET", &path, ADMIN_TOKEN, None).await;
    assert_eq!(status, 404);
    let (status, _) = app
        .call("GET", "/api/v1/assets/assets/123/", ADMIN_TOKEN, None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .call("DELETE", "/api/v1/assets/assets/", ADMIN_TOKEN, None)
        .await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn nodes_are_created_by_value_by_child_and_by_path_then_listed_and_deleted() {
    let app = spawn_app().await;
    app.user("olga", SystemRole::User, Vec::new()).await;
    let root = node(&app, DEFAULT, json!({"value": "Corp"})).await;
    for (field, value) in [
        ("value", json!("Corp")),
        ("name", json!("Corp")),
        ("full_value", json!("/Corp")),
        ("parent", Value::Null),
        ("org_name", json!("DEFAULT")),
    ] {
        assert_eq!(root[field], value, "{field}");
    }
    assert_eq!(root["key"], root["id"]);
    let child = node(
        &app,
        DEFAULT,
        json!({"value": "Web", "parent": id_of(&root)}),
    )
    .await;
    assert_eq!(
        (child["full_value"].clone(), child["parent"].clone()),
        (json!("/Corp/Web"), root["id"].clone())
    );
    let deep = node(&app, DEFAULT, json!({"full_value": "/Corp/Web/Edge"})).await;
    assert_eq!(deep["full_value"], "/Corp/Web/Edge");
    assert_eq!(
        deep["parent"], child["id"],
        "existing nodes of the path are reused"
    );
    let (_, list) = app
        .call(
            "GET",
            "/api/v1/assets/nodes/?search=web&limit=10",
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(list["count"], 2);
    let (_, by_value) = app
        .call("GET", "/api/v1/assets/nodes/?value=Edge", ADMIN_TOKEN, None)
        .await;
    assert_eq!(by_value[0]["id"], deep["id"]);
    let (_, children) = app
        .call(
            "GET",
            &format!("/api/v1/assets/nodes/{}/children/", id_of(&root)),
            "olga",
            None,
        )
        .await;
    assert_eq!(children.as_array().unwrap().len(), 1);
    let path = format!("/api/v1/assets/nodes/{}/", id_of(&deep));
    let (status, one) = app.call("GET", &path, "olga", None).await;
    assert_eq!((status, one["value"].clone()), (200, json!("Edge")));
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/assets/nodes/",
            ADMIN_TOKEN,
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, body["value"].clone()),
        (400, json!(["This field is required."]))
    );
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/assets/nodes/",
            ADMIN_TOKEN,
            Some(json!({"value": "a/b"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["value"].is_array(), "{body}");
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/assets/nodes/",
            ADMIN_TOKEN,
            Some(json!({"value": "x", "parent": "00000000-0000-0000-0000-0000000000dd"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["parent"].is_array(), "{body}");
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/assets/nodes/",
            "olga",
            Some(json!({"value": "Mine"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = app.call("DELETE", &path, "olga", None).await;
    assert_eq!(status, 403);
    // Renamed (the SDK's UpdateNodeRequest): its descendants' paths follow; a sibling's name
    // is a conflict; a plain member may not.
    let web_path = format!("/api/v1/assets/nodes/{}/", id_of(&child));
    let (status, body) = app
        .call(
            "PATCH",
            &web_path,
            ADMIN_TOKEN,
            Some(json!({"value": "Www"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["value"].clone(), body["full_value"].clone()),
        (json!("Www"), json!("/Corp/Www"))
    );
    let (_, edge) = app.call("GET", &path, ADMIN_TOKEN, None).await;
    assert_eq!(edge["full_value"], "/Corp/Www/Edge");
    let (status, body) = app
        .call("PUT", &web_path, ADMIN_TOKEN, Some(json!({})))
        .await;
    assert_eq!(
        (status, body["value"].clone()),
        (400, json!(["This field is required."]))
    );
    let (status, body) = app
        .call("PATCH", &web_path, ADMIN_TOKEN, Some(json!({})))
        .await;
    assert_eq!((status, body["value"].clone()), (200, json!("Www")));
    let sibling = node(&app, DEFAULT, json!({"full_value": "/Corp/Db"})).await;
    let (status, body) = app
        .call("PUT", &web_path, ADMIN_TOKEN, Some(json!({"value": "Db"})))
        .await;
    assert_eq!(
        (status, body["non_field_errors"].clone()),
        (400, json!(["Node already exists."]))
    );
    let (status, _) = app
        .call("PATCH", &web_path, "olga", Some(json!({"value": "Mine"})))
        .await;
    assert_eq!(status, 403);
    let (_, kept) = app
        .call(
            "GET",
            &format!("/api/v1/assets/nodes/{}/", id_of(&sibling)),
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(kept["full_value"], "/Corp/Db");
    let edge = host(
        &app,
        ADMIN_TOKEN,
        DEFAULT,
        json!({"name": "edge-1", "address": "10.0.0.5", "platform": "Linux", "nodes": [id_of(&deep), id_of(&root)]}),
    )
    .await;
    let (status, _) = app.call("DELETE", &path, ADMIN_TOKEN, None).await;
    assert_eq!(status, 204);
    let (status, body) = app.call("GET", &path, ADMIN_TOKEN, None).await;
    assert_eq!(
        (status, body["detail"].clone()),
        (404, json!("Node object does not exist."))
    );
    // The deleted node is off its asset, which changes as before (a change that leaves out
    // `nodes` keeps the ones left).
    let edge_path = format!("/api/v1/assets/hosts/{}/", id_of(&edge));
    let (status, body) = app
        .call(
            "PATCH",
            &edge_path,
            ADMIN_TOKEN,
            Some(json!({"name": "edge-2"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let nodes: Vec<&Value> = body["nodes"].as_array().unwrap().iter().collect();
    assert_eq!(nodes.len(), 1, "{body}");
    assert_eq!(nodes[0]["id"], root["id"], "{body}");
    // A node named twice is in it once.
    let (status, body) = app
        .call(
            "PATCH",
            &edge_path,
            ADMIN_TOKEN,
            Some(json!({"nodes": [id_of(&root), id_of(&root)]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["nodes"].as_array().unwrap().len(), 1, "{body}");
    let (status, _) = app
        .call("GET", "/api/v1/assets/nodes/1:2/", ADMIN_TOKEN, None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = anonymous(&app, "POST", "/api/v1/assets/nodes/").await;
    assert_eq!(status, 401);
}

// ------------------------------------------------------------------ access keys

/// `GET /api/v1/users/profile/` signed with an access key, as python `httpsig` signs it.
async fn signed_profile(app: &TestApp, key_id: &str, secret: &str) -> u16 {
    let date = ticketd_http::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let message = format!(
        "(request-target): get /api/v1/users/profile/\naccept: application/json\ndate: {date}"
    );
    let signature = base64::engine::general_purpose::STANDARD.encode(
        ticketd_core::credentials::hmac_sha256(secret.as_bytes(), message.as_bytes()),
    );
    app.client
        .get(app.url("/api/v1/users/profile/"))
        .header("Accept", "application/json")
        .header("Date", date)
        .header(
            "Authorization",
            format!(r#"Signature keyId="{key_id}",algorithm="hmac-sha256",headers="(request-target) accept date",signature="{signature}""#),
        )
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn access_key_secrets_appear_only_in_the_create_answer_and_the_key_signs_requests() {
    let app = spawn_app().await;
    app.user("pat", SystemRole::User, Vec::new()).await;
    let (status, created) = app
        .call("POST", "/api/v1/authentication/access-keys/", "pat", None)
        .await;
    assert_eq!(status, 201, "{created}");
    let (key_id, secret) = (
        id_of(&created),
        created["secret"].as_str().unwrap().to_owned(),
    );
    assert_eq!(created["is_active"], true);
    // A key restricted to addresses is refused, not made unrestricted; any address is a key.
    let keys = "/api/v1/authentication/access-keys/";
    for group in [json!(["10.0.0.0/8"]), json!([])] {
        let (status, refused) = app
            .call("POST", keys, "pat", Some(json!({"ip_group": group})))
            .await;
        assert_eq!(status, 400, "{group}: {refused}");
        assert!(
            refused["ip_group"][0].as_str().unwrap().contains("address"),
            "{refused}"
        );
    }
    let (status, form) = app
        .call_raw(
            "POST",
            keys,
            "pat",
            "application/x-www-form-urlencoded",
            "ip_group=*",
        )
        .await;
    assert_eq!(status, 201, "a form's one group is a list: {form}");
    let (status, _) = app
        .call("DELETE", &format!("{keys}{}/", id_of(&form)), "pat", None)
        .await;
    assert_eq!(status, 204);
    let (status, any) = app
        .call("POST", keys, "pat", Some(json!({"ip_group": ["*"]})))
        .await;
    assert_eq!(status, 201, "{any}");
    let (status, _) = app
        .call("DELETE", &format!("{keys}{}/", id_of(&any)), "pat", None)
        .await;
    assert_eq!(status, 204);
    let (status, list) = app
        .call("GET", "/api/v1/authentication/access-keys/", "pat", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], key_id.as_str());
    assert!(
        !list.to_string().contains(&secret),
        "the list never shows the secret"
    );
    let path = format!("/api/v1/authentication/access-keys/{key_id}/");
    let (status, one) = app.call("GET", &path, "pat", None).await;
    assert_eq!(status, 200);
    assert!(one.get("secret").is_none() && !one.to_string().contains(&secret));
    let (_, page) = app
        .call(
            "GET",
            "/api/v1/authentication/access-keys/?limit=5",
            "pat",
            None,
        )
        .await;
    assert_eq!(page["count"], 1);
    assert!(!page.to_string().contains(&secret));
    assert_eq!(signed_profile(&app, &key_id, &secret).await, 200);
    let (_, admin_keys) = app
        .call(
            "GET",
            "/api/v1/authentication/access-keys/",
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(admin_keys, json!([]), "everyone lists their own keys");
    app.user("quinn", SystemRole::User, Vec::new()).await;
    let (status, _) = app.call("GET", &path, "quinn", None).await;
    assert_eq!(status, 404);
    let (status, _) = app.call("DELETE", &path, "quinn", None).await;
    assert_eq!(status, 404, "another user's key is not found");
    // Disabled, the key signs nothing until enabled again; only its owner changes it.
    let (status, _) = app
        .call("PATCH", &path, "quinn", Some(json!({"is_active": false})))
        .await;
    assert_eq!(status, 404, "another user's key is not found");
    let (status, disabled) = app
        .call("PATCH", &path, "pat", Some(json!({"is_active": false})))
        .await;
    assert_eq!(
        (status, &disabled["is_active"]),
        (200, &json!(false)),
        "{disabled}"
    );
    assert!(!disabled.to_string().contains(&secret));
    assert_eq!(signed_profile(&app, &key_id, &secret).await, 401);
    let (_, listed) = app.call("GET", &path, "pat", None).await;
    assert_eq!(listed["is_active"], false);
    for (body, field) in [
        (json!({"is_active": "maybe"}), "is_active"),
        (
            json!({"is_active": true, "ip_group": ["10.0.0.1"]}),
            "ip_group",
        ),
        (json!([]), "non_field_errors"),
    ] {
        let (status, refused) = app.call("PUT", &path, "pat", Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {refused}");
        assert!(refused.get(field).is_some(), "{body}: {refused}");
    }
    assert_eq!(
        signed_profile(&app, &key_id, &secret).await,
        401,
        "still off"
    );
    let (status, form) = app
        .call_raw(
            "PATCH",
            &path,
            "pat",
            "application/x-www-form-urlencoded",
            "is_active=true",
        )
        .await;
    assert_eq!((status, &form["is_active"]), (200, &json!(true)), "{form}");
    assert_eq!(signed_profile(&app, &key_id, &secret).await, 200);
    let (status, _) = app.call("DELETE", &path, "pat", None).await;
    assert_eq!(status, 204);
    assert_eq!(
        signed_profile(&app, &key_id, &secret).await,
        401,
        "a deleted key signs nothing"
    );
    let (status, _) = app
        .call(
            "DELETE",
            "/api/v1/authentication/access-keys/nope/",
            "pat",
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = anonymous(&app, "POST", "/api/v1/authentication/access-keys/").await;
    assert_eq!(status, 401);
}

// ------------------------------------------------------------------ asset permissions

#[tokio::test]
async fn an_approved_asset_ticket_reads_as_an_asset_permission_in_jumpservers_shape() {
    let app = spawn_app().await;
    let alice = app.user("alice", SystemRole::User, Vec::new()).await;
    let asset = host(
        &app,
        ADMIN_TOKEN,
        DEFAULT,
        json!({"name": "peer-host-1", "address": "127.0.0.2"}),
    )
    .await;
    let prod = node(&app, DEFAULT, json!({"value": "Prod"})).await;
    let start: DateTime<Utc> = "2023-03-28T02:10:23Z".parse().unwrap();
    let end: DateTime<Utc> = "2023-04-04T02:10:23Z".parse().unwrap();
    let id = approved_permission(
        &app,
        &alice,
        "test_tickets_1",
        &[&id_of(&asset)],
        &[&id_of(&prod)],
        (start, end),
    )
    .await;
    let (status, perm) = app
        .call_with(
            "GET",
            &format!("/api/v1/perms/asset-permissions/{id}/"),
            ADMIN_TOKEN,
            None,
            &[("X-TZ", "Asia/Shanghai")],
        )
        .await;
    assert_eq!(status, 200, "{perm}");
    let keys: Vec<&str> = perm
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "name",
            "users",
            "user_groups",
            "assets",
            "nodes",
            "labels",
            "users_amount",
            "user_groups_amount",
            "assets_amount",
            "nodes_amount",
            "accounts",
            "protocols",
            "actions",
            "org_id",
            "org_name",
            "is_active",
            "is_expired",
            "is_valid",
            "from_ticket",
            "date_created",
            "date_start",
            "date_expired",
            "created_by",
            "comment"
        ],
        "the fields of asset_permission.json, in its order"
    );
    assert_eq!(perm["id"], id.as_str());
    assert_eq!(
        perm["name"],
        format!(
            "Created by ticket (test_tickets_1-{})",
            &id.replace('-', "")[28..]
        )
    );
    assert_eq!(
        perm["users"],
        json!([{"id": alice.id().to_string(), "name": "Alice"}])
    );
    assert_eq!(
        perm["assets"],
        json!([{"id": id_of(&asset), "name": "peer-host-1"}])
    );
    assert_eq!(perm["nodes"], json!([{"id": id_of(&prod), "name": "Prod"}]));
    assert_eq!(
        (
            perm["users_amount"].clone(),
            perm["assets_amount"].clone(),
            perm["nodes_amount"].clone()
        ),
        (json!(1), json!(1), json!(1))
    );
    assert_eq!(perm["user_groups"], json!([]));
    assert_eq!(perm["accounts"], json!(["@ALL"]));
    assert_eq!(perm["protocols"], json!(["all"]));
    assert_eq!(perm["actions"].as_array().unwrap().len(), 7);
    assert_eq!(
        perm["actions"][0],
        json!({"value": "connect", "label": "Connect (All protocols)"})
    );
    assert_eq!(
        (perm["org_id"].clone(), perm["org_name"].clone()),
        (json!(DEFAULT), json!("DEFAULT"))
    );
    assert_eq!(
        (
            perm["is_active"].clone(),
            perm["is_expired"].clone(),
            perm["is_valid"].clone()
        ),
        (json!(true), json!(true), json!(false))
    );
    assert_eq!(perm["from_ticket"], true);
    assert_eq!(perm["date_start"], "2023/03/28 10:10:23 +0800");
    assert_eq!(perm["date_expired"], "2023/04/04 10:10:23 +0800");
    assert_eq!(perm["created_by"], format!("ApplyAssetTicket:{id}"));
    assert_eq!(
        perm["comment"],
        format!(
            "Created by the ticket ticket title: test_tickets_1 ticket applicant: Alice(alice) ticket processor: Administrator(admin) ticket ID: {id}"
        )
    );
    let (status, zh) = app
        .call_with(
            "GET",
            &format!("/api/v1/perms/asset-permissions/{id}/"),
            "alice",
            None,
            &[("Accept-Language", "zh-CN")],
        )
        .await;
    assert_eq!(status, 200, "the applicant reads their own permission");
    assert_eq!(zh["actions"][0]["label"], "连接 (所有协议)");
    let (_, users) = app
        .call(
            "GET",
            &format!("/api/v1/perms/asset-permissions/{id}/users/all/"),
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(users[0]["user_display"], "Alice(alice)");
    let (_, assets) = app
        .call(
            "GET",
            &format!("/api/v1/perms/asset-permissions/{id}/assets/all/"),
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(assets[0]["asset_display"], "peer-host-1(127.0.0.2)");
}

#[tokio::test]
async fn asset_permissions_filter_by_user_asset_node_and_validity_and_paginate() {
    let app = spawn_app().await;
    let alice = app.user("alice", SystemRole::User, Vec::new()).await;
    let bob = app.user("bob", SystemRole::User, Vec::new()).await;
    let one = host(
        &app,
        ADMIN_TOKEN,
        DEFAULT,
        json!({"name": "one", "address": "10.0.0.1"}),
    )
    .await;
    let two = host(
        &app,
        ADMIN_TOKEN,
        DEFAULT,
        json!({"name": "two", "address": "10.0.0.2"}),
    )
    .await;
    let prod = node(&app, DEFAULT, json!({"value": "Prod"})).await;
    let now = ticketd_http::now();
    let current = approved_permission(
        &app,
        &alice,
        "current",
        &[&id_of(&one)],
        &[],
        current_window(),
    )
    .await;
    let expired = approved_permission(
        &app,
        &alice,
        "expired",
        &[&id_of(&two)],
        &[&id_of(&prod)],
        (now - Duration::days(9), now - Duration::days(2)),
    )
    .await;
    let future = approved_permission(
        &app,
        &bob,
        "future",
        &[&id_of(&one), &id_of(&two)],
        &[],
        (now + Duration::days(2), now + Duration::days(9)),
    )
    .await;
    let ids = |list: &Value| -> Vec<String> {
        let rows = list.get("results").unwrap_or(list);
        let mut ids: Vec<String> = rows.as_array().unwrap().iter().map(id_of).collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<&String>| {
        v.sort();
        v.into_iter().cloned().collect::<Vec<String>>()
    };
    for (query, expected) in [
        (String::new(), sorted(vec![&current, &expired, &future])),
        (
            format!("user={}", alice.id()),
            sorted(vec![&current, &expired]),
        ),
        (format!("user_id={}", bob.id()), vec![future.clone()]),
        ("username=bob".to_owned(), vec![future.clone()]),
        (
            format!("asset={}", id_of(&one)),
            sorted(vec![&current, &future]),
        ),
        (
            format!("asset_id={}", id_of(&two)),
            sorted(vec![&expired, &future]),
        ),
        (format!("node_id={}", id_of(&prod)), vec![expired.clone()]),
        ("is_valid=true".to_owned(), vec![current.clone()]),
        ("is_valid=False".to_owned(), sorted(vec![&expired, &future])),
        ("user=not-a-uuid".to_owned(), vec![]),
        ("search=FUT".to_owned(), vec![future.clone()]),
    ] {
        let (status, list) = app
            .call(
                "GET",
                &format!("/api/v1/perms/asset-permissions/?{query}"),
                ADMIN_TOKEN,
                None,
            )
            .await;
        assert_eq!(status, 200, "{query}: {list}");
        assert_eq!(ids(&list), expected, "{query}");
    }
    let (_, first) = app
        .call(
            "GET",
            "/api/v1/perms/asset-permissions/?limit=2",
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(first["count"], 3);
    assert_eq!(first["results"].as_array().unwrap().len(), 2);
    assert!(
        first["next"]
            .as_str()
            .unwrap()
            .ends_with("?limit=2&offset=2")
    );
    let (_, last) = app
        .call(
            "GET",
            "/api/v1/perms/asset-permissions/?limit=2&offset=2&is_valid=false",
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(
        (
            last["count"].clone(),
            last["results"].as_array().unwrap().len()
        ),
        (json!(2), 0)
    );
    let (_, valid) = app
        .call(
            "GET",
            &format!("/api/v1/perms/asset-permissions/{current}/"),
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(
        (valid["is_valid"].clone(), valid["is_expired"].clone()),
        (json!(true), json!(false))
    );
    let (_, later) = app
        .call(
            "GET",
            &format!("/api/v1/perms/asset-permissions/{future}/"),
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(
        (later["is_valid"].clone(), later["is_expired"].clone()),
        (json!(false), json!(false))
    );
    assert_eq!(later["assets_amount"], 2);
}

#[tokio::test]
async fn asset_permissions_are_hidden_from_unrelated_users_and_other_orgs() {
    let app = spawn_app().await;
    let other = other_org(&app, "Other").await;
    let alice = app.user("alice", SystemRole::User, Vec::new()).await;
    app.user("bob", SystemRole::User, Vec::new()).await;
    app.user("auditor", SystemRole::Auditor, Vec::new()).await;
    let asset = host(
        &app,
        ADMIN_TOKEN,
        DEFAULT,
        json!({"name": "one", "address": "10.0.0.1"}),
    )
    .await;
    let id = approved_permission(
        &app,
        &alice,
        "mine",
        &[&id_of(&asset)],
        &[],
        current_window(),
    )
    .await;
    let path = format!("/api/v1/perms/asset-permissions/{id}/");
    let (status, list) = app
        .call("GET", "/api/v1/perms/asset-permissions/", "bob", None)
        .await;
    assert_eq!(
        (status, list),
        (200, json!([])),
        "bob has no permission of his own"
    );
    let (status, body) = app.call("GET", &path, "bob", None).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"detail": "AssetPermission object does not exist.", "code": "object_does_not_exist"})
    );
    let (_, mine) = app
        .call("GET", "/api/v1/perms/asset-permissions/", "alice", None)
        .await;
    assert_eq!(mine[0]["id"], id.as_str());
    let (status, _) = app.call("GET", &path, "auditor", None).await;
    assert_eq!(status, 200, "system auditors read every permission");
    let (status, _) = app
        .call_with("GET", &path, ADMIN_TOKEN, None, &[("X-JMS-ORG", &other)])
        .await;
    assert_eq!(status, 404, "not in the requested organization");
    let (_, there) = app
        .call_with(
            "GET",
            "/api/v1/perms/asset-permissions/",
            ADMIN_TOKEN,
            None,
            &[("X-JMS-ORG", &other)],
        )
        .await;
    assert_eq!(there, json!([]));
    let (status, _) = app
        .call_with("GET", &path, ADMIN_TOKEN, None, &[("X-JMS-ORG", "ROOT")])
        .await;
    assert_eq!(status, 200);
    for bad in ["nope", "00000000-0000-0000-0000-0000000000ab"] {
        let (status, _) = app
            .call(
                "GET",
                &format!("/api/v1/perms/asset-permissions/{bad}/"),
                ADMIN_TOKEN,
                None,
            )
            .await;
        assert_eq!(status, 404, "{bad}");
    }
    for (method, route) in [
        ("POST", "/api/v1/perms/asset-permissions/"),
        ("DELETE", path.as_str()),
        ("PUT", path.as_str()),
    ] {
        let (status, body) = app.call(method, route, ADMIN_TOKEN, Some(json!({}))).await;
        assert_eq!(
            (status, body["code"].clone()),
            (405, json!("method_not_allowed")),
            "{method} {route}"
        );
    }
    let (status, body) = anonymous(&app, "GET", "/api/v1/perms/asset-permissions/").await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("not_authenticated"))
    );
    // Alice leaves Default: she leaves its permissions with it, as JumpServer takes a user who
    // leaves an organization out of them, and joining again gives nothing back.
    let alice_path = format!("/api/v1/users/users/{}/", alice.id());
    for (route, body) in [
        (format!("{alice_path}remove/"), None),
        (
            "/api/v1/users/users/invite/".to_owned(),
            Some(json!({"users": [alice.id().to_string()], "org_roles": [ORG_USER]})),
        ),
    ] {
        let (status, answer) = app.call("POST", &route, ADMIN_TOKEN, body).await;
        assert!(status == 204 || status == 201, "{route}: {status} {answer}");
        let (_, perm) = app.call("GET", &path, ADMIN_TOKEN, None).await;
        assert_eq!(perm["users"], json!([]), "{route}");
        let (_, found) = app
            .call(
                "GET",
                &format!("/api/v1/perms/asset-permissions/?user_id={}", alice.id()),
                ADMIN_TOKEN,
                None,
            )
            .await;
        assert_eq!(found, json!([]), "{route}");
    }
    let (_, mine) = app
        .call("GET", "/api/v1/perms/asset-permissions/", "alice", None)
        .await;
    assert_eq!(mine, json!([]));
}

// ------------------------------------------------------------------ python SDK

#[tokio::test]
async fn the_jumpserver_python_sdk_manages_users_orgs_assets_and_nodes_and_reads_permissions() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let alice = app.user("alice", SystemRole::User, Vec::new()).await;
    let asset = host(
        &app,
        ADMIN_TOKEN,
        DEFAULT,
        json!({"name": "peer-host-1", "address": "127.0.0.2"}),
    )
    .await;
    let perm = approved_permission(
        &app,
        &alice,
        "sdk",
        &[&id_of(&asset)],
        &[],
        current_window(),
    )
    .await;
    let key = app
        .engine
        .create_access_key(admin.id(), ticketd_http::now())
        .await
        .unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/jms_sdk_client.py");
    let base = format!("http://{}", app.addr);
    let (key_id, secret) = (key.id.to_string(), key.secret.clone());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args([script, &base, &key_id, &secret, "admin-password"])
            .output()
    })
    .await
    .unwrap()
    .expect("python3 must be installed (see .ci/run)");
    assert!(
        output.status.success(),
        "the SDK client failed (is `pip install jumpserver-sdk-python` done? .ci/run does it):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Value = serde_json::from_slice(&output.stdout).unwrap();
    let data = |step: &str| {
        assert_eq!(results[step]["ok"], true, "{step}: {}", results[step]);
        results[step]["data"].clone()
    };
    let failed = |step: &str| {
        assert_eq!(results[step]["ok"], false, "{step}: {}", results[step]);
        results[step]["error"]["code"].clone()
    };
    let created = data("create_user");
    assert_eq!(
        (created["username"].clone(), created["is_active"].clone()),
        (json!("sdkuser"), json!(true))
    );
    assert_eq!(created["system_roles"][0]["id"], USER);
    assert_eq!(created["org_roles"][0]["id"], ORG_USER);
    assert_eq!(data("list_users"), json!(["sdkuser"]));
    assert_eq!(data("search_users"), 1);
    assert_eq!(data("detail_user"), "sdkuser@example.com");
    assert_eq!(
        data("update_user"),
        json!(["SDK User 2", "sdk2@example.com"])
    );
    assert_eq!(data("model_user"), "SDK User 2");
    assert_eq!(data("password_login_profile"), "sdkuser");
    assert_eq!(failed("password_login_user_detail"), "permission_denied");
    assert_eq!(failed("missing_user"), "object_does_not_exist");
    assert_eq!(data("create_org")["name"], "SDK Org");
    assert_eq!(data("list_orgs"), json!(["Default", "SDK Org"]));
    assert_eq!(data("filter_orgs"), 1);
    assert_eq!(data("detail_org"), "SDK Org");
    assert_eq!(data("rename_org"), "SDK Org 2");
    assert_eq!(data("bind_org_admin")[0][1], ORG_ADMIN);
    assert_eq!(data("list_org_admins"), json!(["admin", "sdkuser"]));
    assert_eq!(
        data("create_node"),
        json!({"value": "SDK Node", "full_value": "/SDK Node"})
    );
    assert_eq!(data("create_node_by_path"), "/SDK Node/Child");
    assert_eq!(data("list_nodes"), json!(["/SDK Node", "/SDK Node/Child"]));
    assert_eq!(data("detail_node"), "SDK Node");
    let host = data("create_host");
    assert_eq!(host["platform"], json!({"id": 1, "name": "Linux"}));
    assert_eq!(
        (host["address"].clone(), host["comment"].clone()),
        (json!("10.1.2.3"), json!("via sdk"))
    );
    assert_eq!(data("list_assets"), json!(["sdk-host"]));
    assert_eq!(data("list_hosts_by_node"), json!(["sdk-host"]));
    assert_eq!(data("detail_asset"), "10.1.2.3");
    assert_eq!(
        data("update_host"),
        json!(["sdk-host-2", "10.1.2.4", "Linux"])
    );
    assert_eq!(data("detail_host"), "sdk-host-2(10.1.2.4)");
    let perm_name = format!("Created by ticket (sdk-{})", &perm.replace('-', "")[28..]);
    assert_eq!(data("list_permissions"), json!([perm_name]));
    assert_eq!(data("detail_permission")["users"], json!(["Alice"]));
    assert_eq!(data("detail_permission")["is_valid"], true);
    assert_eq!(
        data("detail_permission")["actions"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
    assert_eq!(data("permission_users"), json!(["Alice(alice)"]));
    assert_eq!(data("permission_assets"), json!(["peer-host-1(127.0.0.2)"]));
    assert_eq!(data("permissions_of_user"), 1);
    assert_eq!(results["delete_asset"]["ok"], true);
    assert_eq!(failed("deleted_asset"), "object_does_not_exist");
    assert_eq!(results["delete_user"]["ok"], true);
    assert_eq!(failed("deleted_user"), "object_does_not_exist");
    assert_eq!(
        results["delete_org"]["ok"], true,
        "{}",
        results["delete_org"]
    );
    assert_eq!(results["delete_child_node"]["ok"], true);
}

/// A node's path is at most `MAX_NODE_PATH_CHARS` characters, on every store: PostgreSQL
/// indexes the path and refused a deep tree of long names with a 500.
#[tokio::test]
async fn a_node_path_longer_than_the_limit_is_refused_with_the_reason() {
    use ticketd_core::engine::MAX_NODE_PATH_CHARS;
    let app = spawn_app().await;
    // Distinct CJK characters (3 bytes each), which no index compresses away.
    let name = |level: u32| -> String {
        (0..128)
            .map(|i| char::from_u32(0x4E00 + level * 128 + i).unwrap())
            .collect()
    };
    let mut parent = node(&app, DEFAULT, json!({"value": name(0)})).await;
    for level in 1..3 {
        parent = node(
            &app,
            DEFAULT,
            json!({"value": name(level), "parent": id_of(&parent)}),
        )
        .await;
    }
    let path_so_far = parent["full_value"].as_str().unwrap().chars().count();
    assert_eq!(path_so_far, 3 * 129);
    let (status, refused) = app
        .call_with(
            "POST",
            &format!("/api/v1/assets/nodes/{}/children/", id_of(&parent)),
            ADMIN_TOKEN,
            Some(json!({"value": name(3)})),
            &[("X-JMS-ORG", DEFAULT)],
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused
            .to_string()
            .contains(&MAX_NODE_PATH_CHARS.to_string()),
        "{refused}"
    );
    // By path: new nodes at first, too long at the end; none of them is created.
    let too_long = format!("/Fresh/{}/{}/{}/{}", name(4), name(5), name(6), name(7));
    let (status, refused) = app
        .call_with(
            "POST",
            "/api/v1/assets/nodes/",
            ADMIN_TOKEN,
            Some(json!({ "full_value": too_long })),
            &[("X-JMS-ORG", DEFAULT)],
        )
        .await;
    assert_eq!(status, 400, "by path: {refused}");
    let (_, listed) = app
        .call_with(
            "GET",
            "/api/v1/assets/nodes/?limit=100",
            ADMIN_TOKEN,
            None,
            &[("X-JMS-ORG", DEFAULT)],
        )
        .await;
    assert!(
        !listed.to_string().contains("Fresh"),
        "a refused path created nodes: {listed}"
    );
    let fits: String = name(3)
        .chars()
        .take(MAX_NODE_PATH_CHARS - path_so_far - 1)
        .collect();
    let last = node(
        &app,
        DEFAULT,
        json!({"value": fits, "parent": id_of(&parent)}),
    )
    .await;
    assert_eq!(
        last["full_value"].as_str().unwrap().chars().count(),
        MAX_NODE_PATH_CHARS
    );
}

/// A user cannot set their own password through the users API: with a stolen token that took
/// the account for good. A system administrator still sets anyone's; nothing of a refused body
/// is written.
#[tokio::test]
async fn a_user_does_not_set_their_own_password_through_the_users_api() {
    let app = spawn_app().await;
    let pat = app.user("pat", SystemRole::User, Vec::new()).await;
    let path = format!("/api/v1/users/users/{}/", pat.id());
    let login = |password: &'static str| {
        let app = &app;
        async move {
            let engine = &app.engine;
            engine
                .login(
                    "pat",
                    ticketd_core::credentials::PasswordForm::Plain,
                    password,
                    ticketd_http::now(),
                )
                .await
                .is_ok()
        }
    };
    for body in [
        json!({"password": "NewPassw0rd!"}),
        json!({"password": "NewPassw0rd!", "name": "Renamed"}),
    ] {
        let (status, answer) = app.call("PATCH", &path, "pat", Some(body.clone())).await;
        assert_eq!(status, 403, "{body}: {answer}");
    }
    assert!(!login("NewPassw0rd!").await);
    let (_, me) = app.call("GET", "/api/v1/users/profile/", "pat", None).await;
    assert_ne!(me["name"], "Renamed", "a refused body wrote nothing");
    let (status, _) = app
        .call(
            "PATCH",
            &path,
            ADMIN_TOKEN,
            Some(json!({"password": "AdminSet1!"})),
        )
        .await;
    assert_eq!(status, 200);
    assert!(login("AdminSet1!").await);
}
