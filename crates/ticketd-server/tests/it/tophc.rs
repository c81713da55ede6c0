//! tophc dialect tests, end to end over HTTP: envelope, auth, tickets, processes, tenants, and seed 002 as written.

use crate::app::{ADMIN_TOKEN, TestApp, spawn_app, spawn_app_with};
use serde_json::{Value, json};
use std::path::PathBuf;
use ticketd_core::credentials::md5_hex;
use ticketd_core::engine::{FlowChoice, NewTicket, TicketCommand};
use ticketd_core::identity::{ROLE_ORG_ADMIN, ROLE_ORG_AUDITOR, ROLE_ORG_USER, SystemRole};
use ticketd_core::{Actor, FlowId, OrgId, TicketId};

// ------------------------------------------------------------------ helpers

/// Sends a raw request: `auth` is the whole `Authorization` value, `body` the exact bytes.
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    send_bytes(app, method, path, auth, body.map(|b| b.as_bytes().to_vec())).await
}

async fn send_bytes(
    app: &TestApp,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<Vec<u8>>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.client.request(method, app.url(path));
    if let Some(auth) = auth {
        request = request.header("Authorization", auth);
    }
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A call with `Authorization: Bearer <token>` and a JSON body; asserts HTTP 200 and the
/// envelope's keys, and returns the envelope.
async fn call(app: &TestApp, method: &str, path: &str, token: &str, body: Value) -> Value {
    let (status, envelope) = send(
        app,
        method,
        path,
        Some(&format!("Bearer {token}")),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{method} {path}: {envelope:#}");
    assert_envelope(&envelope);
    envelope
}

/// Like [`call`], asserting success; returns `data`.
async fn ok(app: &TestApp, method: &str, path: &str, token: &str, body: Value) -> Value {
    let envelope = call(app, method, path, token, body).await;
    assert_eq!(envelope["scode"], 0, "{method} {path}: {envelope:#}");
    envelope["data"].clone()
}

fn assert_envelope(envelope: &Value) {
    for key in ["scode", "desc", "message", "message_cn", "stack", "data"] {
        assert!(envelope.get(key).is_some(), "no {key} in {envelope:#}");
    }
    if envelope["scode"] == 0 {
        assert_eq!(envelope["message"], "success");
        assert_eq!(envelope["message_cn"], "成功");
        assert_eq!(envelope["stack"], Value::Null);
    } else {
        assert!(envelope["stack"].is_array(), "{envelope:#}");
        assert!(!envelope["message"].as_str().unwrap().is_empty());
        assert!(!envelope["message_cn"].as_str().unwrap().is_empty());
    }
}

/// The scodes of a batch answer's items, after checking its shape.
fn batch_scodes(data: &Value) -> Vec<i64> {
    let results = data["results"].as_array().unwrap();
    let scodes: Vec<i64> = results
        .iter()
        .map(|r| {
            assert_envelope(r);
            r["scode"].as_i64().unwrap()
        })
        .collect();
    let ok = scodes.iter().filter(|s| **s == 0).count();
    assert_eq!(data["success"], ok, "{data:#}");
    assert_eq!(data["fail"], scodes.len() - ok, "{data:#}");
    scodes
}

async fn batch(app: &TestApp, path: &str, token: &str, body: Value) -> (Vec<i64>, Value) {
    let data = ok(app, "POST", path, token, body).await;
    (batch_scodes(&data), data)
}

async fn tenant(app: &TestApp, name: &str) -> OrgId {
    app.engine
        .create_org(None, name, ticketd_http::now())
        .await
        .unwrap()
        .id
}

async fn member(app: &TestApp, name: &str, org: OrgId, role: ticketd_core::RoleId) -> Actor {
    app.user(name, SystemRole::User, vec![(org, role)]).await
}

async fn inspect(app: &TestApp, token: &str, id: &str) -> Value {
    ok(
        app,
        "GET",
        &format!("/v1/ticket/inspect?ticket_uuid={id}"),
        token,
        Value::Null,
    )
    .await
}

async fn create_process(
    app: &TestApp,
    token: &str,
    tenant: &str,
    name: &str,
    chain: Value,
) -> String {
    let data = ok(
        app,
        "POST",
        "/v1/ticket/process/create",
        token,
        json!({"tenant_uuid": tenant, "process_name": name, "approval_list": chain}),
    )
    .await;
    assert_eq!(data["process_name"], name);
    data["process_uuid"].as_str().unwrap().to_owned()
}

async fn submit(app: &TestApp, token: &str, name: &str, process: &str) -> String {
    let data = ok(
        app,
        "POST",
        "/v1/ticket/submit",
        token,
        json!({"ticket_name": name, "type": "FEEDBACK", "reason": "why", "process_uuid": process}),
    )
    .await;
    assert_eq!(data["ticket_name"], name);
    data["ticket_uuid"].as_str().unwrap().to_owned()
}

fn ids_in(list: &Value) -> Vec<String> {
    list["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["ticket_uuid"].as_str().unwrap().to_owned())
        .collect()
}

async fn list_ids(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let data = ok(
        app,
        "GET",
        &format!("/v1/ticket/list{query}"),
        token,
        Value::Null,
    )
    .await;
    assert!(
        data["total_count"].as_u64().unwrap() as usize >= data["list"].as_array().unwrap().len()
    );
    ids_in(&data)
}

/// Tenant `lts` with an applicant (`alice`), its administrator (`lead`) and the two-step
/// process `lead, then the super admin`.
struct Lts {
    app: TestApp,
    lts: OrgId,
    process: String,
}

async fn lts() -> Lts {
    let app = spawn_app().await;
    let lts = tenant(&app, "lts").await;
    member(&app, "alice", lts, ROLE_ORG_USER).await;
    member(&app, "lead", lts, ROLE_ORG_ADMIN).await;
    let process = create_process(
        &app,
        ADMIN_TOKEN,
        &lts.to_string(),
        "two-step",
        json!([
            {"tenant_uuid": lts.to_string(), "role_uuid": "administrator"},
            {"tenant_uuid": "system", "role_uuid": "system"}
        ]),
    )
    .await;
    Lts { app, lts, process }
}

// ------------------------------------------------------------------ authentication

#[tokio::test]
async fn login_with_the_md5_of_the_password_returns_a_token_and_the_user_fields() {
    let app = spawn_app().await;
    let lts = tenant(&app, "lts").await;
    member(&app, "lead", lts, ROLE_ORG_ADMIN).await;
    let body = json!({"tenant": "system", "user": "admin", "password": md5_hex("admin-password")});
    let (status, envelope) = send(
        &app,
        "POST",
        "/v1/authentication/login",
        None,
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(status, 200);
    assert_envelope(&envelope);
    assert_eq!(envelope["scode"], 0, "{envelope:#}");
    let data = &envelope["data"];
    for key in [
        "user_role",
        "token",
        "user_uuid",
        "user_name",
        "ldap_enabled",
        "tenant_uuid",
        "default_cluster_uuid",
        "is_deploy_mode",
    ] {
        assert!(data.get(key).is_some(), "no {key} in {data:#}");
    }
    assert_eq!(data["user_role"], "system");
    assert_eq!(data["user_name"], "admin");
    assert_eq!(data["tenant_uuid"], "system");
    assert_eq!(data["ldap_enabled"], false);
    assert_eq!(data["user_uuid"], app.admin().await.id().to_string());
    let token = data["token"].as_str().unwrap().to_owned();

    // The token is a Bearer token for every other call, until logout.
    ok(&app, "GET", "/v1/ticket/process/list", &token, Value::Null).await;
    let out = ok(&app, "POST", "/v1/authentication/logout", &token, json!({})).await;
    assert_eq!(out["user_name"], "admin");
    let after = call(&app, "GET", "/v1/ticket/process/list", &token, Value::Null).await;
    assert_eq!(after["scode"], 10002);
    // An API token logs out too, and stays valid: no logout ends one (until 2026-12-07 it was
    // revoked for every dialect).
    ok(
        &app,
        "POST",
        "/v1/authentication/logout",
        ADMIN_TOKEN,
        json!({}),
    )
    .await;
    ok(
        &app,
        "GET",
        "/v1/ticket/process/list",
        ADMIN_TOKEN,
        Value::Null,
    )
    .await;

    // A tenant administrator logs into their tenant, by uuid or name; the hex may be uppercase.
    for tenant_given in [lts.to_string(), "lts".to_owned()] {
        let body = json!({"tenant": tenant_given, "user": "lead", "password": md5_hex("lead-password").to_uppercase(), "is_ldap": false});
        let (_, envelope) = send(
            &app,
            "POST",
            "/v1/authentication/login",
            None,
            Some(&body.to_string()),
        )
        .await;
        assert_eq!(envelope["scode"], 0, "{envelope:#}");
        assert_eq!(envelope["data"]["user_role"], "administrator");
        assert_eq!(envelope["data"]["tenant_uuid"], lts.to_string());
        assert_eq!(envelope["data"]["tenant_name"], "lts");
    }
}

#[tokio::test]
async fn login_with_a_wrong_password_a_plain_password_or_a_foreign_tenant_is_refused() {
    let app = spawn_app().await;
    let lts = tenant(&app, "lts").await;
    let other = tenant(&app, "other").await;
    member(&app, "lead", lts, ROLE_ORG_ADMIN).await;
    let login = |body: Value| {
        let app = &app;
        async move {
            let (status, envelope) = send(
                app,
                "POST",
                "/v1/authentication/login",
                None,
                Some(&body.to_string()),
            )
            .await;
            assert_eq!(status, 200);
            assert_envelope(&envelope);
            envelope["scode"].as_i64().unwrap()
        }
    };
    let md5 = md5_hex("lead-password");
    assert_eq!(
        login(json!({"tenant": "lts", "user": "lead", "password": md5_hex("wrong")})).await,
        10003
    );
    assert_eq!(
        login(json!({"tenant": "lts", "user": "lead", "password": "lead-password"})).await,
        10003
    );
    assert_eq!(
        login(json!({"tenant": "lts", "user": "nobody", "password": md5})).await,
        10003
    );
    assert_eq!(
        login(json!({"tenant": other.to_string(), "user": "lead", "password": md5})).await,
        10003
    );
    assert_eq!(
        login(json!({"tenant": "system", "user": "lead", "password": md5})).await,
        10003
    );
    assert_eq!(
        login(json!({"tenant": "no-such-tenant", "user": "lead", "password": md5})).await,
        10003
    );
    assert_eq!(login(json!({"tenant": "lts", "user": "lead"})).await, 10001);
    assert_eq!(login(json!({"password": md5})).await, 10001);
    assert_eq!(
        login(json!({"tenant": "lts", "user": "lead", "password": md5})).await,
        0
    );
}

#[tokio::test]
async fn calls_without_or_with_an_invalid_bearer_token_get_the_auth_scode() {
    let app = spawn_app().await;
    let cases: [Option<&str>; 6] = [
        None,
        Some("Bearer nope"),
        Some("Bearer"),
        Some("Bearer a b"),
        Some("Basic YWRtaW46YWRtaW4="),
        Some(""),
    ];
    for auth in cases {
        for (method, path) in [
            ("GET", "/v1/ticket/list"),
            ("POST", "/v1/ticket/pass"),
            ("POST", "/v1/authentication/logout"),
        ] {
            let (status, envelope) = send(&app, method, path, auth, Some("{}")).await;
            assert_eq!(status, 200, "{auth:?} {path}");
            assert_envelope(&envelope);
            assert_eq!(envelope["scode"], 10002, "{auth:?} {path}: {envelope:#}");
            assert_eq!(envelope["data"], Value::Null);
            // TopHC's words, not DRF's.
            let desc = envelope["desc"].as_str().unwrap_or_default();
            assert!(
                desc.contains("Bearer") || desc.contains("token") || desc.contains("Authorization"),
                "{auth:?} {path}: {envelope:#}"
            );
            assert!(
                !desc.contains("credentials"),
                "{auth:?} {path}: {envelope:#}"
            );
        }
    }
    // Bearer, TopHC's bare token, and ticketd's `Token` scheme all work.
    for auth in [
        format!("Bearer {ADMIN_TOKEN}"),
        ADMIN_TOKEN.to_owned(),
        format!("Token {ADMIN_TOKEN}"),
    ] {
        let (status, envelope) = send(&app, "GET", "/v1/ticket/list", Some(&auth), None).await;
        assert_eq!(status, 200);
        assert_eq!(envelope["scode"], 0, "{auth}: {envelope:#}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_get_a_tophc_shaped_404() {
    let app = spawn_app().await;
    let auth = format!("Bearer {ADMIN_TOKEN}");
    for (method, path) in [
        ("GET", "/v1/ticket/nope"),
        ("POST", "/v1/ticket/process/nope"),
        ("GET", "/v1/ticket/save"),
        ("DELETE", "/v1/ticket/overrule"),
        ("GET", "/v1/ticket"),
        ("GET", "/v1/ticket/"),
        ("POST", "/v1/ticket/"),
        ("GET", "/v1/authentication/"),
        ("GET", "/v1/authentication/login"),
        ("POST", "/v1/authentication/nope"),
    ] {
        let (status, envelope) = send(&app, method, path, Some(&auth), None).await;
        assert_eq!(status, 404, "{method} {path}");
        assert_envelope(&envelope);
        assert_eq!(envelope["scode"], 10004, "{method} {path}");
        assert_eq!(envelope["desc"], format!("{method} {path}"), "{envelope:#}");
    }
}

// ------------------------------------------------------------------ bad input

#[tokio::test]
async fn bad_bodies_and_parameters_get_parse_errors_and_never_a_failure() {
    let app = spawn_app().await;
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let deep = format!("{{\"list\":{}1{}}}", "[".repeat(200), "]".repeat(200));
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("POST", "/v1/ticket/pass", b"{\"list\":".to_vec()),
        ("POST", "/v1/ticket/pass", b"[1]".to_vec()),
        ("POST", "/v1/ticket/pass", b"\"x\"".to_vec()),
        ("POST", "/v1/ticket/pass", b"{\"list\":\"abc\"}".to_vec()),
        ("POST", "/v1/ticket/pass", b"{}".to_vec()),
        (
            "POST",
            "/v1/ticket/pass",
            b"{\"list\":[],\"reason\":[1]}".to_vec(),
        ),
        ("POST", "/v1/ticket/pass", deep.into_bytes()),
        ("POST", "/v1/ticket/pass", vec![0xff, 0xfe, b'{', b'}']),
        (
            "POST",
            "/v1/ticket/submit",
            b"{\"type\":\"FEEDBACK\",\"ticket_name\":{}}".to_vec(),
        ),
        (
            "POST",
            "/v1/ticket/save",
            b"{\"ticket_uuid\":\"not-a-uuid\"}".to_vec(),
        ),
        ("GET", "/v1/ticket/list?page_num=x", Vec::new()),
        ("GET", "/v1/ticket/list?page_size=-1", Vec::new()),
        (
            "GET",
            "/v1/ticket/list?filter_ticket_owner_flag=7",
            Vec::new(),
        ),
        ("GET", "/v1/ticket/list", b"{\"page_num\":true}".to_vec()),
        ("GET", "/v1/ticket/inspect", Vec::new()),
        ("GET", "/v1/ticket/inspect?ticket_uuid=zzz", Vec::new()),
        (
            "POST",
            "/v1/ticket/process/create",
            b"{\"process_name\":\"p\",\"approval_list\":\"x\"}".to_vec(),
        ),
        (
            "POST",
            "/v1/ticket/process/create",
            b"{\"process_name\":\"p\",\"approval_list\":[1]}".to_vec(),
        ),
        ("POST", "/v1/ticket/process/update", b"{}".to_vec()),
        (
            "POST",
            "/v1/ticket/process/delete",
            b"{\"tenant_uuid\":\"system\"}".to_vec(),
        ),
        ("GET", "/v1/ticket/process/inspect", Vec::new()),
        ("POST", "/v1/authentication/login", b"{user:".to_vec()),
    ];
    for (method, path, body) in cases {
        let shown = String::from_utf8_lossy(&body)
            .chars()
            .take(60)
            .collect::<String>();
        let body = (!body.is_empty()).then_some(body);
        let (status, envelope) = send_bytes(&app, method, path, Some(&auth), body).await;
        assert_eq!(status, 200, "{method} {path} {shown}");
        assert_envelope(&envelope);
        assert_eq!(
            envelope["scode"], 10001,
            "{method} {path} {shown}: {envelope:#}"
        );
        assert!(
            envelope["message"]
                .as_str()
                .unwrap()
                .starts_with("Parse parameter error")
        );
        assert!(
            envelope["message_cn"]
                .as_str()
                .unwrap()
                .starts_with("参数解析出错")
        );
    }
    // Nothing was created by any of them.
    let data = ok(&app, "GET", "/v1/ticket/list", ADMIN_TOKEN, Value::Null).await;
    assert_eq!(data["total_count"], 0);
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_in_the_envelope() {
    let app = spawn_app_with(&[("TICKETD_BODY_LIMIT_BYTES", "1024")]).await;
    let big = json!({"ticket_name": "x".repeat(4096), "type": "FEEDBACK"}).to_string();
    let (status, envelope) = send(
        &app,
        "POST",
        "/v1/ticket/submit",
        Some(&format!("Bearer {ADMIN_TOKEN}")),
        Some(&big),
    )
    .await;
    assert_eq!(status, 413);
    assert_envelope(&envelope);
    assert_eq!(envelope["scode"], 10001);
}

// ------------------------------------------------------------------ tickets

#[tokio::test]
async fn a_draft_is_saved_edited_submitted_passed_by_two_users_confirmed_and_archived() {
    let Lts { app, lts, process } = lts().await;
    let alice = app
        .engine
        .store()
        .find_user_by_username("alice")
        .await
        .unwrap()
        .unwrap();
    let saved = ok(
        &app,
        "POST",
        "/v1/ticket/save",
        "alice",
        json!({"ticket_name": "draft", "type": "FEEDBACK", "reason": "r1", "process_uuid": process}),
    )
    .await;
    let id = saved["ticket_uuid"].as_str().unwrap().to_owned();
    assert_eq!(saved["ticket_name"], "draft");
    let t = inspect(&app, "alice", &id).await;
    assert_eq!(t["ticket_state"], "已保存");
    assert_eq!(t["processers"], json!([]));
    assert_eq!(t["process_uuid"], process);
    assert_eq!(t["process_name"], "two-step");
    assert_eq!(t["ticket_type"], "问题反馈");
    assert_eq!(t["applyer_name"], "alice");
    assert_eq!(t["applyer_role"], "租户");
    assert_eq!(t["applyer_uuid"], alice.id.to_string());
    assert_eq!(t["applyer_tenant_uuid"], lts.to_string());
    assert_eq!(t["applyer_tenant_name"], "lts");
    assert_eq!(t["user_uuid"], alice.id.to_string());
    assert_eq!(t["detail_uuid"], id);
    assert_eq!(t["is_confirm"], "未确认");
    assert_eq!(t["ticket_is_over"], false);
    // JumpServer has no drafts: neither the ticket nor its comments are there.
    let comments = format!("/api/v1/tickets/comments/?ticket_id={id}");
    for (method, path, body) in [
        ("GET", format!("/api/v1/tickets/tickets/{id}/"), None),
        ("GET", comments.clone(), None),
        ("POST", comments.clone(), Some(json!({"body": "hello"}))),
    ] {
        let (status, answer) = app.call(method, &path, "alice", body).await;
        assert!(
            status == 404 || status == 400,
            "{method} {path}: {status} {answer}"
        );
    }

    // Saving with its ticket_uuid modifies it; the detail objects come back as sent.
    let storage = json!({"tenant_quota": {"cpu_count": 4, "memory_size": 8, "disk_size": 0,
        "switch_count": 0, "router_count": 0, "gateway_count": 0},
        "volume_expantion": {"volume_uuid": "", "capacity": 0}});
    let compute = json!({"vm_cpu_update": {"vm_uuid": "v-1", "cpu_count": 2, "cpu_max_count": 4}});
    let modified = ok(
        &app,
        "POST",
        "/v1/ticket/save",
        "alice",
        json!({"ticket_uuid": id, "ticket_name": "renamed", "type": "FEEDBACK", "reason": "r2",
            "process_uuid": process, "storage": storage, "compute": compute, "Common": {"trash_delete": {"start": 1}}}),
    )
    .await;
    assert_eq!(
        modified,
        json!({"ticket_uuid": id, "ticket_name": "renamed"})
    );
    let t = inspect(&app, "alice", &id).await;
    assert_eq!(t["ticket_name"], "renamed");
    assert_eq!(t["reason"], "r2");
    assert_eq!(t["storage"], storage);
    assert_eq!(t["compute"], compute);
    assert_eq!(t["Common"], json!({"trash_delete": {"start": 1}}));
    let changed_type = call(
        &app,
        "POST",
        "/v1/ticket/save",
        "alice",
        json!({"ticket_uuid": id, "ticket_name": "x", "type": "OTHER"}),
    )
    .await;
    assert_eq!(changed_type["scode"], 26007);
    let by_other = call(
        &app,
        "POST",
        "/v1/ticket/save",
        "lead",
        json!({"ticket_uuid": id, "ticket_name": "x", "type": "FEEDBACK"}),
    )
    .await;
    assert_eq!(
        by_other["scode"], 26003,
        "the tenant admin reads it but it is not theirs"
    );

    // saved/submit puts it before the tenant administrator.
    let (scodes, data) = batch(
        &app,
        "/v1/ticket/saved/submit",
        "alice",
        json!({"list": [id]}),
    )
    .await;
    assert_eq!(scodes, vec![0]);
    assert_eq!(
        data["results"][0]["data"],
        json!({"ticket_uuid": id, "ticket_name": "renamed"})
    );
    let t = inspect(&app, "alice", &id).await;
    assert_eq!(t["ticket_state"], "待审批");
    let processers = t["processers"].as_array().unwrap();
    assert_eq!(processers.len(), 1);
    assert_eq!(processers[0]["processer_tenant_uuid"], lts.to_string());
    assert_eq!(processers[0]["processer_tenant_name"], "lts");
    assert_eq!(processers[0]["owner_uuid"], "administrator");
    assert_eq!(processers[0]["owner_name"], "租户管理员");
    assert_eq!(processers[0]["processer_uuid"], "");
    assert_eq!(processers[0]["processer_action"], "");
    assert_eq!(processers[0]["processer_approval_time"], 0);
    assert_eq!(t["user_name"], "租户管理员");
    assert_eq!(t["user_tenant_uuid"], lts.to_string());
    assert!(
        list_ids(&app, "lead", "?filter_ticket_owner_flag=1")
            .await
            .contains(&id)
    );
    assert!(
        !list_ids(&app, ADMIN_TOKEN, "?filter_ticket_owner_flag=1")
            .await
            .contains(&id)
    );
    assert!(
        list_ids(&app, "alice", "?filter_ticket_owner_flag=2")
            .await
            .contains(&id)
    );
    assert!(
        !list_ids(&app, "lead", "?filter_ticket_owner_flag=2")
            .await
            .contains(&id)
    );

    // Neither the super admin (step 2) nor the applicant decides step 1.
    let (scodes, data) = batch(&app, "/v1/ticket/pass", ADMIN_TOKEN, json!({"list": [id]})).await;
    assert_eq!(scodes, vec![26004]);
    assert_eq!(
        data["results"][0]["desc"], "you are not an approver of the ticket's current step",
        "{data:#}"
    );
    let (scodes, _) = batch(&app, "/v1/ticket/pass", "alice", json!({"list": [id]})).await;
    assert_eq!(scodes, vec![26004]);

    let (scodes, _) = batch(
        &app,
        "/v1/ticket/pass",
        "lead",
        json!({"list": [id], "reason": "fine"}),
    )
    .await;
    assert_eq!(scodes, vec![0]);
    // Passing step 1 again, as the loser of two approvers racing does: the ticket moved on, which
    // is no lack of right (it answered 26004, "not an approver").
    let (scodes, data) = batch(&app, "/v1/ticket/pass", "lead", json!({"list": [id]})).await;
    assert_eq!(scodes, vec![26002], "{data:#}");
    assert_eq!(
        data["results"][0]["desc"], "the ticket moved on since it was read: its step was decided",
        "{data:#}"
    );
    let t = inspect(&app, "alice", &id).await;
    assert_eq!(t["ticket_state"], "待审批");
    let processers = t["processers"].as_array().unwrap();
    assert_eq!(processers.len(), 2);
    assert_eq!(processers[0]["processer_action"], "通过");
    assert_eq!(processers[0]["processer_name"], "lead");
    assert_eq!(processers[0]["reason"], "fine");
    assert!(processers[0]["processer_approval_time"].as_i64().unwrap() > 1_600_000_000);
    assert_eq!(processers[1]["owner_uuid"], "system");
    assert_eq!(processers[1]["owner_name"], "超级管理员");
    assert_eq!(processers[1]["processer_tenant_uuid"], "system");
    assert_eq!(t["user_uuid"], "system");
    assert_eq!(t["user_name"], "超级管理员");
    assert_eq!(t["user_tenant_uuid"], "system");

    // The super admin passes with a placement config, which stays on the ticket.
    let config = json!({"contianer": {"auto_container": {"host_uuid": "h-1"}}});
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/pass",
        ADMIN_TOKEN,
        json!({"list": [id], "config": config}),
    )
    .await;
    assert_eq!(scodes, vec![0]);
    let t = inspect(&app, "alice", &id).await;
    assert_eq!(t["ticket_state"], "已通过");
    assert_eq!(t["ticket_is_over"], true);
    assert_eq!(t["config"], config);
    assert_eq!(
        t["storage"], storage,
        "the detail objects survive the approval"
    );
    assert_eq!(t["processers"][1]["processer_action"], "通过");
    assert_eq!(t["processers"][1]["processer_name"], "admin");
    assert_eq!(
        t["user_uuid"],
        alice.id.to_string(),
        "a finished ticket waits for its applicant"
    );

    // Only the applicant confirms, once.
    let (scodes, _) = batch(&app, "/v1/ticket/confirm", "lead", json!({"list": [id]})).await;
    assert_eq!(scodes, vec![26003]);
    let (scodes, _) = batch(&app, "/v1/ticket/confirm", "alice", json!({"list": [id]})).await;
    assert_eq!(scodes, vec![0]);
    assert_eq!(inspect(&app, "alice", &id).await["is_confirm"], "已确认");
    let (scodes, _) = batch(&app, "/v1/ticket/confirm", "alice", json!({"list": [id]})).await;
    assert_eq!(scodes, vec![26002]);

    let (scodes, _) = batch(&app, "/v1/ticket/archive", "alice", json!({"list": [id]})).await;
    assert_eq!(scodes, vec![0]);
    assert_eq!(inspect(&app, "alice", &id).await["ticket_state"], "已归档");
    assert_eq!(
        list_ids(&app, "alice", "?filter_complex=%E5%B7%B2%E5%BD%92%E6%A1%A3").await,
        vec![id.clone()]
    );
    assert_eq!(
        list_ids(&app, "alice", "?filter_complex=%E5%B7%B2%E9%80%9A%E8%BF%87").await,
        Vec::<String>::new()
    );
    // Every keyword must match, whatever their order: a ticket shows one state name (two
    // were a union, and 已归档 with another depended on the order).
    for both in [
        "%E5%B7%B2%E9%80%9A%E8%BF%87+%E5%B7%B2%E5%BD%92%E6%A1%A3",
        "%E5%B7%B2%E5%BD%92%E6%A1%A3+%E5%B7%B2%E9%80%9A%E8%BF%87",
    ] {
        assert_eq!(
            list_ids(&app, "alice", &format!("?filter_complex={both}")).await,
            Vec::<String>::new()
        );
    }
    // A free word tests the state's name as TopHC shows it (通过, in 已通过), not the English;
    // an archived ticket's by its state's name (archiving is a mark, 已归档 a keyword).
    assert_eq!(
        list_ids(&app, "alice", "?filter_complex=%E9%80%9A%E8%BF%87").await,
        vec![id.clone()]
    );
    assert_eq!(
        list_ids(&app, "alice", "?filter_complex=approved").await,
        Vec::<String>::new()
    );
    assert_eq!(
        list_ids(&app, "alice", "?filter_complex=renam+FEED").await,
        vec![id.clone()]
    );
    assert_eq!(
        list_ids(&app, "alice", "?filter_complex=renamed+nomatch").await,
        Vec::<String>::new()
    );
    let (scodes, _) = batch(&app, "/v1/ticket/archive", "alice", json!({"list": [id]})).await;
    assert_eq!(scodes, vec![26002], "archived once");
    // Archived, it leaves JumpServer's lists but its applicant still opens it there.
    let (status, detail) = app
        .call(
            "GET",
            &format!("/api/v1/tickets/tickets/{id}/"),
            "alice",
            None,
        )
        .await;
    assert_eq!(
        (status, &detail["state"]["value"]),
        (200, &json!("approved")),
        "{detail}"
    );
    let (_, listed) = app
        .call("GET", "/api/v1/tickets/tickets/", "alice", None)
        .await;
    assert!(!listed.to_string().contains(&id), "{listed}");
}

#[tokio::test]
async fn an_overruled_ticket_is_resubmitted_and_restarts_at_the_first_step() {
    let Lts { app, process, .. } = lts().await;
    let id = submit(&app, "alice", "big", &process).await;
    let (scodes, _) = batch(&app, "/v1/ticket/pass", "lead", json!({"list": [id]})).await;
    assert_eq!(scodes, vec![0]);
    // Overrule is documented as a GET with a JSON body.
    let data = ok(
        &app,
        "GET",
        "/v1/ticket/overrule",
        ADMIN_TOKEN,
        json!({"list": [id], "reason": "too big"}),
    )
    .await;
    assert_eq!(batch_scodes(&data), vec![0]);
    let t = inspect(&app, "alice", &id).await;
    assert_eq!(t["ticket_state"], "已驳回");
    assert_eq!(t["ticket_is_over"], false);
    assert_eq!(t["processers"][1]["processer_action"], "驳回");
    assert_eq!(t["processers"][1]["reason"], "too big");

    let (scodes, _) = batch(
        &app,
        "/v1/ticket/overruled/submit",
        "lead",
        json!({"list": [id]}),
    )
    .await;
    assert_eq!(scodes, vec![26003]);
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/overruled/submit",
        "alice",
        json!({"list": [id]}),
    )
    .await;
    assert_eq!(scodes, vec![0]);
    let t = inspect(&app, "alice", &id).await;
    assert_eq!(t["ticket_state"], "待审批");
    assert_eq!(
        t["user_name"], "租户管理员",
        "the chain restarts at level 1"
    );
    let processers = t["processers"].as_array().unwrap();
    // The earlier round's two decisions, then the current step.
    assert_eq!(processers.len(), 3, "{processers:#?}");
    assert_eq!(processers[0]["processer_action"], "通过");
    assert_eq!(processers[1]["processer_action"], "驳回");
    assert_eq!(processers[1]["reason"], "too big");
    assert_eq!(processers[2]["processer_action"], "");
    assert!(
        list_ids(&app, "lead", "?filter_ticket_owner_flag=1")
            .await
            .contains(&id)
    );

    // Overrule also as POST, and as a GET with query parameters.
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/overrule",
        "lead",
        json!({"list": [id], "reason": "again"}),
    )
    .await;
    assert_eq!(scodes, vec![0]);
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/overruled/submit",
        "alice",
        json!({"list": [id]}),
    )
    .await;
    assert_eq!(scodes, vec![0]);
    let data = ok(
        &app,
        "GET",
        &format!("/v1/ticket/overrule?list={id}&reason=q"),
        "lead",
        Value::Null,
    )
    .await;
    assert_eq!(batch_scodes(&data), vec![0]);
    let t = inspect(&app, "alice", &id).await;
    assert_eq!(t["ticket_state"], "已驳回");
    assert_eq!(
        t["processers"].as_array().unwrap().last().unwrap()["reason"],
        "q"
    );
}

/// An earlier round's decisions show under the roles they were made as, after the process
/// changed between the rounds (they showed the process's new roles).
#[tokio::test]
async fn an_earlier_rounds_decisions_keep_their_roles_after_the_process_changes() {
    let Lts { app, lts, .. } = lts().await;
    member(&app, "bob", lts, ROLE_ORG_USER).await;
    let tenant_id = lts.to_string();
    let process = create_process(
        &app,
        "lead",
        &tenant_id,
        "changing",
        json!([{"tenant_uuid": tenant_id, "role_uuid": "administrator"}]),
    )
    .await;
    let id = submit(&app, "alice", "twice", &process).await;
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/overrule",
        "lead",
        json!({"list": [id], "reason": "r"}),
    )
    .await;
    assert_eq!(scodes, vec![0]);
    ok(
        &app,
        "POST",
        "/v1/ticket/process/update",
        "lead",
        json!({"process_uuid": process, "approval_list": [{"tenant_uuid": tenant_id, "role_uuid": "member"}]}),
    )
    .await;
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/overruled/submit",
        "alice",
        json!({"list": [id]}),
    )
    .await;
    assert_eq!(scodes, vec![0]);
    let t = inspect(&app, "alice", &id).await;
    let processers = t["processers"].as_array().unwrap();
    assert_eq!(processers.len(), 2, "{processers:#?}");
    assert_eq!(processers[0]["processer_name"], "lead");
    assert_eq!(processers[0]["processer_action"], "驳回");
    assert_eq!(processers[0]["owner_uuid"], "administrator");
    assert_eq!(processers[0]["owner_name"], "租户管理员");
    assert_eq!(processers[1]["owner_uuid"], "member", "the current round's");
    assert_eq!(processers[1]["processer_action"], "");
}

/// An applicant who has left the tenant puts none of their tickets there before its approvers
/// again, as they may open none there, nor changes one; they still read and withdraw them.
#[tokio::test]
async fn an_applicant_who_left_the_tenant_resubmits_submits_and_saves_nothing_there() {
    let Lts { app, lts, process } = lts().await;
    let overruled = submit(&app, "alice", "overruled", &process).await;
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/overrule",
        "lead",
        json!({"list": [overruled], "reason": "no"}),
    )
    .await;
    assert_eq!(scodes, vec![0]);
    let pending = submit(&app, "alice", "pending", &process).await;
    let saved = ok(
        &app,
        "POST",
        "/v1/ticket/save",
        "alice",
        json!({"ticket_name": "draft", "type": "FEEDBACK", "process_uuid": process}),
    )
    .await;
    let draft = saved["ticket_uuid"].as_str().unwrap().to_owned();
    let alice = app
        .engine
        .store()
        .find_user_by_username("alice")
        .await
        .unwrap()
        .unwrap();
    let admin = app.admin().await;
    app.engine
        .remove_member(&admin, lts, alice.id, ticketd_http::now())
        .await
        .unwrap();

    let (scodes, _) = batch(
        &app,
        "/v1/ticket/overruled/submit",
        "alice",
        json!({"list": [overruled]}),
    )
    .await;
    assert_eq!(scodes, vec![26008], "resubmitted after leaving");
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/saved/submit",
        "alice",
        json!({"list": [draft]}),
    )
    .await;
    assert_eq!(scodes, vec![26008], "a draft submitted after leaving");
    let edit = call(
        &app,
        "POST",
        "/v1/ticket/save",
        "alice",
        json!({"ticket_uuid": draft, "ticket_name": "changed", "type": "FEEDBACK"}),
    )
    .await;
    assert_eq!(edit["scode"], 26008, "{edit}");
    assert_eq!(
        inspect(&app, "alice", &overruled).await["ticket_state"],
        "已驳回"
    );
    assert_eq!(inspect(&app, "alice", &draft).await["ticket_name"], "draft");
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/withdraw",
        "alice",
        json!({"list": [pending]}),
    )
    .await;
    assert_eq!(scodes, vec![0], "withdrawing stays hers");
}

#[tokio::test]
async fn withdraw_and_delete_follow_the_applicants_rights() {
    let Lts { app, lts, process } = lts().await;
    member(&app, "bob", lts, ROLE_ORG_USER).await;
    let id = submit(&app, "alice", "w", &process).await;
    let (scodes, _) = batch(&app, "/v1/ticket/delete", "alice", json!({"list": [id]})).await;
    assert_eq!(scodes, vec![26002], "a pending ticket is not deleted");
    let (scodes, _) = batch(&app, "/v1/ticket/withdraw", "lead", json!({"list": [id]})).await;
    assert_eq!(scodes, vec![26003]);
    let (scodes, _) = batch(&app, "/v1/ticket/withdraw", "bob", json!({"list": [id]})).await;
    assert_eq!(
        scodes,
        vec![26001],
        "an unrelated member does not even see it"
    );
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/withdraw",
        "alice",
        json!({"list": [id], "reason": "oops"}),
    )
    .await;
    assert_eq!(scodes, vec![0]);
    let t = inspect(&app, "alice", &id).await;
    assert_eq!(t["ticket_state"], "已撤回");
    assert_eq!(t["user_uuid"].as_str().unwrap().len(), 36);
    let (scodes, _) = batch(&app, "/v1/ticket/withdraw", "alice", json!({"list": [id]})).await;
    assert_eq!(scodes, vec![26002]);
    let (scodes, _) = batch(&app, "/v1/ticket/pass", "lead", json!({"list": [id]})).await;
    assert_eq!(scodes, vec![26002]);
    let (scodes, _) = batch(&app, "/v1/ticket/archive", "bob", json!({"list": [id]})).await;
    assert_eq!(scodes, vec![26001]);

    let (scodes, data) = batch(&app, "/v1/ticket/delete", "alice", json!({"list": [id]})).await;
    assert_eq!(scodes, vec![0]);
    assert_eq!(
        data["results"][0]["data"],
        json!({"ticket_uuid": id, "ticket_name": "w"})
    );
    let gone = call(
        &app,
        "GET",
        &format!("/v1/ticket/inspect?ticket_uuid={id}"),
        "alice",
        Value::Null,
    )
    .await;
    assert_eq!(gone["scode"], 26001);
    assert!(!list_ids(&app, "alice", "").await.contains(&id));
    let (scodes, _) = batch(&app, "/v1/ticket/delete", "alice", json!({"list": [id]})).await;
    assert_eq!(scodes, vec![26001]);
}

#[tokio::test]
async fn batch_calls_report_each_item_and_one_bad_id_stops_nothing() {
    let Lts { app, lts, process } = lts().await;
    let other = tenant(&app, "other").await;
    member(&app, "olga", other, ROLE_ORG_USER).await;
    let mine = submit(&app, "alice", "one", &process).await;
    let at_step_two = submit(&app, "alice", "two", &process).await;
    let finished = submit(&app, "alice", "three", &process).await;
    let foreign = submit(&app, "olga", "foreign", "system").await;
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/pass",
        "lead",
        json!({"list": [at_step_two, finished]}),
    )
    .await;
    assert_eq!(scodes, vec![0, 0]);
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/pass",
        ADMIN_TOKEN,
        json!({"list": [finished]}),
    )
    .await;
    assert_eq!(scodes, vec![0]);
    assert_eq!(
        lts,
        app.engine
            .get_ticket(&app.admin().await, TicketId::parse(&mine).unwrap())
            .await
            .unwrap()
            .org_id
    );

    let unknown = "0190aaaa-0000-7000-8000-000000000000";
    let (scodes, data) = batch(
        &app,
        "/v1/ticket/pass",
        "lead",
        json!({"list": [mine, unknown, "not-a-uuid", at_step_two, finished, foreign, 42, {"ticket_uuid": mine}]}),
    )
    .await;
    // Lead decided step 1 of `at_step_two`, and of `mine` in the first item: those tickets
    // moved on (26002), as for the loser of a race, rather than lead lacking a right.
    assert_eq!(
        scodes,
        vec![0, 26001, 10001, 26002, 26002, 26001, 10001, 26002]
    );
    let results = data["results"].as_array().unwrap();
    assert_eq!(
        results[0]["data"],
        json!({"ticket_uuid": mine, "ticket_name": "one"})
    );
    assert_eq!(
        results[1]["data"],
        json!({"ticket_uuid": unknown, "ticket_name": ""})
    );
    assert_eq!(results[2]["data"]["ticket_uuid"], "not-a-uuid");
    assert_eq!(
        results[3]["data"],
        json!({"ticket_uuid": at_step_two, "ticket_name": "two"})
    );
    assert_eq!(
        results[5]["data"]["ticket_name"], "",
        "a foreign ticket's name is not leaked"
    );
    // Only the first item changed anything.
    assert_eq!(
        inspect(&app, "alice", &mine).await["user_name"],
        "超级管理员"
    );
    assert_eq!(
        inspect(&app, "alice", &at_step_two).await["processers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        inspect(&app, "alice", &finished).await["ticket_state"],
        "已通过"
    );
    assert_eq!(
        inspect(&app, "olga", &foreign).await["ticket_state"],
        "待审批"
    );

    let (scodes, _) = batch(
        &app,
        "/v1/ticket/withdraw",
        "alice",
        json!({"list": [foreign, at_step_two, mine]}),
    )
    .await;
    assert_eq!(scodes, vec![26001, 0, 0]);
    let (scodes, data) = batch(&app, "/v1/ticket/archive", "alice", json!({"list": []})).await;
    assert_eq!(scodes, Vec::<i64>::new());
    assert_eq!(data, json!({"success": 0, "fail": 0, "results": []}));
}

#[tokio::test]
async fn lists_page_from_zero_newest_first_with_a_total() {
    let Lts { app, process, .. } = lts().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(submit(&app, "alice", &format!("t{n}"), &process).await);
    }
    let page = |n: u32| {
        let app = &app;
        async move {
            ok(
                app,
                "GET",
                &format!("/v1/ticket/list?page_num={n}&page_size=2&filter_ticket_owner_flag=2"),
                "alice",
                Value::Null,
            )
            .await
        }
    };
    let first = page(0).await;
    assert_eq!(first["total_count"], 3);
    assert_eq!(ids_in(&first), vec![ids[2].clone(), ids[1].clone()]);
    let second = page(1).await;
    assert_eq!(second["total_count"], 3);
    assert_eq!(ids_in(&second), vec![ids[0].clone()]);
    assert_eq!(ids_in(&page(2).await), Vec::<String>::new());
    // The same parameters in a JSON body, as the document sends them.
    let body = ok(&app, "GET", "/v1/ticket/list", "alice", json!({"page_num": 0, "page_size": "1", "filter_ticket_owner_flag": "2", "tenant": "lts", "cluster_uuid": "c"})).await;
    assert_eq!(ids_in(&body), vec![ids[2].clone()]);
    let item = &body["list"][0];
    for key in [
        "ticket_uuid",
        "ticket_name",
        "ticket_type",
        "ticket_state",
        "ticket_is_over",
        "is_confirm",
        "ticket_create_time",
        "applyer_name",
        "applyer_uuid",
        "applyer_role",
        "applyer_tenant_uuid",
        "applyer_tenant_name",
        "reason",
        "user_name",
        "user_uuid",
        "user_tenant_uuid",
        "detail_uuid",
        "process_uuid",
        "process_name",
        "processers",
    ] {
        assert!(item.get(key).is_some(), "no {key} in {item:#}");
    }
    assert!(item["ticket_create_time"].as_i64().unwrap() > 1_600_000_000);
}

// ------------------------------------------------------------------ processes

#[tokio::test]
async fn processes_are_created_updated_inspected_listed_and_deleted_but_not_while_in_use() {
    let Lts { app, lts, process } = lts().await;
    let tenant_id = lts.to_string();
    // The tenant administrator manages its own tenant's processes.
    let spare = create_process(
        &app,
        "lead",
        &tenant_id,
        "spare",
        json!([{"tenant_uuid": tenant_id, "role_uuid": ROLE_ORG_USER.to_string()}]),
    )
    .await;
    let denied = call(&app, "POST", "/v1/ticket/process/create", "alice",
        json!({"tenant_uuid": tenant_id, "process_name": "mine", "approval_list": [{"tenant_uuid": tenant_id, "role_uuid": "user"}]})).await;
    assert_eq!(denied["scode"], 26008);
    let duplicate = call(&app, "POST", "/v1/ticket/process/create", "lead",
        json!({"tenant_uuid": tenant_id, "process_name": "spare", "approval_list": [{"tenant_uuid": tenant_id, "role_uuid": "user"}]})).await;
    assert_eq!(duplicate["scode"], 26007);

    let p = ok(
        &app,
        "GET",
        "/v1/ticket/process/inspect",
        "alice",
        json!({"tenant_uuid": tenant_id, "process_uuid": process}),
    )
    .await;
    assert_eq!(p["process_uuid"], process);
    assert_eq!(p["process_name"], "two-step");
    assert_eq!(p["tenant_uuid"], tenant_id);
    assert_eq!(p["tenant_name"], "lts");
    assert_eq!(p["creator_name"], "admin");
    assert_eq!(p["creator_role"], "超级管理员");
    assert_eq!(p["creator_tenant_uuid"], "system");
    assert_eq!(
        p["process_list"],
        json!([
            {"tenant_uuid": tenant_id, "tenant_name": "lts", "role_uuid": "administrator", "role_name": "租户管理员"},
            {"tenant_uuid": "system", "tenant_name": "system", "role_uuid": "system", "role_name": "超级管理员"},
        ])
    );
    let spare_view = ok(
        &app,
        "GET",
        &format!("/v1/ticket/process/inspect?process_uuid={spare}"),
        "lead",
        Value::Null,
    )
    .await;
    assert_eq!(spare_view["creator_name"], "lead");
    assert_eq!(spare_view["creator_role"], "租户管理员");
    assert_eq!(spare_view["creator_tenant_uuid"], tenant_id);

    let listed = ok(
        &app,
        "GET",
        &format!("/v1/ticket/process/list?tenant_uuid={tenant_id}"),
        "alice",
        Value::Null,
    )
    .await;
    let names: Vec<&str> = listed["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["process_uuid"].as_str().unwrap())
        .collect();
    assert_eq!(listed["total_count"], 3);
    assert!(
        names.contains(&"system")
            && names.contains(&process.as_str())
            && names.contains(&spare.as_str())
    );
    assert!(
        listed["list"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["is_in_using"] == false)
    );
    let default = listed["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["process_uuid"] == "system")
        .unwrap();
    assert_eq!(default["process_name"], "默认审批流程");
    assert_eq!(default["tenant_uuid"], "system");
    assert_eq!(
        default["process_list"],
        json!([
            {"tenant_uuid": tenant_id, "tenant_name": "lts", "role_uuid": tenant_id, "role_name": "租户管理员"},
            {"tenant_uuid": "system", "tenant_name": "system", "role_uuid": "system", "role_name": "超级管理员"},
        ])
    );

    // Update: name, description and chain.
    let updated = ok(&app, "POST", "/v1/ticket/process/update", "lead", json!({
        "tenant_uuid": tenant_id, "process_uuid": spare, "process_name": "renamed", "description": "d",
        "approval_list": [
            {"tenant_uuid": tenant_id, "tenant_name": "lts", "role_uuid": "administrator", "role_name": "boss"},
            {"tenant_uuid": "system", "role_uuid": "system"}
        ]})).await;
    assert_eq!(
        updated,
        json!({"process_uuid": spare, "process_name": "renamed"})
    );
    let p = ok(
        &app,
        "GET",
        &format!("/v1/ticket/process/inspect?process_uuid={spare}"),
        "lead",
        Value::Null,
    )
    .await;
    assert_eq!(p["description"], "d");
    assert_eq!(p["process_list"][0]["role_name"], "boss");
    assert_eq!(p["process_list"].as_array().unwrap().len(), 2);
    let only_name = ok(
        &app,
        "POST",
        "/v1/ticket/process/update",
        "lead",
        json!({"process_uuid": spare, "process_name": "spare2"}),
    )
    .await;
    assert_eq!(only_name["process_name"], "spare2");
    assert_eq!(
        ok(
            &app,
            "GET",
            &format!("/v1/ticket/process/inspect?process_uuid={spare}"),
            "lead",
            Value::Null
        )
        .await["process_list"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A saved or pending ticket puts its process in use.
    let id = submit(&app, "alice", "uses it", &process).await;
    let draft = ok(
        &app,
        "POST",
        "/v1/ticket/save",
        "alice",
        json!({"ticket_name": "d", "type": "FEEDBACK", "process_uuid": spare}),
    )
    .await;
    let listed = ok(
        &app,
        "GET",
        "/v1/ticket/process/list",
        "lead",
        json!({"tenant_uuid": tenant_id}),
    )
    .await;
    let in_use: Vec<(String, bool)> = listed["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["process_uuid"].as_str().unwrap().to_owned(),
                p["is_in_using"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(
        in_use.contains(&(process.clone(), true))
            && in_use.contains(&(spare.clone(), true))
            && in_use.contains(&("system".to_owned(), false)),
        "{in_use:?}"
    );
    let refused = call(
        &app,
        "POST",
        "/v1/ticket/process/update",
        ADMIN_TOKEN,
        json!({"process_uuid": process, "process_name": "x"}),
    )
    .await;
    assert_eq!(refused["scode"], 26006);
    // Someone who may not change it is told so, not that it is in use.
    let refused = call(
        &app,
        "POST",
        "/v1/ticket/process/update",
        "alice",
        json!({"process_uuid": process, "process_name": "x"}),
    )
    .await;
    assert_eq!(refused["scode"], 26008, "{refused}");
    let unknown = "0190aaaa-0000-7000-8000-000000000000";
    let (scodes, data) = batch(&app, "/v1/ticket/process/delete", ADMIN_TOKEN, json!({"tenant_uuid": tenant_id,
        "list": [{"process_uuid": process}, {"process_uuid": unknown}, {"process_uuid": "system"}, {"process_uuid": spare}]})).await;
    assert_eq!(scodes, vec![26006, 26005, 26007, 26006]);
    assert_eq!(
        data["results"][0]["data"],
        json!({"process_uuid": process, "process_name": "two-step"})
    );

    // Once no open ticket uses them they go; the finished ticket keeps rendering.
    let (scodes, _) = batch(&app, "/v1/ticket/withdraw", "alice", json!({"list": [id]})).await;
    assert_eq!(scodes, vec![0]);
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/delete",
        "alice",
        json!({"list": [draft["ticket_uuid"]]}),
    )
    .await;
    assert_eq!(scodes, vec![0]);
    // The tenant administrator manages every process of the tenant, whoever created it.
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/process/delete",
        "lead",
        json!({"list": [spare, {"process_uuid": process}]}),
    )
    .await;
    assert_eq!(scodes, vec![0, 0]);
    let gone = call(
        &app,
        "GET",
        &format!("/v1/ticket/process/inspect?process_uuid={process}"),
        ADMIN_TOKEN,
        Value::Null,
    )
    .await;
    assert_eq!(gone["scode"], 26005);
    let t = inspect(&app, "alice", &id).await;
    assert_eq!(t["ticket_state"], "已撤回");
    assert_eq!(
        t["process_name"], "two-step",
        "the steps remember the process name"
    );
    // Global processes are listed under the system tenant.
    let global = ok(
        &app,
        "GET",
        "/v1/ticket/process/list?tenant_uuid=system",
        ADMIN_TOKEN,
        Value::Null,
    )
    .await;
    assert_eq!(global["total_count"], 1);
    assert_eq!(global["list"][0]["process_uuid"], "system");
}

#[tokio::test]
async fn ticket_and_process_errors_have_their_documented_scodes() {
    let Lts { app, lts, process } = lts().await;
    let other = tenant(&app, "other").await;
    let foreign = create_process(
        &app,
        ADMIN_TOKEN,
        &other.to_string(),
        "theirs",
        json!([{"tenant_uuid": other.to_string(), "role_uuid": "administrator"}]),
    )
    .await;
    let scode = |method: &'static str, path: &'static str, token: &'static str, body: Value| {
        let app = &app;
        async move {
            call(app, method, path, token, body).await["scode"]
                .as_i64()
                .unwrap()
        }
    };
    let ticket = |extra: Value| {
        let mut body = json!({"ticket_name": "n", "type": "FEEDBACK", "process_uuid": process});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    // 26005: unknown, malformed, or another tenant's process.
    assert_eq!(
        scode(
            "POST",
            "/v1/ticket/submit",
            "alice",
            ticket(json!({"process_uuid": "0190aaaa-0000-7000-8000-000000000000"}))
        )
        .await,
        26005
    );
    assert_eq!(
        scode(
            "POST",
            "/v1/ticket/submit",
            "alice",
            ticket(json!({"process_uuid": "nonsense"}))
        )
        .await,
        26005
    );
    assert_eq!(
        scode(
            "POST",
            "/v1/ticket/submit",
            "alice",
            ticket(json!({"process_uuid": foreign}))
        )
        .await,
        26005
    );
    assert_eq!(
        scode(
            "POST",
            "/v1/ticket/submit",
            ADMIN_TOKEN,
            ticket(json!({"process_uuid": foreign, "tenant_uuid": lts.to_string()}))
        )
        .await,
        26005
    );
    // 26007: blank name, no type, empty chain, unknown role, a taken ticket id.
    assert_eq!(
        scode(
            "POST",
            "/v1/ticket/submit",
            "alice",
            ticket(json!({"ticket_name": " "}))
        )
        .await,
        26007
    );
    assert_eq!(
        scode(
            "POST",
            "/v1/ticket/save",
            "alice",
            ticket(json!({"type": ""}))
        )
        .await,
        26007
    );
    assert_eq!(
        scode(
            "POST",
            "/v1/ticket/process/create",
            ADMIN_TOKEN,
            json!({"tenant_uuid": lts.to_string(), "process_name": "e", "approval_list": []})
        )
        .await,
        26007
    );
    assert_eq!(scode("POST", "/v1/ticket/process/create", ADMIN_TOKEN, json!({"tenant_uuid": lts.to_string(), "process_name": " ", "approval_list": [{"role_uuid": "user"}]})).await, 26007);
    assert_eq!(scode("POST", "/v1/ticket/process/create", ADMIN_TOKEN, json!({"tenant_uuid": lts.to_string(), "process_name": "r", "approval_list": [{"tenant_uuid": lts.to_string(), "role_uuid": "16802782-97f5-4b31-9c8c-3d80dd742189"}]})).await, 26007);
    assert_eq!(scode("POST", "/v1/ticket/process/create", ADMIN_TOKEN, json!({"tenant_uuid": "system", "process_name": "g", "approval_list": [{"role_uuid": "user"}]})).await, 26007);
    assert_eq!(scode("POST", "/v1/ticket/process/create", ADMIN_TOKEN, json!({"tenant_uuid": lts.to_string(), "process_name": "n", "approval_list": [{"tenant_uuid": lts.to_string()}]})).await, 26007);
    let id = submit(&app, "alice", "first", &process).await;
    assert_eq!(
        scode(
            "POST",
            "/v1/ticket/submit",
            "alice",
            ticket(json!({"ticket_uuid": id}))
        )
        .await,
        26007
    );
    // 26008 and 26009: foreign and unknown tenants.
    assert_eq!(
        scode(
            "POST",
            "/v1/ticket/submit",
            "alice",
            ticket(json!({"tenant_uuid": other.to_string()}))
        )
        .await,
        26008
    );
    assert_eq!(
        scode(
            "POST",
            "/v1/ticket/submit",
            "alice",
            ticket(json!({"tenant_uuid": "0190aaaa-0000-7000-8000-000000000000"}))
        )
        .await,
        26009
    );
    assert_eq!(
        scode(
            "POST",
            "/v1/ticket/submit",
            "alice",
            ticket(json!({"tenant": "nowhere"}))
        )
        .await,
        26009
    );
    assert_eq!(scode("POST", "/v1/ticket/process/create", "lead", json!({"tenant_uuid": other.to_string(), "process_name": "x", "approval_list": [{"role_uuid": "user"}]})).await, 26008);
    assert_eq!(scode("POST", "/v1/ticket/process/create", "lead", json!({"tenant_uuid": "system", "process_name": "x", "approval_list": [{"tenant_uuid": lts.to_string(), "role_uuid": "user"}]})).await, 26008);
    assert_eq!(
        scode(
            "GET",
            "/v1/ticket/process/list",
            "alice",
            json!({"tenant_uuid": other.to_string()})
        )
        .await,
        26008
    );
    assert_eq!(
        scode(
            "GET",
            "/v1/ticket/list",
            "alice",
            json!({"tenant_uuid": other.to_string()})
        )
        .await,
        26008
    );
    // 26001: an unknown ticket.
    assert_eq!(
        scode(
            "GET",
            "/v1/ticket/inspect",
            "alice",
            json!({"ticket_uuid": "0190aaaa-0000-7000-8000-000000000000"})
        )
        .await,
        26001
    );
    assert_eq!(
        scode(
            "POST",
            "/v1/ticket/save",
            "alice",
            ticket(json!({"ticket_uuid": "0190aaaa-0000-7000-8000-000000000000"}))
        )
        .await,
        26001
    );
    // 26002: saving over a pending ticket.
    assert_eq!(
        scode(
            "POST",
            "/v1/ticket/save",
            "alice",
            ticket(json!({"ticket_uuid": id}))
        )
        .await,
        26002
    );
}

// ------------------------------------------------------------------ tenants

#[tokio::test]
async fn a_role_chain_across_two_tenants_is_decided_by_each_tenants_role_holders() {
    let app = spawn_app().await;
    let alpha = tenant(&app, "alpha").await;
    let beta = tenant(&app, "beta").await;
    member(&app, "applicant", alpha, ROLE_ORG_USER).await;
    member(&app, "alpha_admin", alpha, ROLE_ORG_ADMIN).await;
    member(&app, "beta_user", beta, ROLE_ORG_USER).await;
    member(&app, "beta_auditor", beta, ROLE_ORG_AUDITOR).await;
    let process = create_process(&app, ADMIN_TOKEN, &alpha.to_string(), "cross", json!([
        {"tenant_uuid": alpha.to_string(), "role_uuid": alpha.to_string()},
        {"tenant_uuid": beta.to_string(), "role_uuid": ROLE_ORG_USER.to_string(), "role_name": "beta members"},
        {"tenant_uuid": "system", "role_uuid": "system"},
    ])).await;
    let id = submit(&app, "applicant", "cross", &process).await;
    assert!(
        list_ids(&app, "alpha_admin", "?filter_ticket_owner_flag=1")
            .await
            .contains(&id)
    );
    assert!(
        list_ids(&app, "beta_user", "?filter_ticket_owner_flag=1")
            .await
            .is_empty(),
        "step 2 is not reached yet"
    );
    let (scodes, _) = batch(&app, "/v1/ticket/pass", "beta_user", json!({"list": [id]})).await;
    assert_eq!(scodes, vec![26004]);
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/pass",
        "alpha_admin",
        json!({"list": [id]}),
    )
    .await;
    assert_eq!(scodes, vec![0]);

    // Step 2 belongs to beta's members: beta_user sees it awaiting them, beta's auditor does not.
    assert_eq!(
        list_ids(&app, "beta_user", "?filter_ticket_owner_flag=1").await,
        vec![id.clone()]
    );
    assert!(list_ids(&app, "beta_auditor", "").await.is_empty());
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/pass",
        "beta_auditor",
        json!({"list": [id]}),
    )
    .await;
    assert_eq!(scodes, vec![26001]);
    let t = inspect(&app, "beta_user", &id).await;
    assert_eq!(
        t["processers"][0]["processer_tenant_uuid"],
        alpha.to_string()
    );
    assert_eq!(t["processers"][0]["owner_uuid"], alpha.to_string());
    assert_eq!(
        t["processers"][1]["processer_tenant_uuid"],
        beta.to_string()
    );
    assert_eq!(t["processers"][1]["processer_tenant_name"], "beta");
    assert_eq!(t["processers"][1]["owner_name"], "beta members");
    assert_eq!(t["user_tenant_uuid"], beta.to_string());
    assert_eq!(t["applyer_tenant_uuid"], alpha.to_string());
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/pass",
        "beta_user",
        json!({"list": [id], "reason": "beta ok"}),
    )
    .await;
    assert_eq!(scodes, vec![0]);
    let (scodes, _) = batch(&app, "/v1/ticket/pass", ADMIN_TOKEN, json!({"list": [id]})).await;
    assert_eq!(scodes, vec![0]);
    let t = inspect(&app, "applicant", &id).await;
    assert_eq!(t["ticket_state"], "已通过");
    let actions: Vec<&str> = t["processers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["processer_name"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["alpha_admin", "beta_user", "admin"]);
}

#[tokio::test]
async fn tenants_are_isolated_from_each_other() {
    let app = spawn_app().await;
    let alpha = tenant(&app, "alpha").await;
    let beta = tenant(&app, "beta").await;
    member(&app, "a", alpha, ROLE_ORG_USER).await;
    member(&app, "a_admin", alpha, ROLE_ORG_ADMIN).await;
    member(&app, "b", beta, ROLE_ORG_USER).await;
    member(&app, "b_admin", beta, ROLE_ORG_ADMIN).await;
    let alpha_process = create_process(
        &app,
        "a_admin",
        &alpha.to_string(),
        "alpha only",
        json!([{"tenant_uuid": alpha.to_string(), "role_uuid": "administrator"}]),
    )
    .await;
    let id = submit(&app, "a", "secret", &alpha_process).await;
    let on_default = submit(&app, "a", "default", "system").await;

    for token in ["b", "b_admin"] {
        let seen = call(
            &app,
            "GET",
            &format!("/v1/ticket/inspect?ticket_uuid={id}"),
            token,
            Value::Null,
        )
        .await;
        assert_eq!(seen["scode"], 26001);
        assert!(list_ids(&app, token, "").await.is_empty());
        let (scodes, data) = batch(
            &app,
            "/v1/ticket/pass",
            token,
            json!({"list": [id, on_default]}),
        )
        .await;
        assert_eq!(scodes, vec![26001, 26001]);
        assert_eq!(data["results"][0]["data"]["ticket_name"], "");
        assert_eq!(
            call(
                &app,
                "GET",
                "/v1/ticket/process/list",
                token,
                json!({"tenant_uuid": alpha.to_string()})
            )
            .await["scode"],
            26008
        );
        assert_eq!(
            call(
                &app,
                "GET",
                &format!("/v1/ticket/process/inspect?process_uuid={alpha_process}"),
                token,
                Value::Null
            )
            .await["scode"],
            26005
        );
        let mine = call(
            &app,
            "POST",
            "/v1/ticket/submit",
            token,
            json!({"ticket_name": "x", "type": "FEEDBACK", "process_uuid": alpha_process}),
        )
        .await;
        assert_eq!(mine["scode"], 26005);
    }
    let their_list = ok(&app, "GET", "/v1/ticket/process/list", "b", Value::Null).await;
    let visible: Vec<&str> = their_list["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["process_uuid"].as_str().unwrap())
        .collect();
    assert_eq!(visible, vec!["system"]);
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/process/delete",
        "b_admin",
        json!({"list": [{"process_uuid": alpha_process}]}),
    )
    .await;
    assert_eq!(scodes, vec![26005]);
    // The default process is no tenant admin's to delete: permission denied, as for any
    // process the caller does not manage (it answered "cannot be deleted", 26007, first).
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/process/delete",
        "b_admin",
        json!({"list": ["system"]}),
    )
    .await;
    assert_eq!(scodes, vec![26008]);
    let (scodes, _) = batch(
        &app,
        "/v1/ticket/process/delete",
        ADMIN_TOKEN,
        json!({"list": ["system"]}),
    )
    .await;
    assert_eq!(scodes, vec![26007], "nobody deletes it");
    // Nor changes it (an update renamed it and dropped the tenant administrators' level for
    // good); a tenant administrator is refused as for deleting it.
    let change = json!({"process_uuid": "system", "process_name": "renamed",
        "approval_list": [{"tenant_uuid": "system", "role_uuid": "system"}]});
    let refused = call(
        &app,
        "POST",
        "/v1/ticket/process/update",
        ADMIN_TOKEN,
        change.clone(),
    )
    .await;
    assert_eq!(refused["scode"], 26007, "{refused}");
    let refused = call(&app, "POST", "/v1/ticket/process/update", "b_admin", change).await;
    assert_eq!(refused["scode"], 26008, "{refused}");
    let default = ok(
        &app,
        "GET",
        "/v1/ticket/process/inspect?process_uuid=system",
        ADMIN_TOKEN,
        Value::Null,
    )
    .await;
    assert_ne!(default["process_name"], "renamed");
    assert_eq!(
        default["process_list"].as_array().unwrap().len(),
        2,
        "{default}"
    );
    // alpha's administrator reads all of alpha, beta's none of it.
    let all_alpha = list_ids(&app, "a_admin", "").await;
    assert!(all_alpha.contains(&id) && all_alpha.contains(&on_default));

    // A type another API opens is not opened here, past that API's rules (a DataArts table
    // permission's approver pool, a JumpServer asset permission and the organization's
    // apply_asset flow, which a lax process named here would bypass; a JumpServer confirmation).
    for kind in [
        "data_permission",
        "apply_asset",
        "command_confirm",
        "login_confirm",
    ] {
        let body = json!({"ticket_name": "theirs", "type": kind, "tenant_uuid": alpha.to_string(),
            "process_uuid": alpha_process, "permissions": [{"table_name": "t"}]});
        for route in ["/v1/ticket/submit", "/v1/ticket/save"] {
            let refused = call(&app, "POST", route, "a", body.clone()).await;
            assert_eq!(refused["scode"], 26007, "{kind} {route}: {refused}");
            let desc = refused["desc"].as_str().unwrap_or_default();
            assert!(desc.contains("opened through its own API"), "{refused}");
        }
    }
    // A saved ticket keeps its tenant: another one named in a save is refused, not dropped
    // (26008 for one the caller may not enter, as at submit).
    app.user(
        "ab",
        SystemRole::User,
        vec![(alpha, ROLE_ORG_USER), (beta, ROLE_ORG_USER)],
    )
    .await;
    for (token, scode) in [("ab", 26007), ("a", 26008)] {
        let draft =
            json!({"ticket_name": "draft", "type": "FEEDBACK", "tenant_uuid": alpha.to_string()});
        let saved = ok(&app, "POST", "/v1/ticket/save", token, draft.clone()).await;
        let mut moved = draft;
        moved["ticket_uuid"] = saved["ticket_uuid"].clone();
        moved["tenant_uuid"] = json!(beta.to_string());
        let refused = call(&app, "POST", "/v1/ticket/save", token, moved.clone()).await;
        assert_eq!(refused["scode"], scode, "{token}: {refused}");
        moved["tenant_uuid"] = json!(alpha.to_string());
        ok(&app, "POST", "/v1/ticket/save", token, moved).await;
    }
    // A ticket another API partitions or made keeps its content: a withdrawn ZStack ticket or
    // JumpServer command confirmation is not saved over with a ticketInfo body (which would have
    // replaced their content unchecked).
    let applicant = app
        .user("z", SystemRole::User, vec![(alpha, ROLE_ORG_USER)])
        .await;
    for (kind, scope, content) in [
        (
            "zstack",
            "zstack",
            json!({"requests": [{"apiName": "APICreateVmInstanceMsg", "apiBody": {"name": "vm"}}]}),
        ),
        (
            "command_confirm",
            "",
            json!({"command": "rm -rf /", "input": "rm -rf /", "risk_level": 5}),
        ),
    ] {
        // JumpServer opens its confirmations for the applicant, routed to the reviewers it
        // names; a ZStack ticket goes through a flow.
        let admin = app.admin().await;
        let (opener, flow, named) = if kind == "command_confirm" {
            let reviewers = ticketd_core::selector::Selector::Ids {
                ids: vec![applicant.id()],
            };
            let levels = vec![ticketd_core::engine::any_level(reviewers)];
            (&admin, FlowChoice::Explicit(levels), Some(applicant.id()))
        } else {
            let process = FlowId::parse(&alpha_process).unwrap();
            (&applicant, FlowChoice::Id(process), None)
        };
        let foreign = app
            .engine
            .open_ticket(
                opener,
                NewTicket {
                    id: None,
                    org_id: alpha,
                    kind: kind.into(),
                    title: "theirs".into(),
                    payload: content.clone(),
                    comment: String::new(),
                    scope: scope.into(),
                    flow,
                    submit: true,
                    applicant: named,
                    cc_users: Vec::new(),
                },
                ticketd_http::now(),
            )
            .await
            .unwrap();
        let withdraw = TicketCommand::Withdraw {
            reason: String::new(),
        };
        app.engine
            .act(&applicant, foreign.id, withdraw, ticketd_http::now())
            .await
            .unwrap();
        let body = json!({"ticket_uuid": foreign.id.to_string(), "ticket_name": "x", "type": kind,
            "reason": "r", "requests": "notalist"});
        let refused = call(&app, "POST", "/v1/ticket/save", "z", body).await;
        assert_eq!(refused["scode"], 26007, "{kind}: {refused}");
        let stored = app.engine.get_ticket(&applicant, foreign.id).await.unwrap();
        assert_eq!(
            (stored.title.as_str(), &*stored.payload),
            ("theirs", &content)
        );
    }
}

#[tokio::test]
async fn the_default_process_goes_to_the_tenant_admin_then_the_super_admin() {
    let app = spawn_app().await;
    let lts = tenant(&app, "lts").await;
    member(&app, "gate", lts, ROLE_ORG_USER).await;
    member(&app, "lts", lts, ROLE_ORG_ADMIN).await;
    // No process_uuid means the default process too.
    let id = submit(&app, "gate", "fdsf", "system").await;
    let implicit = ok(
        &app,
        "POST",
        "/v1/ticket/submit",
        "gate",
        json!({"ticket_name": "implicit", "type": "FEEDBACK"}),
    )
    .await;
    let list = ok(
        &app,
        "GET",
        "/v1/ticket/list",
        "gate",
        json!({"tenant_uuid": ""}),
    )
    .await;
    assert_eq!(list["total_count"], 2);
    let t = list["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["ticket_uuid"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(t["process_uuid"], "system");
    assert_eq!(t["process_name"], "默认审批流程");
    assert_eq!(t["processers"][0]["owner_name"], "租户管理员");
    assert_eq!(t["processers"][0]["owner_uuid"], lts.to_string());
    assert_eq!(t["user_name"], "租户管理员");
    assert_eq!(
        inspect(&app, "gate", implicit["ticket_uuid"].as_str().unwrap()).await["process_uuid"],
        "system"
    );

    let (scodes, _) = batch(&app, "/v1/ticket/pass", "lts", json!({"list": [id]})).await;
    assert_eq!(scodes, vec![0]);
    let t = inspect(&app, "gate", &id).await;
    assert_eq!(t["user_name"], "超级管理员");
    assert_eq!(t["user_uuid"], "system");
    assert_eq!(t["user_tenant_uuid"], "system");
    assert_eq!(
        t["processers"][1],
        json!({
        "processer_tenant_uuid": "system", "processer_tenant_name": "system", "owner_uuid": "system",
        "owner_name": "超级管理员", "processer_uuid": "", "processer_name": "", "processer_role": "",
        "processer_action": "", "processer_approval_time": 0, "reason": ""})
    );
    let (scodes, data) = batch(&app, "/v1/ticket/pass", "lts", json!({"list": [id]})).await;
    assert_eq!(
        scodes,
        vec![26002],
        "the tenant admin decided their step; the super admin's is not theirs"
    );
    // Said as such, not as "cannot approve a ticket that is pending".
    assert_eq!(
        data["results"][0]["desc"], "the ticket moved on since it was read: its step was decided",
        "{data:#}"
    );
    let (scodes, _) = batch(&app, "/v1/ticket/pass", ADMIN_TOKEN, json!({"list": [id]})).await;
    assert_eq!(scodes, vec![0]);
    assert_eq!(inspect(&app, "gate", &id).await["ticket_state"], "已通过");
}

#[tokio::test]
async fn a_tophc_ticket_is_seen_with_the_same_state_through_jumpserver() {
    let Lts { app, process, .. } = lts().await;
    let id = submit(&app, "alice", "cross-dialect", &process).await;
    let jms_state = |token: &'static str| {
        let app = &app;
        let id = id.clone();
        async move {
            let (status, body) = app
                .call("GET", "/api/v1/tickets/tickets/", token, None)
                .await;
            assert_eq!(status, 200, "{body:#}");
            let rows = body
                .as_array()
                .cloned()
                .or_else(|| body["results"].as_array().cloned())
                .unwrap();
            let row = rows
                .into_iter()
                .find(|r| r["id"] == id.as_str())
                .unwrap_or_else(|| panic!("{id} not in {body:#}"));
            assert_eq!(row["title"], "cross-dialect");
            row["state"]["value"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(jms_state("alice").await, "pending");
    assert_eq!(jms_state("lead").await, "pending");
    for token in ["lead", ADMIN_TOKEN] {
        let (scodes, _) = batch(&app, "/v1/ticket/pass", token, json!({"list": [id]})).await;
        assert_eq!(scodes, vec![0]);
    }
    assert_eq!(inspect(&app, "alice", &id).await["ticket_state"], "已通过");
    assert_eq!(jms_state("alice").await, "approved");
}

/// A ticket another dialect routes to chosen users (no TopHC role owns its step) names one of
/// them as its `user_uuid`/`user_name` while pending, as the field's definition says.
#[tokio::test]
async fn a_ticket_routed_to_a_chosen_user_names_that_user_while_pending() {
    let Lts { app, lts, .. } = lts().await;
    let alice = app
        .user("chooser", SystemRole::User, vec![(lts, ROLE_ORG_USER)])
        .await;
    let lead = app
        .engine
        .store()
        .find_user_by_username("lead")
        .await
        .unwrap()
        .unwrap();
    let ticket = app
        .engine
        .open_ticket(
            &alice,
            NewTicket {
                id: None,
                org_id: lts,
                kind: "FEEDBACK".into(),
                title: "chosen".into(),
                payload: json!({}),
                comment: String::new(),
                scope: String::new(),
                flow: FlowChoice::Chosen {
                    pool: ticketd_core::selector::Selector::Ids { ids: vec![lead.id] },
                    approver: lead.id,
                },
                submit: true,
                applicant: None,
                cc_users: vec![],
            },
            ticketd_http::now(),
        )
        .await
        .unwrap();
    let shown = inspect(&app, "chooser", &ticket.id.to_string()).await;
    assert_eq!(shown["user_uuid"], lead.id.to_string(), "{shown:#}");
    assert_eq!(shown["user_name"], "lead", "{shown:#}");
}

// ------------------------------------------------------------------ seed 002

const SEED_PROCESS: &str = "ba452aa0-b1c5-41d5-97ce-be07ebe0a749";
const SEED_TENANT: &str = "d40511b3-0f61-4f00-bd7b-417a6628b67c";
const SEED_DELETE_TENANT: &str = "b7550505-5050-4a18-879b-66d8167afcff";
const SEED_DELETE_PROCESS: &str = "f4d4a842-230f-4228-a1b2-13772953434b";
const SEED_ROLES: [&str; 3] = [
    "16802782-97f5-4b31-9c8c-3d80dd742189",
    "b9bf1df8-f21d-48ca-ac65-7696c2142d73",
    "993c5f1f-80db-43b8-bd1f-878fe7473042",
];

/// One documented call: its method, path, request body and documented answer.
#[derive(Debug)]
struct Example {
    heading: String,
    method: String,
    path: String,
    body: String,
    answer: Value,
}

fn seed_examples() -> Vec<Example> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/seeds"
    ));
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("002_"))
        .unwrap();
    let text = std::fs::read_to_string(file).unwrap();
    let blocks = |section: &str| -> Vec<String> {
        section
            .split("```")
            .skip(1)
            .step_by(2)
            .map(|b| b.to_owned())
            .collect()
    };
    text.split("\n## ")
        .skip(1)
        .map(|section| {
            let heading = section.lines().next().unwrap().trim().to_owned();
            let method = section
                .lines()
                .find(|l| l.contains("请求类型"))
                .unwrap()
                .trim()
                .rsplit(['：', ' '])
                .next()
                .unwrap()
                .trim()
                .to_uppercase();
            let code = blocks(section);
            let url = code[0].trim();
            let path = url
                .strip_prefix("http://localhost:9990")
                .unwrap()
                .to_owned();
            // The body block follows "Body:"; its opening fence may carry trailing tabs.
            let body = code[1].trim_start_matches(['\t', ' ']).to_owned();
            let answer: Value = serde_json::from_str(code[2].trim())
                .unwrap_or_else(|e| panic!("answer of {heading}: {e}"));
            Example {
                heading,
                method,
                path,
                body,
                answer,
            }
        })
        .collect()
}

/// Every key the document shows is in our answer, with a value of the same JSON type (a
/// documented `null` stands for any value).
fn assert_documented_fields(doc: &Value, ours: &Value, at: &str) {
    match (doc, ours) {
        (Value::Null, _) => {}
        (Value::Object(d), Value::Object(o)) => {
            for (key, value) in d {
                let Some(mine) = o.get(key) else {
                    panic!("{at}.{key} missing in {ours:#}");
                };
                assert_documented_fields(value, mine, &format!("{at}.{key}"));
            }
        }
        (Value::Array(d), Value::Array(o)) => {
            if let (Some(d0), Some(o0)) = (d.first(), o.first()) {
                assert_documented_fields(d0, o0, &format!("{at}[0]"));
            }
        }
        (Value::String(_), Value::String(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        _ => panic!("{at}: documented {doc}, answered {ours}"),
    }
}

async fn open_fixture(
    app: &TestApp,
    applicant: &Actor,
    id: &str,
    title: &str,
    process: FlowId,
    payload: Value,
    submit: bool,
) {
    app.engine
        .open_ticket(
            applicant,
            NewTicket {
                id: Some(TicketId::parse(id).unwrap()),
                org_id: applicant.memberships[0].org_id,
                kind: "FEEDBACK".into(),
                title: title.into(),
                payload,
                comment: "fixture".into(),
                scope: String::new(),
                flow: FlowChoice::Id(process),
                submit,
                applicant: None,
                cc_users: vec![],
            },
            ticketd_http::now(),
        )
        .await
        .unwrap();
}

async fn decide(app: &TestApp, who: &Actor, id: &str, approve: bool) {
    let command = if approve {
        TicketCommand::Approve {
            reason: String::new(),
            payload: None,
            changes: None,
        }
    } else {
        TicketCommand::Reject {
            reason: "no".into(),
        }
    };
    app.engine
        .act(
            who,
            TicketId::parse(id).unwrap(),
            command,
            ticketd_http::now(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn every_request_example_of_seed_002_runs_as_written() {
    let examples = seed_examples();
    let headings: Vec<&str> = examples.iter().map(|e| e.heading.as_str()).collect();
    assert_eq!(headings.len(), 17, "{headings:?}");
    let example = |path: &str| {
        examples
            .iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("no example for {path}"))
    };

    // The deployment: tenant lts, whose administrator `lts`, auditor `bbb` and member `ccc`
    // decide the seed's three-role process for the applicant `gate`.
    let app = spawn_app().await;
    let lts = tenant(&app, "lts").await;
    let gate = member(&app, "gate", lts, ROLE_ORG_USER).await;
    let lts_admin = member(&app, "lts", lts, ROLE_ORG_ADMIN).await;
    let bbb = member(&app, "bbb", lts, ROLE_ORG_AUDITOR).await;
    let ccc = member(&app, "ccc", lts, ROLE_ORG_USER).await;
    let roles = [ROLE_ORG_ADMIN, ROLE_ORG_AUDITOR, ROLE_ORG_USER].map(|r| r.to_string());
    let substitute = |body: &str, process: &str, spare: &str| {
        let mut body = body
            .replace(SEED_TENANT, &lts.to_string())
            .replace(SEED_DELETE_TENANT, &lts.to_string())
            .replace(
                "\"tenant_uuid\":\"tenant_uuid\"",
                &format!("\"tenant_uuid\":\"{lts}\""),
            );
        for (seed, ours) in SEED_ROLES.iter().zip(&roles) {
            body = body.replace(seed, ours);
        }
        if !process.is_empty() {
            body = body.replace(SEED_PROCESS, process);
        }
        if !spare.is_empty() {
            body = body.replace(SEED_DELETE_PROCESS, spare);
        }
        body
    };
    let run = |e: &Example, token: &str, body: String| {
        let app = &app;
        let method = e.method.clone();
        let path = e.path.clone();
        let auth = format!("Bearer {token}");
        async move {
            let (status, envelope) = send(app, &method, &path, Some(&auth), Some(&body)).await;
            assert_eq!(status, 200, "{method} {path}");
            assert_envelope(&envelope);
            assert_eq!(envelope["scode"], 0, "{method} {path} {body}: {envelope:#}");
            envelope
        }
    };
    let check = |e: &Example, envelope: &Value| {
        assert_documented_fields(&e.answer, envelope, &e.path);
        if let Some(results) = e.answer["data"]["results"].as_array() {
            assert_eq!(
                envelope["data"]["success"], e.answer["data"]["success"],
                "{}",
                e.path
            );
            assert_eq!(
                envelope["data"]["fail"], e.answer["data"]["fail"],
                "{}",
                e.path
            );
            assert_eq!(
                envelope["data"]["results"].as_array().unwrap().len(),
                results.len()
            );
        }
    };

    // process/create, then process/update, with the deployment's tenant and role ids.
    let e = example("/v1/ticket/process/create");
    let created = run(e, ADMIN_TOKEN, substitute(&e.body, "", "")).await;
    check(e, &created);
    assert_eq!(created["data"]["process_name"], "111");
    let process = created["data"]["process_uuid"].as_str().unwrap().to_owned();
    let e = example("/v1/ticket/process/update");
    let updated = run(e, ADMIN_TOKEN, substitute(&e.body, &process, "")).await;
    check(e, &updated);
    let e = example("/v1/ticket/process/inspect");
    let inspected = run(e, ADMIN_TOKEN, substitute(&e.body, &process, "")).await;
    check(e, &inspected);
    let p = &inspected["data"];
    assert_eq!(p["process_name"], "啊啊啊啊啊啊啊啊啊啊啊");
    assert_eq!(p["description"], "评论-随便的一个评论");
    assert_eq!(p["tenant_name"], "lts");
    let role_names: Vec<&str> = p["process_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["role_name"].as_str().unwrap())
        .collect();
    assert_eq!(role_names, vec!["aaa", "bbb", "ccc"]);
    assert_eq!(p["process_list"][0]["role_uuid"], roles[0]);

    // The tickets the batch examples name, under their documented ids.
    let flow = FlowId::parse(&process).unwrap();
    let storage = example("/v1/ticket/inspect").answer["data"]["storage"].clone();
    open_fixture(
        &app,
        &gate,
        "8e4579de-f90f-4c0c-9a68-b8415a8f282c",
        "反馈",
        flow,
        json!({}),
        false,
    )
    .await;
    open_fixture(
        &app,
        &gate,
        "5a66d45c-202f-4a1d-a25a-39e5eef1137a",
        "哒哒哒哒哒",
        flow,
        json!({}),
        true,
    )
    .await;
    open_fixture(
        &app,
        &gate,
        "e08f29d7-1cbf-41cc-8e5e-37341c719800",
        "测试",
        flow,
        json!({}),
        true,
    )
    .await;
    decide(
        &app,
        &lts_admin,
        "e08f29d7-1cbf-41cc-8e5e-37341c719800",
        false,
    )
    .await;
    open_fixture(
        &app,
        &gate,
        "3f7dfe70-6055-4d48-aa94-c871d3677fc0",
        "aaa",
        flow,
        json!({"storage": storage}),
        true,
    )
    .await;
    open_fixture(
        &app,
        &gate,
        "2b31737f-0f1e-4b87-82cf-4a1a8140eadc",
        "测试",
        flow,
        json!({}),
        true,
    )
    .await;
    open_fixture(
        &app,
        &gate,
        "aa3eee15-bf13-45dd-bdb4-d71c59b8e4ab",
        "归档",
        flow,
        json!({}),
        true,
    )
    .await;
    decide(
        &app,
        &lts_admin,
        "aa3eee15-bf13-45dd-bdb4-d71c59b8e4ab",
        false,
    )
    .await;
    open_fixture(
        &app,
        &gate,
        "ad0bcf7e-ab75-4873-b0a2-6caa294b083f",
        "反馈",
        flow,
        json!({}),
        true,
    )
    .await;
    for who in [&lts_admin, &bbb, &ccc] {
        decide(&app, who, "ad0bcf7e-ab75-4873-b0a2-6caa294b083f", true).await;
    }

    // save and submit, by the applicant.
    let e = example("/v1/ticket/save");
    let saved = run(e, "gate", substitute(&e.body, &process, "")).await;
    check(e, &saved);
    assert_eq!(saved["data"]["ticket_name"], "反馈");
    let e = example("/v1/ticket/submit");
    let submitted = run(e, "gate", substitute(&e.body, &process, "")).await;
    check(e, &submitted);
    assert_eq!(submitted["data"]["ticket_name"], "测试");
    let submitted_id = submitted["data"]["ticket_uuid"]
        .as_str()
        .unwrap()
        .to_owned();

    // list, as written (`{"tenant_uuid":""}`): the newest ticket first, the submitted one.
    let e = example("/v1/ticket/list");
    let listed = run(e, "gate", e.body.clone()).await;
    check(e, &listed);
    assert_eq!(listed["data"]["total_count"], 9);
    let first = &listed["data"]["list"][0];
    assert_eq!(first["ticket_uuid"], submitted_id.as_str());
    assert_eq!(first["ticket_type"], "问题反馈");
    assert_eq!(first["ticket_state"], "待审批");
    assert_eq!(first["is_confirm"], "未确认");
    assert_eq!(first["applyer_name"], "gate");
    assert_eq!(first["processers"][0]["owner_name"], "aaa");
    assert_eq!(first["process_name"], "啊啊啊啊啊啊啊啊啊啊啊");

    // pass, as the step-1 administrator, with the documented config.
    let e = example("/v1/ticket/pass");
    let passed = run(e, "lts", e.body.clone()).await;
    check(e, &passed);
    assert_eq!(
        passed["data"]["results"][0]["data"]["ticket_uuid"],
        e.answer["data"]["results"][0]["data"]["ticket_uuid"]
    );

    // inspect: the document's body names the parameter alone; the id rides in the query
    // string, or stands alone in the body.
    let e = example("/v1/ticket/inspect");
    let pass_id = "3f7dfe70-6055-4d48-aa94-c871d3677fc0";
    for (path, body) in [
        (format!("{}?ticket_uuid={pass_id}", e.path), e.body.clone()),
        (e.path.clone(), e.body.replace("ticket_uuid", pass_id)),
    ] {
        let (status, envelope) = send(&app, "GET", &path, Some("Bearer gate"), Some(&body)).await;
        assert_eq!(status, 200);
        assert_eq!(envelope["scode"], 0, "{path} {body}: {envelope:#}");
        check(e, &envelope);
        let t = &envelope["data"];
        assert_eq!(t["ticket_uuid"], pass_id);
        assert_eq!(t["storage"], storage);
        assert_eq!(
            t["config"],
            json!({"contianer": {"auto_container": {"host_uuid": "host_uuid_aaaaaaaaaaaaaa",
            "labels": [{"must": true, "selector": "bbbbb", "key": "ccccccccccc", "value": ["111111111111", "222222222222"]}]}}})
        );
        assert_eq!(t["processers"][0]["processer_action"], "通过");
        assert_eq!(t["processers"][0]["processer_name"], "lts");
    }

    // The batch examples, each byte for byte, by whoever may act.
    for (path, token, state) in [
        ("/v1/ticket/saved/submit", "gate", "待审批"),
        ("/v1/ticket/overrule", "lts", "已驳回"),
        ("/v1/ticket/overruled/submit", "gate", "待审批"),
        ("/v1/ticket/withdraw", "gate", "已撤回"),
        ("/v1/ticket/confirm", "gate", "已通过"),
        ("/v1/ticket/archive", "gate", "已归档"),
    ] {
        let e = example(path);
        let envelope = run(e, token, e.body.clone()).await;
        check(e, &envelope);
        let id = e.answer["data"]["results"][0]["data"]["ticket_uuid"]
            .as_str()
            .unwrap();
        let id = if path == "/v1/ticket/saved/submit" {
            "8e4579de-f90f-4c0c-9a68-b8415a8f282c"
        } else {
            id
        };
        assert_eq!(
            envelope["data"]["results"][0]["data"]["ticket_uuid"], id,
            "{path}"
        );
        let t = inspect(&app, "gate", id).await;
        assert_eq!(t["ticket_state"], state, "{path}");
        if path == "/v1/ticket/confirm" {
            assert_eq!(t["is_confirm"], "已确认");
        }
    }

    // process/list (the body's placeholder tenant is lts): the default process and the seed's.
    let e = example("/v1/ticket/process/list");
    let listed = run(e, "gate", substitute(&e.body, &process, "")).await;
    check(e, &listed);
    let rows = listed["data"]["list"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|p| p["process_uuid"] == "system"
                && p["process_list"].as_array().unwrap().len() == 2)
    );
    assert!(
        rows.iter()
            .any(|p| p["process_uuid"] == process.as_str() && p["is_in_using"] == true)
    );

    // process/delete (its tenant key written twice) deletes a process no ticket uses.
    let spare = create_process(
        &app,
        ADMIN_TOKEN,
        &lts.to_string(),
        "unused",
        json!([{"tenant_uuid": lts.to_string(), "role_uuid": "user"}]),
    )
    .await;
    let e = example("/v1/ticket/process/delete");
    let deleted = run(e, ADMIN_TOKEN, substitute(&e.body, &process, &spare)).await;
    check(e, &deleted);
    assert_eq!(batch_scodes(&deleted["data"]), vec![0]);
    assert_eq!(
        deleted["data"]["results"][0]["data"]["process_uuid"],
        spare.as_str()
    );

    // delete, last: the confirmed ticket goes.
    let e = example("/v1/ticket/delete");
    let gone = run(e, "gate", e.body.clone()).await;
    check(e, &gone);
    assert_eq!(gone["data"]["results"][0]["data"]["ticket_name"], "反馈");
    let after = call(
        &app,
        "GET",
        "/v1/ticket/inspect?ticket_uuid=ad0bcf7e-ab75-4873-b0a2-6caa294b083f",
        "gate",
        Value::Null,
    )
    .await;
    assert_eq!(after["scode"], 26001);

    // Every documented path ran.
    for path in [
        "/v1/ticket/confirm",
        "/v1/ticket/save",
        "/v1/ticket/submit",
        "/v1/ticket/list",
        "/v1/ticket/inspect",
        "/v1/ticket/saved/submit",
        "/v1/ticket/overruled/submit",
        "/v1/ticket/archive",
        "/v1/ticket/overrule",
        "/v1/ticket/pass",
        "/v1/ticket/withdraw",
        "/v1/ticket/process/create",
        "/v1/ticket/process/delete",
        "/v1/ticket/process/update",
        "/v1/ticket/process/inspect",
        "/v1/ticket/process/list",
        "/v1/ticket/delete",
    ] {
        example(path);
    }
}

#[tokio::test]
async fn a_tenant_process_named_like_a_global_one_hides_nothing_and_a_step_nobody_decides_is_refused()
 {
    let app = spawn_app().await;
    let alpha = tenant(&app, "alpha").await;
    let admin = member(&app, "a_admin", alpha, ROLE_ORG_ADMIN).await;
    member(&app, "a", alpha, ROLE_ORG_USER).await;
    let tenant_uuid = alpha.to_string();
    // A tenant process may carry the default process's name: it is another process.
    let namesake = create_process(
        &app,
        "a_admin",
        &tenant_uuid,
        "默认审批流程",
        json!([{"tenant_uuid": tenant_uuid, "role_uuid": "administrator"}]),
    )
    .await;
    let plain = json!({"ticket_name": "x", "type": "FEEDBACK", "tenant_uuid": tenant_uuid});
    let on_default = ok(&app, "POST", "/v1/ticket/submit", "a", plain).await;
    let on_default = inspect(&app, "a", on_default["ticket_uuid"].as_str().unwrap()).await;
    assert_eq!(on_default["process_uuid"], "system", "{on_default}");
    submit(&app, "a", "named default", "system").await;
    submit(&app, "a", "named namesake", &namesake).await;
    let listed = ok(&app, "GET", "/v1/ticket/process/list", "a", Value::Null).await;
    let listed = listed.to_string();
    assert!(
        listed.contains("\"system\"") && listed.contains(&namesake),
        "{listed}"
    );
    // A ZStack flow collection of the same project may carry a process's name too: neither API
    // shows the other's.
    let (status, answer) = send(
        &app,
        "POST",
        "/zstack/v1/tickets/flow-collections",
        Some("OAuth a_admin"),
        Some(
            &json!({"params": {"projectUuid": alpha.uuid().simple().to_string(),
                "name": "默认审批流程",
                "flows": [{"name": "only", "approverUuid": admin.id().uuid().simple().to_string()}]}})
            .to_string(),
        ),
    )
    .await;
    assert_eq!(status, 200, "{answer}");

    // A step whose role nobody holds (no auditor in alpha) would strand the ticket: refused.
    let nobody = create_process(
        &app,
        "a_admin",
        &tenant_uuid,
        "auditors",
        json!([{"tenant_uuid": tenant_uuid, "role_uuid": "auditor"}]),
    )
    .await;
    let before = list_ids(&app, "a", "").await;
    let body = json!({"ticket_name": "stranded", "type": "FEEDBACK", "process_uuid": nobody});
    let refused = call(&app, "POST", "/v1/ticket/submit", "a", body).await;
    assert_eq!(refused["scode"], 26007, "{refused}");
    let desc = refused["desc"].as_str().unwrap_or_default();
    assert!(
        desc.contains("level 1 of the approval flow has no approver"),
        "{refused}"
    );
    assert_eq!(list_ids(&app, "a", "").await, before, "nothing was stored");
    // Once somebody holds the role, the same submit goes through.
    member(&app, "auditor", alpha, ROLE_ORG_AUDITOR).await;
    submit(&app, "a", "decidable", &nobody).await;
}

#[tokio::test]
async fn a_ticket_type_longer_than_the_core_takes_is_refused_on_every_store() {
    let app = spawn_app().await;
    let alpha = tenant(&app, "alpha").await;
    member(&app, "a", alpha, ROLE_ORG_USER).await;
    member(&app, "a_admin", alpha, ROLE_ORG_ADMIN).await;
    // Letters that do not compress: on PostgreSQL the type's index entry passed the B-tree's
    // limit.
    let mut seed = 7u64;
    let long: String = (0..10_000)
        .map(|_| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            char::from(b'A' + u8::try_from(seed >> 59).unwrap() % 26)
        })
        .collect();
    let body = json!({"ticket_name": "long", "type": long, "tenant_uuid": alpha.to_string()});
    for route in ["/v1/ticket/submit", "/v1/ticket/save"] {
        let refused = call(&app, "POST", route, "a", body.clone()).await;
        assert_eq!(refused["scode"], 26007, "{route}: {refused}");
    }
    let longest =
        json!({"ticket_name": "long", "type": "类".repeat(128), "tenant_uuid": alpha.to_string()});
    ok(&app, "POST", "/v1/ticket/submit", "a", longest).await;
}

/// A form saved again as it was records nothing: no history entry, event or new version, also
/// the first time it is sent back with its `ticket_uuid` (which is the ticket's id, not part of
/// its content); a change is recorded as before.
#[tokio::test]
async fn a_form_saved_again_as_it_was_records_nothing() {
    let Lts { app, process, .. } = lts().await;
    let form = json!({"ticket_name": "draft", "type": "FEEDBACK", "process_uuid": process,
                      "reason": "why"});
    let saved = ok(&app, "POST", "/v1/ticket/save", "alice", form.clone()).await;
    let draft = saved["ticket_uuid"].as_str().unwrap().to_owned();
    let id = TicketId(draft.parse().unwrap());
    let stored = || async {
        let store = app.engine.store();
        let ticket = store.get_ticket(id).await.unwrap().unwrap();
        let history = store.ticket_history(id).await.unwrap();
        (ticket.version, history.len())
    };
    let before = stored().await;
    let mut again = form.clone();
    again["ticket_uuid"] = json!(draft);
    for _ in 0..2 {
        ok(&app, "POST", "/v1/ticket/save", "alice", again.clone()).await;
        assert_eq!(stored().await, before);
    }
    again["reason"] = json!("a better reason");
    ok(&app, "POST", "/v1/ticket/save", "alice", again).await;
    assert_eq!(stored().await, (before.0 + 1, before.1 + 1));
    assert_eq!(
        inspect(&app, "alice", &draft).await["reason"],
        "a better reason"
    );
}
