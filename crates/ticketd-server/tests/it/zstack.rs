//! zstack dialect tests, end to end over HTTP: the REST paths, the message API and the seed.

use crate::app::{ADMIN_TOKEN, TestApp, spawn_app};
use serde_json::{Value, json};
use std::path::PathBuf;
use ticketd_core::credentials::sha512_hex;
use ticketd_core::identity::{ROLE_ORG_ADMIN, ROLE_ORG_USER, SystemRole, UserChange};
use ticketd_core::{Actor, OrgId};

pub(crate) const VM_TYPE: &str = "3b933e9aaf2d49b9a3dcf0c92867790f";
const VM_API: &str = "org.zstack.header.vm.APICreateVmInstanceMsg";
const VOLUME_API: &str = "org.zstack.header.volume.APICreateDataVolumeMsg";

fn hex(actor: &Actor) -> String {
    actor.id().uuid().simple().to_string()
}

fn org_hex(org: OrgId) -> String {
    org.uuid().simple().to_string()
}

/// Percent-encodes a query-string value.
pub(crate) fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Sends a ZStack REST call with `Authorization: OAuth <session>`; an empty or non-JSON body
/// comes back as `Value::Null`.
async fn zs(
    app: &TestApp,
    method: &str,
    path: &str,
    session: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    zs_with(app, method, path, session, body, &[]).await
}

/// [`zs`] with extra headers.
async fn zs_with(
    app: &TestApp,
    method: &str,
    path: &str,
    session: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.client.request(method, app.url(path));
    if let Some(session) = session {
        request = request.header("Authorization", format!("OAuth {session}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Sends a message to `POST /zstack/api/`; returns the status, the reply's class and the reply.
async fn msg(
    app: &TestApp,
    class: &str,
    session: Option<&str>,
    params: Value,
) -> (u16, String, Value) {
    let mut params = params;
    if let Some(session) = session {
        params["session"] = json!({"uuid": session});
    }
    let response = app
        .client
        .post(app.url("/zstack/api/"))
        .json(&json!({ class: params }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let (reply_class, reply) = body.as_object().unwrap().iter().next().unwrap();
    (status, reply_class.clone(), reply.clone())
}

/// A message that must succeed; returns the reply.
async fn ok_msg(app: &TestApp, class: &str, session: &str, params: Value) -> Value {
    let (status, _, reply) = msg(app, class, Some(session), params).await;
    assert_eq!(status, 200);
    assert_eq!(reply["success"], json!(true), "{class}: {reply}");
    reply
}

/// A message that must fail with `code`; returns the error.
async fn failed_msg(app: &TestApp, class: &str, session: &str, params: Value, code: &str) -> Value {
    let (status, _, reply) = msg(app, class, Some(session), params).await;
    assert_eq!(status, 200);
    assert_eq!(reply["success"], json!(false), "{class}: {reply}");
    assert_eq!(reply["error"]["code"], json!(code), "{class}: {reply}");
    reply["error"].clone()
}

/// A REST call that must succeed with 200; returns the body.
async fn ok(app: &TestApp, method: &str, path: &str, session: &str, body: Option<Value>) -> Value {
    let (status, answer) = zs(app, method, path, Some(session), body).await;
    assert_eq!(status, 200, "{method} {path}: {answer}");
    answer
}

/// A REST call that must fail with ZStack's 503 and `code`; returns the error object.
async fn fails(
    app: &TestApp,
    method: &str,
    path: &str,
    session: &str,
    body: Option<Value>,
    code: &str,
) -> Value {
    let (status, answer) = zs(app, method, path, Some(session), body).await;
    assert_eq!(status, 503, "{method} {path}: {answer}");
    let error = &answer["error"];
    assert_eq!(error["code"], json!(code), "{method} {path}: {answer}");
    for key in ["description", "details", "elaboration", "opaque", "cause"] {
        assert!(
            error.get(key).is_some(),
            "ErrorCode field {key} in {answer}"
        );
    }
    error.clone()
}

/// Logs in by account over REST with the SHA-512 of `<username>-password`.
async fn login(app: &TestApp, username: &str) -> String {
    let body = json!({"logInByAccount": {"accountName": username, "password": sha512_hex(&format!("{username}-password"))}});
    let answer = ok_rest_login(app, "/zstack/v1/accounts/login", body).await;
    answer["inventory"]["uuid"].as_str().unwrap().to_owned()
}

async fn ok_rest_login(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, answer) = zs(app, "PUT", path, None, Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

fn is_gson_date(value: &Value) -> bool {
    let Some(text) = value.as_str() else {
        return false;
    };
    chrono::NaiveDateTime::parse_from_str(text, "%b %d, %Y %I:%M:%S %p").is_ok()
}

fn is_hex32(value: &Value) -> bool {
    value.as_str().is_some_and(|s| {
        s.len() == 32
            && s.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

/// A project with an applicant (alice), a first approver (bob), a project admin (carol), and
/// sessions for them and for the system admin.
struct World {
    app: TestApp,
    project: OrgId,
    alice: Actor,
    bob: Actor,
    carol: Actor,
    admin: String,
    alice_s: String,
    bob_s: String,
    carol_s: String,
}

async fn world() -> World {
    let app = spawn_app().await;
    let now = ticketd_http::now();
    let project = app
        .engine
        .create_org(None, "Project A", now)
        .await
        .unwrap()
        .id;
    let alice = app
        .user("alice", SystemRole::User, vec![(project, ROLE_ORG_USER)])
        .await;
    let bob = app
        .user("bob", SystemRole::User, vec![(project, ROLE_ORG_USER)])
        .await;
    let carol = app
        .user("carol", SystemRole::User, vec![(project, ROLE_ORG_ADMIN)])
        .await;
    let admin = login(&app, "admin").await;
    let alice_s = login(&app, "alice").await;
    let bob_s = login(&app, "bob").await;
    let carol_s = login(&app, "carol").await;
    World {
        app,
        project,
        alice,
        bob,
        carol,
        admin,
        alice_s,
        bob_s,
        carol_s,
    }
}

pub(crate) fn vm_request(name: &str) -> Value {
    json!({"requestName": format!("create {name}"), "apiName": VM_API, "executeTimes": 1,
           "apiBody": {"name": name, "instanceOfferingUuid": "6c3bcc4e4ea54b17b2b8ef7e70e1b9d8"}})
}

fn ticket_params(w: &World, name: &str, requests: Value) -> Value {
    json!({
        "name": name,
        "description": format!("{name} for the team"),
        "requests": requests,
        "accountSystemType": "iam2",
        "accountSystemContext": {"projectUuid": org_hex(w.project), "virtualIDUuid": hex(&w.alice)},
    })
}

/// The two-flow default collection: bob decides flow1, carol (project admin) flow2.
async fn two_flow_collection(w: &World) -> Value {
    let body = json!({"params": {
        "projectUuid": org_hex(w.project),
        "name": "two steps",
        "description": "bob then carol",
        "isDefault": true,
        "flows": [
            {"name": "flow1", "approverUuid": hex(&w.bob), "description": "team lead"},
            {"name": "flow2", "approverUuid": hex(&w.carol), "approverTitle": "ProjectAdmin"},
        ],
    }, "systemTags": [], "userTags": []});
    ok(
        &w.app,
        "POST",
        "/zstack/v1/tickets/flow-collections",
        &w.carol_s,
        Some(body),
    )
    .await["inventory"]
        .clone()
}

async fn open_ticket(w: &World, name: &str) -> Value {
    let body = json!({"params": ticket_params(w, name, json!([vm_request(name)])), "systemTags": [], "userTags": []});
    ok(&w.app, "POST", "/zstack/v1/tickets", &w.alice_s, Some(body)).await["inventory"].clone()
}

async fn change(
    w: &World,
    session: &str,
    ticket: &str,
    event: &str,
    comment: &str,
) -> (u16, Value) {
    zs(
        &w.app,
        "PUT",
        &format!("/zstack/v1/tickets/{ticket}/actions"),
        Some(session),
        Some(json!({"changeTicketStatus": {"statusEvent": event, "comment": comment}})),
    )
    .await
}

async fn changed(w: &World, session: &str, ticket: &str, event: &str) -> Value {
    let (status, answer) = change(w, session, ticket, event, &format!("{event} it")).await;
    assert_eq!(status, 200, "{event}: {answer}");
    answer["inventory"].clone()
}

/// A ticket's status, as its applicant alice reads it.
async fn status_of(w: &World, ticket: &str) -> Value {
    let path = format!("/zstack/v1/tickets/{ticket}");
    ok(&w.app, "GET", &path, &w.alice_s, None).await["inventories"][0]["status"].clone()
}

async fn refused(w: &World, session: &str, ticket: &str, event: &str, code: &str) -> Value {
    fails(
        &w.app,
        "PUT",
        &format!("/zstack/v1/tickets/{ticket}/actions"),
        session,
        Some(json!({"changeTicketStatus": {"statusEvent": event}})),
        code,
    )
    .await
}

fn uuids(answer: &Value) -> Vec<String> {
    answer["inventories"]
        .as_array()
        .unwrap_or_else(|| panic!("inventories in {answer}"))
        .iter()
        .map(|i| i["uuid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn logging_in_with_the_sha512_of_the_password_gives_a_32_hex_session_and_a_wrong_password_gives_id_1000()
 {
    let w = world().await;
    let app = &w.app;
    let password = sha512_hex("alice-password");
    let answer = ok_rest_login(
        app,
        "/zstack/v1/accounts/login",
        json!({"logInByAccount": {"accountName": "alice", "password": password}}),
    )
    .await;
    let session = &answer["inventory"];
    assert!(is_hex32(&session["uuid"]), "{answer}");
    assert_eq!(session["accountUuid"], json!(hex(&w.alice)));
    assert_eq!(session["userUuid"], json!(hex(&w.alice)));
    assert!(is_gson_date(&session["expiredDate"]), "{answer}");
    assert!(is_gson_date(&session["createDate"]), "{answer}");
    let token = session["uuid"].as_str().unwrap();
    ok(app, "GET", "/zstack/v1/tickets", token, None).await;

    // The password itself, or the hash of another one, is refused.
    for wrong in ["alice-password".to_owned(), sha512_hex("nope")] {
        let (status, answer) = zs(
            app,
            "PUT",
            "/zstack/v1/accounts/login",
            None,
            Some(json!({"logInByAccount": {"accountName": "alice", "password": wrong}})),
        )
        .await;
        assert_eq!(status, 503);
        assert_eq!(answer["error"]["code"], json!("ID.1000"));
    }

    // The IAM2 virtual-ID login; its session also works hyphenated.
    let answer = ok_rest_login(
        app,
        "/zstack/v1/iam2/virtual-ids/login",
        json!({"loginIAM2VirtualID": {"name": "alice", "password": password}}),
    )
    .await;
    let iam2 = answer["inventory"]["uuid"].as_str().unwrap().to_owned();
    let hyphenated = uuid::Uuid::parse_str(&iam2)
        .unwrap()
        .hyphenated()
        .to_string();
    ok(app, "GET", "/zstack/v1/tickets", &hyphenated, None).await;
    let valid = ok(
        app,
        "GET",
        &format!("/zstack/v1/accounts/sessions/{iam2}/valid"),
        &iam2,
        None,
    )
    .await;
    assert_eq!(valid, json!({"valid": true}));
    let (status, body) = zs(
        app,
        "DELETE",
        &format!("/zstack/v1/accounts/sessions/{iam2}"),
        None,
        None,
    )
    .await;
    assert_eq!((status, body), (200, Value::Null));
    fails(app, "GET", "/zstack/v1/tickets", &iam2, None, "ID.1001").await;
    // An API token used as a session is no session: a logout, which needs nothing but the
    // session's id, leaves it valid (until 2026-12-07 it revoked it for every dialect).
    let (status, _) = zs(
        app,
        "DELETE",
        &format!("/zstack/v1/accounts/sessions/{ADMIN_TOKEN}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, reply) = msg(
        app,
        "org.zstack.header.identity.APILogOutMsg",
        None,
        json!({"sessionUuid": ADMIN_TOKEN}),
    )
    .await;
    assert_eq!((status, reply["success"].clone()), (200, json!(true)));
    ok(app, "GET", "/zstack/v1/tickets", ADMIN_TOKEN, None).await;
    let valid = ok(
        app,
        "GET",
        &format!("/zstack/v1/accounts/sessions/{iam2}/valid"),
        token,
        None,
    )
    .await;
    assert_eq!(valid, json!({"valid": false}));

    // The same through the message API.
    let (status, class, reply) = msg(
        app,
        "org.zstack.header.identity.APILogInByAccountMsg",
        None,
        json!({"accountName": "bob", "password": sha512_hex("bob-password")}),
    )
    .await;
    assert_eq!(
        (status, class.as_str()),
        (200, "org.zstack.header.identity.APILogInReply")
    );
    assert_eq!(reply["success"], json!(true));
    let bob = reply["inventory"]["uuid"].as_str().unwrap().to_owned();
    assert!(is_hex32(&reply["inventory"]["uuid"]));
    let (_, class, reply) = msg(
        app,
        "org.zstack.iam2.api.APILoginIAM2VirtualIDMsg",
        None,
        json!({"name": "bob", "password": sha512_hex("wrong")}),
    )
    .await;
    assert_eq!(class, "org.zstack.iam2.api.APILoginIAM2VirtualIDReply");
    assert_eq!(reply["success"], json!(false));
    assert_eq!(reply["error"]["code"], json!("ID.1000"));
    let reply = ok_msg(
        app,
        "org.zstack.header.identity.APIValidateSessionMsg",
        &bob,
        json!({"sessionUuid": bob}),
    )
    .await;
    assert_eq!(reply["validSession"], json!(true));
    ok_msg(
        app,
        "org.zstack.header.identity.APILogOutMsg",
        &bob,
        json!({"sessionUuid": bob}),
    )
    .await;
    failed_msg(
        app,
        "org.zstack.ticket.api.APIQueryTicketMsg",
        &bob,
        json!({}),
        "ID.1001",
    )
    .await;
}

#[tokio::test]
async fn calls_without_an_oauth_header_get_400_and_bad_sessions_get_id_1001() {
    let w = world().await;
    let app = &w.app;
    let (status, answer) = zs(app, "GET", "/zstack/v1/tickets", None, None).await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["error"]["details"],
        json!("missing header 'Authorization'")
    );
    let response = app
        .client
        .get(app.url("/zstack/v1/tickets"))
        .header(
            "Authorization",
            format!("Token {}", crate::app::ADMIN_TOKEN),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer["error"]["details"],
        json!("Authorization type must be 'OAuth'")
    );
    fails(
        app,
        "GET",
        "/zstack/v1/tickets",
        "0123456789abcdef0123456789abcdef",
        None,
        "ID.1001",
    )
    .await;
    fails(app, "GET", "/zstack/v1/tickets", "", None, "ID.1001").await;
    let (status, _, reply) = msg(
        app,
        "org.zstack.ticket.api.APIQueryTicketMsg",
        None,
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(reply["error"]["code"], json!("ID.1001"));
    failed_msg(
        app,
        "org.zstack.ticket.api.APIQueryTicketMsg",
        "not-a-session",
        json!({}),
        "ID.1001",
    )
    .await;
}

#[tokio::test]
async fn a_two_flow_collection_takes_a_ticket_through_pending_intermediate_approved_and_final_approved()
 {
    let w = world().await;
    let app = &w.app;
    let collection = two_flow_collection(&w).await;
    assert!(is_hex32(&collection["uuid"]));
    assert_eq!(collection["state"], json!("Enabled"));
    assert_eq!(collection["status"], json!("Valid"));
    assert_eq!(collection["isDefault"], json!(true));
    assert_eq!(collection["projectUuid"], json!(org_hex(w.project)));
    assert!(is_gson_date(&collection["createDate"]));
    let flows = collection["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 2);
    let (flow1, flow2) = (flows[0]["uuid"].clone(), flows[1]["uuid"].clone());
    assert!(is_hex32(&flow1) && is_hex32(&flow2));
    assert_eq!(flows[0]["parentFlowUuid"], Value::Null);
    assert_eq!(flows[1]["parentFlowUuid"], flow1);
    assert_eq!(flows[0]["approverUuid"], json!(hex(&w.bob)));
    assert_eq!(flows[0]["description"], json!("team lead"));
    assert_eq!(flows[1]["flowContextType"], json!("IAM2"));
    let context: Value = serde_json::from_str(flows[1]["flowContext"].as_str().unwrap()).unwrap();
    assert_eq!(
        context,
        json!({"approverUuid": hex(&w.carol), "approverTitle": "ProjectAdmin"})
    );
    assert_eq!(flows[1]["collectionUuid"], collection["uuid"]);
    assert_eq!(flows[1]["valid"], json!(true));
    assert!(is_gson_date(&flows[1]["lastOpDate"]));

    let ticket = open_ticket(&w, "vm one").await;
    let id = ticket["uuid"].as_str().unwrap().to_owned();
    assert!(is_hex32(&ticket["uuid"]));
    assert_eq!(ticket["status"], json!("Pending"));
    assert_eq!(ticket["name"], json!("vm one"));
    assert_eq!(ticket["description"], json!("vm one for the team"));
    assert_eq!(ticket["currentFlowUuid"], flow1);
    assert_eq!(ticket["flowCollectionUuid"], collection["uuid"]);
    assert_eq!(ticket["ticketTypeUuid"], json!(VM_TYPE));
    assert_eq!(ticket["accountSystemType"], json!("iam2"));
    assert_eq!(
        ticket["accountSystemContext"],
        json!({"projectUuid": org_hex(w.project), "virtualIDUuid": hex(&w.alice)})
    );
    assert_eq!(ticket["request"], json!([vm_request("vm one")]));
    assert!(is_gson_date(&ticket["createDate"]) && is_gson_date(&ticket["lastOpDate"]));

    // Only the current flow's approver decides.
    let error = refused(&w, &w.carol_s, &id, "approve", "ID.1002").await;
    assert_eq!(
        error["details"],
        json!(format!(
            "operation denied. the operator needs to be done by account/virtual ID[uuid:{}]",
            hex(&w.bob)
        ))
    );
    refused(&w, &w.alice_s, &id, "approve", "ID.1002").await;
    let ticket = changed(&w, &w.bob_s, &id, "approve").await;
    assert_eq!(ticket["status"], json!("IntermediateApproved"));
    assert_eq!(ticket["currentFlowUuid"], flow2);
    refused(&w, &w.bob_s, &id, "approve", "ID.1002").await;
    let ticket = changed(&w, &w.carol_s, &id, "approve").await;
    assert_eq!(ticket["status"], json!("FinalApproved"));
    let error = refused(&w, &w.carol_s, &id, "approve", "SYS.1006").await;
    assert_eq!(
        error["details"],
        json!(
            "operation denied. the ticket is in status of FinalApproved, cannot do the operation[approve]"
        )
    );

    // Its applicant confirms it through TopHC: no event of ZStack's, so no history row (it
    // showed as FinalApproved to FinalApproved).
    let ticket_id = ticketd_core::TicketId(uuid::Uuid::parse_str(&id).unwrap());
    app.engine
        .act(
            &w.alice,
            ticket_id,
            ticketd_core::engine::TicketCommand::Confirm,
            ticketd_http::now(),
        )
        .await
        .unwrap();
    // One history row per transition, with the flow concerned.
    let history = ok(
        app,
        "GET",
        &format!("/zstack/v1/tickets/histories?q=ticketUuid={id}&sort=%2Bsequence"),
        &w.alice_s,
        None,
    )
    .await;
    let rows = history["inventories"].as_array().unwrap();
    let steps: Vec<(Value, Value, Value)> = rows
        .iter()
        .map(|r| {
            (
                r["fromStatus"].clone(),
                r["toStatus"].clone(),
                r["flowName"].clone(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            (Value::Null, json!("Pending"), json!("flow1")),
            (
                json!("Pending"),
                json!("IntermediateApproved"),
                json!("flow1")
            ),
            (
                json!("IntermediateApproved"),
                json!("FinalApproved"),
                json!("flow2")
            ),
        ]
    );
    assert_eq!(rows[1]["operatorUuid"], json!(hex(&w.bob)));
    assert_eq!(rows[1]["comment"], json!("approve it"));
    assert_eq!(rows[2]["operatorUuid"], json!(hex(&w.carol)));
    assert_eq!(rows[2]["sequence"], json!(3));
    assert_eq!(rows[2]["operationContextType"], json!("StatusChanged"));
    assert_eq!(rows[2]["operationContext"], Value::Null);
    assert!(is_hex32(&rows[0]["uuid"]) && is_gson_date(&rows[0]["createDate"]));
    let one = ok(
        app,
        "GET",
        &format!(
            "/zstack/v1/tickets/histories/{}",
            rows[1]["uuid"].as_str().unwrap()
        ),
        &w.bob_s,
        None,
    )
    .await;
    assert_eq!(
        uuids(&one),
        vec![rows[1]["uuid"].as_str().unwrap().to_owned()]
    );

    // The ticket by its id, hyphenated too, and through the JumpServer list.
    let hyphenated = uuid::Uuid::parse_str(&id).unwrap().hyphenated().to_string();
    let found = ok(
        app,
        "GET",
        &format!("/zstack/v1/tickets/{hyphenated}"),
        &w.alice_s,
        None,
    )
    .await;
    assert_eq!(uuids(&found), vec![id.clone()]);
    assert_eq!(found["inventories"][0]["status"], json!("FinalApproved"));
    let (status, listed) = app
        .call("GET", "/api/v1/tickets/tickets/", "alice", None)
        .await;
    assert_eq!(status, 200);
    let rows = listed
        .as_array()
        .or_else(|| listed["results"].as_array())
        .unwrap();
    let mine = rows.iter().find(|t| t["id"] == json!(hyphenated)).unwrap();
    assert_eq!(mine["state"]["value"], json!("approved"));
    assert_eq!(mine["title"], json!("vm one"));
}

/// Flows added to one collection at the same moment are all kept: each addition was
/// computed from the chain it read and written over whatever was stored by then, so most were
/// answered 200 and lost.
#[tokio::test]
async fn flows_added_at_once_are_all_kept() {
    let w = world().await;
    let collection = two_flow_collection(&w).await;
    let uuid = collection["uuid"].as_str().unwrap().to_owned();
    let first = collection["flows"][0]["uuid"].as_str().unwrap().to_owned();
    // Sent at once: each addition's status, in order.
    let add_at_once = |names: Vec<String>, chosen: Option<&str>| {
        names
            .into_iter()
            .map(|name| {
                let mut params = json!({"collectionUuid": uuid, "name": name,
                    "approverUuid": hex(&w.bob), "parentFlowUuid": first});
                if let Some(chosen) = chosen {
                    params["resourceUuid"] = json!(chosen);
                }
                let request = w
                    .app
                    .client
                    .post(w.app.url("/zstack/v1/tickets/flow"))
                    .header("Authorization", format!("OAuth {}", w.carol_s))
                    .json(&json!({ "params": params }));
                tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
            })
            .collect::<Vec<_>>()
    };
    let adds = add_at_once((0..6).map(|i| format!("added {i}")).collect(), None);
    for add in adds {
        assert_eq!(add.await.unwrap(), 200);
    }
    let flows = ok(
        &w.app,
        "GET",
        &format!("/zstack/v1/tickets/flow?q=collectionUuid={uuid}"),
        &w.carol_s,
        None,
    )
    .await;
    let mut names: Vec<&str> = flows["inventories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        vec![
            "added 0", "added 1", "added 2", "added 3", "added 4", "added 5", "flow1", "flow2"
        ]
    );
    // With one client-chosen uuid, one is added and the others are refused (all were kept,
    // several flows with one uuid).
    let chosen = "0123456789abcdef0123456789abcdef";
    let adds = add_at_once(
        (0..4).map(|i| format!("chosen {i}")).collect(),
        Some(chosen),
    );
    let mut added = 0;
    for add in adds {
        if add.await.unwrap() == 200 {
            added += 1;
        }
    }
    assert_eq!(added, 1);
    let holders = ok(
        &w.app,
        "GET",
        &format!("/zstack/v1/tickets/flow?q=uuid={chosen}"),
        &w.carol_s,
        None,
    )
    .await;
    assert_eq!(
        holders["inventories"].as_array().unwrap().len(),
        1,
        "{holders}"
    );
}

#[tokio::test]
async fn rejecting_ends_the_ticket_and_its_owner_reopens_it_at_the_first_flow() {
    let w = world().await;
    let collection = two_flow_collection(&w).await;
    let ticket = open_ticket(&w, "vm two").await;
    let id = ticket["uuid"].as_str().unwrap();
    let rejected = changed(&w, &w.bob_s, id, "reject").await;
    assert_eq!(rejected["status"], json!("Rejected"));
    refused(&w, &w.bob_s, id, "reject", "SYS.1006").await;
    let error = refused(&w, &w.bob_s, id, "reopen", "ID.1002").await;
    assert_eq!(
        error["details"],
        json!(format!(
            "the virtual ID[uuid:{}] is not the owner of the ticket[uuid:{id}, name:vm two]",
            hex(&w.bob)
        ))
    );
    // A disabled collection takes no reopened ticket, as it takes no new one (it did).
    let uuid = collection["uuid"].as_str().unwrap();
    let state = |event: &str| json!({"changeTicketFlowCollectionState": {"stateEvent": event}});
    let action = format!("/zstack/v1/tickets/flow-collections/{uuid}/actions");
    ok(&w.app, "PUT", &action, &w.carol_s, Some(state("disable"))).await;
    // Who may reopen it is told first, as on an enabled collection.
    refused(&w, &w.bob_s, id, "reopen", "ID.1002").await;
    let error = refused(&w, &w.alice_s, id, "reopen", "SYS.1006").await;
    assert_eq!(
        error["details"],
        json!(format!(
            "ticket flow collection[uuid:{uuid}] is disable, can not be used"
        ))
    );
    ok(&w.app, "PUT", &action, &w.carol_s, Some(state("enable"))).await;
    // The first flow renamed before the reopening: the first round's rows keep its old name.
    ok(
        &w.app,
        "PUT",
        &action,
        &w.carol_s,
        Some(json!({"updateIAM2TicketFlowCollection": {"flows": [
            {"name": "renamed", "approverUuid": hex(&w.bob)},
            {"name": "flow2", "approverUuid": hex(&w.carol)},
        ]}})),
    )
    .await;
    let reopened = changed(&w, &w.alice_s, id, "reopen").await;
    assert_eq!(reopened["status"], json!("Pending"));
    assert_eq!(reopened["currentFlowUuid"], collection["flows"][0]["uuid"]);
    refused(&w, &w.alice_s, id, "open", "SYS.1006").await;
    let history = ok(
        &w.app,
        "GET",
        &format!("/zstack/v1/tickets/histories?q=ticketUuid={id}"),
        &w.alice_s,
        None,
    )
    .await;
    let moves: Vec<(Value, Value)> = history["inventories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["fromStatus"].clone(), r["toStatus"].clone()))
        .collect();
    assert_eq!(
        moves,
        vec![
            (Value::Null, json!("Pending")),
            (json!("Pending"), json!("Rejected")),
            (json!("Rejected"), json!("Pending")),
        ]
    );
    let flow_names: Vec<&Value> = history["inventories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["flowName"])
        .collect();
    assert_eq!(
        flow_names,
        [&json!("flow1"), &json!("flow1"), &json!("renamed")]
    );
}

/// An owner who has left the project reopens nothing there, as they may create nothing there.
#[tokio::test]
async fn an_owner_who_left_the_project_does_not_reopen_a_ticket_there() {
    let w = world().await;
    two_flow_collection(&w).await;
    let ticket = open_ticket(&w, "vm left").await;
    let id = ticket["uuid"].as_str().unwrap();
    changed(&w, &w.bob_s, id, "reject").await;
    let admin = w.app.admin().await;
    w.app
        .engine
        .remove_member(&admin, w.project, w.alice.id(), ticketd_http::now())
        .await
        .unwrap();
    let error = refused(&w, &w.alice_s, id, "reopen", "ID.1002").await;
    assert_eq!(
        error["details"],
        json!(format!(
            "the virtual ID[uuid:{}] is not a member of project[uuid:{}]",
            hex(&w.alice),
            org_hex(w.project)
        )),
    );
    assert_eq!(status_of(&w, id).await, json!("Rejected"));
}

/// An archived ticket is filed away: neither updated nor reopened by its id (both changed it and
/// took it out of the archive queries, where nothing else finds it).
#[tokio::test]
async fn an_archived_ticket_is_neither_updated_nor_reopened() {
    let w = world().await;
    two_flow_collection(&w).await;
    let ticket = open_ticket(&w, "filed away").await;
    let id = ticket["uuid"].as_str().unwrap();
    changed(&w, &w.alice_s, id, "cancel").await;
    let path = format!("/zstack/v1/tickets/{id}/actions");
    ok(
        &w.app,
        "PUT",
        &path,
        &w.alice_s,
        Some(json!({"archiveTicket": {}})),
    )
    .await;
    let error = refused(&w, &w.alice_s, id, "reopen", "SYS.1006").await;
    assert!(error.to_string().contains("archived"), "{error}");
    let update = json!({"updateTicketRequest": {"requests": [vm_request("bigger")]}});
    fails(&w.app, "PUT", &path, &w.alice_s, Some(update), "SYS.1006").await;
    let archives = ok(
        &w.app,
        "GET",
        "/zstack/v1/tickets/archives",
        &w.alice_s,
        None,
    )
    .await;
    assert_eq!(uuids(&archives), vec![id.to_owned()]);
    assert_eq!(archives["inventories"][0]["status"], json!("Cancelled"));
}

#[tokio::test]
async fn a_cancelled_ticket_takes_new_requests_and_reopens() {
    let w = world().await;
    two_flow_collection(&w).await;
    let ticket = open_ticket(&w, "vm three").await;
    let id = ticket["uuid"].as_str().unwrap();
    let update = |session: String, requests: Value| {
        let app = &w.app;
        let path = format!("/zstack/v1/tickets/{id}/actions");
        async move {
            zs(
                app,
                "PUT",
                &path,
                Some(&session),
                Some(json!({"updateTicketRequest": {"requests": requests, "description": "bigger vm"}})),
            )
            .await
        }
    };
    let (status, answer) = update(w.alice_s.clone(), json!([vm_request("bigger")])).await;
    assert_eq!(status, 503);
    assert_eq!(answer["error"]["code"], json!("SYS.1006"));
    assert_eq!(
        answer["error"]["details"],
        json!(format!(
            "the ticket[uuid:{id}] can only be updated after being cancelled, current status is Pending"
        ))
    );
    refused(&w, &w.bob_s, id, "cancel", "ID.1002").await;
    let cancelled = changed(&w, &w.alice_s, id, "cancel").await;
    assert_eq!(cancelled["status"], json!("Cancelled"));
    let (status, answer) = update(w.bob_s.clone(), json!([vm_request("bigger")])).await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (503, json!("ID.1002"))
    );
    let (status, answer) = update(w.alice_s.clone(), json!([{"apiName": VOLUME_API}])).await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (503, json!("SYS.1007"))
    );
    let (status, answer) = update(w.alice_s.clone(), json!([])).await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (503, json!("SYS.1007"))
    );
    let (status, answer) = update(w.alice_s.clone(), json!([vm_request("bigger")])).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["inventory"]["status"], json!("Cancelled"));
    assert_eq!(
        answer["inventory"]["request"],
        json!([vm_request("bigger")])
    );
    assert_eq!(answer["inventory"]["description"], json!("bigger vm"));
    let reopened = changed(&w, &w.alice_s, id, "reopen").await;
    assert_eq!(reopened["status"], json!("Pending"));
    assert_eq!(reopened["request"], json!([vm_request("bigger")]));
    let approved = changed(&w, &w.bob_s, id, "approve").await;
    assert_eq!(approved["status"], json!("IntermediateApproved"));
    let cancelled = changed(&w, &w.alice_s, id, "cancel").await;
    assert_eq!(cancelled["status"], json!("Cancelled"));
}

#[tokio::test]
async fn archived_and_deleted_tickets_leave_the_ticket_queries() {
    let w = world().await;
    let app = &w.app;
    two_flow_collection(&w).await;
    let first = open_ticket(&w, "to archive").await;
    let id = first["uuid"].as_str().unwrap().to_owned();
    fails(
        app,
        "DELETE",
        &format!("/zstack/v1/tickets/{id}"),
        &w.alice_s,
        None,
        "SYS.1006",
    )
    .await;
    fails(
        app,
        "PUT",
        &format!("/zstack/v1/tickets/{id}/actions"),
        &w.alice_s,
        Some(json!({"archiveTicket": {}})),
        "SYS.1006",
    )
    .await;
    changed(&w, &w.bob_s, &id, "approve").await;
    changed(&w, &w.carol_s, &id, "approve").await;
    let archived = ok(
        app,
        "PUT",
        &format!("/zstack/v1/tickets/{id}/actions"),
        &w.alice_s,
        Some(json!({"archiveTicket": {}})),
    )
    .await;
    assert_eq!(archived["inventory"]["status"], json!("FinalApproved"));
    assert!(archived["inventory"].get("ticketTypeUuid").is_none());
    let listed = ok(app, "GET", "/zstack/v1/tickets", &w.alice_s, None).await;
    assert!(!uuids(&listed).contains(&id));
    let archives = ok(app, "GET", "/zstack/v1/tickets/archives", &w.alice_s, None).await;
    assert_eq!(uuids(&archives), vec![id.clone()]);
    let one = ok(
        app,
        "GET",
        &format!("/zstack/v1/tickets/archives/{id}"),
        &w.carol_s,
        None,
    )
    .await;
    assert_eq!(uuids(&one), vec![id.clone()]);
    let history = ok(
        app,
        "GET",
        &format!("/zstack/v1/tickets/histories?q=ticketUuid={id}"),
        &w.alice_s,
        None,
    )
    .await;
    assert_eq!(history["inventories"], json!([]));
    let archived_history = ok(
        app,
        "GET",
        &format!("/zstack/v1/tickets/histories/archives?q=ticketUuid={id}&replyWithCount=true"),
        &w.alice_s,
        None,
    )
    .await;
    assert_eq!(archived_history["total"], json!(4));
    let rows = archived_history["inventories"].as_array().unwrap();
    assert_eq!(rows[0]["historyUuid"], rows[0]["uuid"]);
    assert_eq!(rows[0]["accountUuid"], json!(hex(&w.alice)));
    assert_eq!(rows[3]["operationContextType"], json!("Archived"));
    let first_row = rows[0]["uuid"].as_str().unwrap();
    let by_uuid = ok(
        app,
        "GET",
        &format!("/zstack/v1/tickets/histories/archives/{first_row}"),
        &w.alice_s,
        None,
    )
    .await;
    assert_eq!(uuids(&by_uuid), vec![first_row.to_owned()]);

    // Deleting: a cancelled ticket goes away, once.
    let second = open_ticket(&w, "to delete").await;
    let other = second["uuid"].as_str().unwrap().to_owned();
    changed(&w, &w.alice_s, &other, "cancel").await;
    fails(
        app,
        "DELETE",
        &format!("/zstack/v1/tickets/{other}?deleteMode=Sometimes"),
        &w.alice_s,
        None,
        "SYS.1007",
    )
    .await;
    // bob, an approver, reads the ticket but does not own it.
    fails(
        app,
        "DELETE",
        &format!("/zstack/v1/tickets/{other}"),
        &w.bob_s,
        None,
        "ID.1002",
    )
    .await;
    let (status, body) = zs(
        app,
        "DELETE",
        &format!("/zstack/v1/tickets/{other}?deleteMode=Permissive"),
        Some(&w.alice_s),
        None,
    )
    .await;
    assert_eq!((status, body), (200, Value::Null));
    let gone = ok(
        app,
        "GET",
        &format!("/zstack/v1/tickets/{other}"),
        &w.alice_s,
        None,
    )
    .await;
    assert_eq!(gone, json!({"inventories": []}));
    fails(
        app,
        "DELETE",
        &format!("/zstack/v1/tickets/{other}"),
        &w.alice_s,
        None,
        "SYS.1003",
    )
    .await;
    refused(&w, &w.alice_s, &other, "reopen", "SYS.1003").await;
}

/// Finds the curl command of the seed document.
fn seed_curl() -> String {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/seeds"
    ));
    let path = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("003_"))
        .unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .find(|l| l.trim_start().starts_with("curl -X PUT"))
        .unwrap()
        .trim()
        .to_owned()
}

#[tokio::test]
async fn the_seed_request_runs_as_written_with_its_lowercase_wrapper_key() {
    let w = world().await;
    let app = &w.app;
    let created = ok(
        app,
        "POST",
        "/zstack/v1/tickets/flow-collections",
        &w.admin,
        Some(
            json!({"params": {"projectUuid": org_hex(w.project), "name": "seeded", "flows": [
                {"name": "only", "approverUuid": hex(&app.admin().await)}
            ]}}),
        ),
    )
    .await;
    let uuid = created["inventory"]["uuid"].as_str().unwrap().to_owned();
    let command = seed_curl()
        .replace("{host}", &app.addr.to_string())
        .replace("{uuid}", &uuid)
        .replace("{sessionUuid}", &w.admin)
        .replacen("curl ", "curl -s -w '\\n%{http_code}' ", 1);
    assert!(
        command.contains("\"updateiam2ticketflowcollection\""),
        "{command}"
    );
    // The server runs on this test's runtime: wait for curl off it.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(&command)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let (body, status) = stdout.rsplit_once('\n').unwrap();
    assert_eq!(status, "200", "{stdout}");
    let answer: Value = serde_json::from_str(body).unwrap();
    let inventory = &answer["inventory"];
    assert_eq!(inventory["uuid"], json!(uuid));
    assert_eq!(inventory["name"], json!("<name>"));
    assert_eq!(inventory["description"], json!("<description>"));
    assert_eq!(inventory["state"], json!("Enabled"));
    assert_eq!(inventory["status"], json!("Valid"));
    assert_eq!(inventory["isDefault"], json!(true));
    // A bare string in `flows` names the flow at its position; its approver is kept.
    let flows = inventory["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0]["name"], json!("<flows>"));
    assert_eq!(flows[0]["uuid"], created["inventory"]["flows"][0]["uuid"]);
    assert_eq!(flows[0]["approverUuid"], json!(hex(&app.admin().await)));

    // The SDK's camelCase key does the same; the dev guide's example body replaces the chain.
    let answer = ok(
        app,
        "PUT",
        &format!("/zstack/v1/tickets/flow-collections/{uuid}/actions"),
        &w.admin,
        Some(json!({"updateIAM2TicketFlowCollection": {"flows": [
            {"name": "flow1", "approverUuid": hex(&w.bob)},
            {"name": "flow2", "approverUuid": hex(&w.carol)},
        ]}})),
    )
    .await;
    let names: Vec<Value> = answer["inventory"]["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("flow1"), json!("flow2")]);
    assert_eq!(answer["inventory"]["name"], json!("<name>"));
}

#[tokio::test]
async fn queries_support_every_operator_paging_counting_sorting_and_field_selection() {
    let w = world().await;
    let app = &w.app;
    two_flow_collection(&w).await;
    let alpha = open_ticket(&w, "alpha vm").await["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let beta = open_ticket(&w, "beta vm").await["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let gamma = open_ticket(&w, "gamma").await["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    changed(&w, &w.bob_s, &beta, "approve").await;
    let alice_s = w.alice_s.as_str();
    let q = |query: &str| {
        let path = format!("/zstack/v1/tickets?{query}");
        async move { uuids(&ok(app, "GET", &path, alice_s, None).await) }
    };
    assert_eq!(
        q(&format!("q=name={}", enc("alpha vm"))).await,
        vec![alpha.clone()]
    );
    assert_eq!(
        q(&format!("q=name{}", enc("!=alpha vm"))).await,
        [beta.clone(), gamma.clone()]
    );
    assert_eq!(
        q(&format!("q=name{}", enc("~=%VM"))).await,
        [alpha.clone(), beta.clone()]
    );
    assert_eq!(
        q(&format!("q=name{}", enc("!~=%vm"))).await,
        vec![gamma.clone()]
    );
    assert_eq!(
        q(&format!("q=uuid{}", enc(&format!("?={alpha},{gamma}")))).await,
        [alpha.clone(), gamma.clone()]
    );
    assert_eq!(
        q(&format!("q=uuid{}", enc(&format!("!?={alpha},{gamma}")))).await,
        vec![beta.clone()]
    );
    assert_eq!(q("q=status=IntermediateApproved").await, vec![beta.clone()]);
    assert_eq!(
        q("q=status%3EIntermediateApproved").await,
        [alpha.clone(), gamma.clone()]
    );
    assert_eq!(q("q=name%3Cbeta").await, vec![alpha.clone()]);
    assert_eq!(
        q("q=name%3C%3Dbeta vm").await,
        [alpha.clone(), beta.clone()]
    );
    assert_eq!(
        q("q=name%3E%3Dbeta vm").await,
        [beta.clone(), gamma.clone()]
    );
    assert_eq!(
        q(&format!("q={}", enc("currentFlowUuid not null")))
            .await
            .len(),
        3
    );
    assert_eq!(
        q(&format!("q={}", enc("ticketTypeUuid is null")))
            .await
            .len(),
        0
    );
    assert_eq!(
        q(&format!(
            "q=accountSystemContext.projectUuid={}&q=name{}",
            org_hex(w.project),
            enc("~=%a%")
        ))
        .await,
        [alpha.clone(), beta.clone(), gamma.clone()]
    );
    assert_eq!(
        q(&format!("q=createDate{}", enc(">=2000-01-01 00:00:00")))
            .await
            .len(),
        3
    );
    assert_eq!(
        q(&format!("q=createDate{}", enc("<2000-01-01")))
            .await
            .len(),
        0
    );
    assert_eq!(
        q(&format!("q=lastOpDate{}", enc(">1999-12-31")))
            .await
            .len(),
        3
    );
    assert_eq!(
        q("sort=-name").await,
        [gamma.clone(), beta.clone(), alpha.clone()]
    );
    assert_eq!(q("sort=%2Bname&start=1&limit=1").await, vec![beta.clone()]);
    assert_eq!(q("sort=name&limit=2").await, [alpha.clone(), beta.clone()]);
    let counted = ok(
        app,
        "GET",
        "/zstack/v1/tickets?count=true&q=status=Pending",
        &w.alice_s,
        None,
    )
    .await;
    assert_eq!(counted, json!({"total": 2}));
    let page = ok(
        app,
        "GET",
        "/zstack/v1/tickets?replyWithCount=true&limit=1&sort=name&fields=uuid,name",
        &w.alice_s,
        None,
    )
    .await;
    assert_eq!(
        page,
        json!({"inventories": [{"uuid": alpha, "name": "alpha vm"}], "total": 3})
    );

    // Malformed queries: the REST layer's 400s and the query's SYS.1007.
    for bad in ["limit=ten", "start=x", "q=name", "fields=%2C"] {
        let (status, answer) = zs(
            app,
            "GET",
            &format!("/zstack/v1/tickets?{bad}"),
            Some(&w.alice_s),
            None,
        )
        .await;
        assert_eq!(status, 400, "{bad}: {answer}");
        assert_eq!(answer["error"]["code"], json!("SYS.1007"));
    }
    fails(
        app,
        "GET",
        "/zstack/v1/tickets?q=colour=red",
        &w.alice_s,
        None,
        "SYS.1007",
    )
    .await;
    fails(
        app,
        "GET",
        "/zstack/v1/tickets?sort=colour",
        &w.alice_s,
        None,
        "SYS.1007",
    )
    .await;
    fails(
        app,
        "GET",
        "/zstack/v1/tickets?limit=-1",
        &w.alice_s,
        None,
        "SYS.1007",
    )
    .await;

    // The same language through the message API.
    let reply = ok_msg(
        app,
        "org.zstack.ticket.api.APIQueryTicketMsg",
        &w.alice_s,
        json!({"conditions": [{"name": "name", "op": "like", "value": "%vm"}, {"name": "status", "op": "!=", "value": "Pending"}],
               "replyWithCount": true, "sortBy": "name", "sortDirection": "desc"}),
    )
    .await;
    assert_eq!(uuids(&reply), vec![beta.clone()]);
    assert_eq!(reply["total"], json!(1));
    let reply = ok_msg(
        app,
        "org.zstack.ticket.api.APIQueryTicketMsg",
        &w.alice_s,
        json!({"conditions": [{"name": "uuid", "op": "in", "value": format!("{alpha},{gamma}")}], "count": true}),
    )
    .await;
    assert_eq!(reply["total"], json!(2));
    assert!(reply.get("inventories").is_none());
    failed_msg(
        app,
        "org.zstack.ticket.api.APIQueryTicketMsg",
        &w.alice_s,
        json!({"conditions": [{"name": "name", "op": "resembles", "value": "x"}]}),
        "SYS.1007",
    )
    .await;
}

#[tokio::test]
async fn the_message_api_serves_the_whole_ticket_family() {
    let w = world().await;
    let app = &w.app;
    let t = "org.zstack.ticket.api.";
    let i = "org.zstack.ticket.iam2.api.";
    let (status, class, reply) = msg(
        app,
        &format!("{i}APICreateIAM2TickFlowCollectionMsg"),
        Some(&w.carol_s),
        json!({"projectUuid": org_hex(w.project), "name": "by message", "isDefault": true, "ticketTypeUuids": [VM_TYPE],
               "flows": [{"name": "lead", "approverUuid": hex(&w.bob)}, {"name": "boss", "approverUuid": hex(&w.carol)}]}),
    )
    .await;
    assert_eq!(
        (status, class.as_str()),
        (
            200,
            "org.zstack.ticket.iam2.api.APICreateIAM2TickFlowCollectionEvent"
        )
    );
    assert_eq!(reply["success"], json!(true), "{reply}");
    let collection = reply["inventory"]["uuid"].as_str().unwrap().to_owned();
    assert_eq!(reply["inventory"]["ticketTypeUuids"], json!([VM_TYPE]));

    let reply = ok_msg(
        app,
        &format!("{t}APICreateTicketMsg"),
        &w.alice_s,
        ticket_params(&w, "by message", json!([vm_request("m1")])),
    )
    .await;
    let id = reply["inventory"]["uuid"].as_str().unwrap().to_owned();
    assert_eq!(reply["inventory"]["flowCollectionUuid"], json!(collection));
    let change = |session: String, event: &'static str| {
        let id = id.clone();
        async move {
            ok_msg(
                app,
                &format!("{t}APIChangeTicketStatusMsg"),
                &session,
                json!({"uuid": id, "statusEvent": event, "comment": "ok"}),
            )
            .await
        }
    };
    failed_msg(
        app,
        &format!("{t}APIChangeTicketStatusMsg"),
        &w.carol_s,
        json!({"uuid": id, "statusEvent": "approve"}),
        "ID.1002",
    )
    .await;
    assert_eq!(
        change(w.alice_s.clone(), "cancel").await["inventory"]["status"],
        json!("Cancelled")
    );
    let reply = ok_msg(
        app,
        &format!("{t}APIUpdateTicketRequestMsg"),
        &w.alice_s,
        json!({"uuid": id, "requests": [vm_request("m2")]}),
    )
    .await;
    assert_eq!(
        reply["inventory"]["request"][0]["requestName"],
        json!("create m2")
    );
    assert_eq!(
        change(w.alice_s.clone(), "reopen").await["inventory"]["status"],
        json!("Pending")
    );
    assert_eq!(
        change(w.bob_s.clone(), "approve").await["inventory"]["status"],
        json!("IntermediateApproved")
    );
    assert_eq!(
        change(w.carol_s.clone(), "approve").await["inventory"]["status"],
        json!("FinalApproved")
    );

    let (_, class, reply) = msg(
        app,
        &format!("{t}APIQueryTicketMsg"),
        Some(&w.bob_s),
        json!({"conditions": [{"name": "uuid", "op": "=", "value": id}]}),
    )
    .await;
    assert_eq!(class, "org.zstack.ticket.api.APIQueryTicketReply");
    assert_eq!(reply["inventories"][0]["status"], json!("FinalApproved"));
    let reply = ok_msg(
        app,
        &format!("{t}APIQueryTicketHistoryMsg"),
        &w.alice_s,
        json!({"conditions": [{"name": "ticketUuid", "op": "=", "value": id}]}),
    )
    .await;
    assert_eq!(reply["inventories"].as_array().unwrap().len(), 6);
    let reply = ok_msg(
        app,
        &format!("{t}APIArchiveTicketMsg"),
        &w.alice_s,
        json!({"uuid": id}),
    )
    .await;
    assert_eq!(reply["inventory"]["uuid"], json!(id));
    let reply = ok_msg(
        app,
        &format!("{t}APIQueryArchiveTicketMsg"),
        &w.alice_s,
        json!({}),
    )
    .await;
    assert_eq!(uuids(&reply), vec![id.clone()]);
    let reply = ok_msg(
        app,
        &format!("{t}APIQueryArchiveTicketHistoryMsg"),
        &w.alice_s,
        json!({"conditions": [], "limit": 2}),
    )
    .await;
    assert_eq!(reply["inventories"].as_array().unwrap().len(), 2);
    let reply = ok_msg(
        app,
        &format!("{t}APIQueryTicketTypeMsg"),
        &w.alice_s,
        json!({}),
    )
    .await;
    assert_eq!(uuids(&reply), vec![VM_TYPE.to_owned()]);

    // A second ticket, cancelled then deleted.
    let reply = ok_msg(
        app,
        &format!("{t}APICreateTicketMsg"),
        &w.alice_s,
        ticket_params(&w, "gone", json!([vm_request("g")])),
    )
    .await;
    let gone = reply["inventory"]["uuid"].as_str().unwrap().to_owned();
    ok_msg(
        app,
        &format!("{t}APIChangeTicketStatusMsg"),
        &w.alice_s,
        json!({"uuid": gone, "statusEvent": "cancel"}),
    )
    .await;
    let reply = ok_msg(
        app,
        &format!("{t}APIDeleteTicketMsg"),
        &w.alice_s,
        json!({"uuid": gone, "deleteMode": "Enforcing"}),
    )
    .await;
    assert_eq!(reply, json!({"success": true}));
    failed_msg(
        app,
        &format!("{t}APIDeleteTicketMsg"),
        &w.alice_s,
        json!({"uuid": gone}),
        "SYS.1003",
    )
    .await;

    // Collections and flows.
    let reply = ok_msg(
        app,
        &format!("{i}APIUpdateIAM2TicketFlowCollectionMsg"),
        &w.carol_s,
        json!({"uuid": collection, "name": "renamed", "description": "by message"}),
    )
    .await;
    assert_eq!(reply["inventory"]["name"], json!("renamed"));
    let reply = ok_msg(
        app,
        &format!("{t}APIChangeTicketFlowCollectionStateMsg"),
        &w.carol_s,
        json!({"uuid": collection, "stateEvent": "disable"}),
    )
    .await;
    assert_eq!(reply["inventory"]["state"], json!("Disabled"));
    ok_msg(
        app,
        &format!("{t}APIChangeTicketFlowCollectionStateMsg"),
        &w.carol_s,
        json!({"uuid": collection, "stateEvent": "enable"}),
    )
    .await;
    let reply = ok_msg(
        app,
        &format!("{t}APIRemoveTicketTypesFromTicketFlowCollectionMsg"),
        &w.carol_s,
        json!({"ticketFlowCollectionUuid": collection, "ticketTypeUuids": [VM_TYPE]}),
    )
    .await;
    assert_eq!(reply["inventory"]["ticketTypeUuids"], json!([]));
    let reply = ok_msg(
        app,
        &format!("{t}APIAddTicketTypesToTicketFlowCollectionMsg"),
        &w.carol_s,
        json!({"ticketFlowCollectionUuid": collection, "ticketTypeUuids": [VM_TYPE]}),
    )
    .await;
    assert_eq!(reply["inventory"]["ticketTypeUuids"], json!([VM_TYPE]));
    let first_flow = ok_msg(
        app,
        &format!("{t}APIQueryTicketFlowMsg"),
        &w.carol_s,
        json!({"conditions": [{"name": "collectionUuid", "op": "=", "value": collection}]}),
    )
    .await["inventories"][0]["uuid"]
        .clone();
    let reply = ok_msg(
        app,
        &format!("{i}APIAddIAM2TicketFlowMsg"),
        &w.carol_s,
        json!({"collectionUuid": collection, "name": "middle", "approverUuid": hex(&w.alice), "approverTitle": "Peer", "parentFlowUuid": first_flow}),
    )
    .await;
    let added = reply["inventory"]["uuid"].as_str().unwrap().to_owned();
    assert_eq!(reply["inventory"]["parentFlowUuid"], first_flow);
    let reply = ok_msg(
        app,
        &format!("{i}APIUpdateIAM2TicketFlowMsg"),
        &w.carol_s,
        json!({"uuid": added, "name": "peer"}),
    )
    .await;
    assert_eq!(reply["inventory"]["name"], json!("peer"));
    let reply = ok_msg(
        app,
        &format!("{t}APIQueryTicketFlowMsg"),
        &w.carol_s,
        json!({"conditions": [{"name": "approverUuid", "op": "=", "value": hex(&w.alice)}]}),
    )
    .await;
    assert_eq!(uuids(&reply), vec![added.clone()]);
    ok_msg(
        app,
        &format!("{i}APIDeleteIAM2TicketFlowMsg"),
        &w.carol_s,
        json!({"uuid": added}),
    )
    .await;
    failed_msg(
        app,
        &format!("{t}APIQueryTicketFlowMsg"),
        &w.carol_s,
        json!({"conditions": [{"name": "nope", "op": "=", "value": "x"}]}),
        "SYS.1007",
    )
    .await;
    let reply = ok_msg(
        app,
        &format!("{t}APIQueryTicketFlowCollectionMsg"),
        &w.carol_s,
        json!({"conditions": [{"name": "uuid", "op": "=", "value": collection}]}),
    )
    .await;
    assert_eq!(
        reply["inventories"][0]["flows"].as_array().unwrap().len(),
        2
    );
    assert_eq!(reply["inventories"][0]["name"], json!("renamed"));
    let reply = ok_msg(
        app,
        &format!("{t}APIDeleteTicketFlowCollectionMsg"),
        &w.carol_s,
        json!({"uuid": collection}),
    )
    .await;
    assert_eq!(reply, json!({"success": true}));
    let reply = ok_msg(
        app,
        &format!("{t}APIQueryTicketFlowCollectionMsg"),
        &w.carol_s,
        json!({}),
    )
    .await;
    assert_eq!(reply["inventories"], json!([]));
}

#[tokio::test]
async fn flows_are_added_updated_and_deleted_within_the_chain_rules() {
    let w = world().await;
    let app = &w.app;
    let i = "org.zstack.ticket.iam2.api.";
    let t = "org.zstack.ticket.api.";
    let collection = two_flow_collection(&w).await;
    let uuid = collection["uuid"].as_str().unwrap().to_owned();
    let first = collection["flows"][0]["uuid"].as_str().unwrap().to_owned();
    let last = collection["flows"][1]["uuid"].as_str().unwrap().to_owned();

    // Appending a non-admin approver would end the chain with them: refused.
    let error = failed_msg(
        app,
        &format!("{i}APIAddIAM2TicketFlowMsg"),
        &w.carol_s,
        json!({"collectionUuid": uuid, "name": "tail", "approverUuid": hex(&w.alice)}),
        "SYS.1007",
    )
    .await;
    assert_eq!(
        error["details"],
        json!("admin or iam2 operation is required as approver of the last flow")
    );
    // Inserted after the first flow, over REST.
    let added = ok(
        app,
        "POST",
        "/zstack/v1/tickets/flow",
        &w.carol_s,
        Some(json!({"params": {"collectionUuid": uuid, "name": "middle", "approverUuid": hex(&w.alice), "parentFlowUuid": first, "description": "peer review"}})),
    )
    .await["inventory"]
        .clone();
    let middle = added["uuid"].as_str().unwrap().to_owned();
    assert_eq!(added["parentFlowUuid"], json!(first));
    let flows = ok(
        app,
        "GET",
        &format!("/zstack/v1/tickets/flow?q=collectionUuid={uuid}"),
        &w.bob_s,
        None,
    )
    .await;
    assert_eq!(
        uuids(&flows),
        vec![first.clone(), middle.clone(), last.clone()]
    );
    assert_eq!(flows["inventories"][2]["parentFlowUuid"], json!(middle));
    let one = ok(
        app,
        "GET",
        &format!("/zstack/v1/tickets/flow/{middle}"),
        &w.bob_s,
        None,
    )
    .await;
    assert_eq!(one["inventories"][0]["description"], json!("peer review"));

    let updated = ok(
        app,
        "PUT",
        &format!("/zstack/v1/tickets/flow/{middle}/actions"),
        &w.carol_s,
        Some(json!({"updateIAM2TicketFlow": {"name": "peer", "approverTitle": "Reviewer"}})),
    )
    .await;
    assert_eq!(updated["inventory"]["name"], json!("peer"));
    assert_eq!(updated["inventory"]["approverUuid"], json!(hex(&w.alice)));
    let reply = ok_msg(
        app,
        &format!("{i}APIUpdateIAM2TicketFlowMsg"),
        &w.carol_s,
        json!({"uuid": middle, "approverUuid": hex(&w.bob)}),
    )
    .await;
    assert_eq!(reply["inventory"]["approverUuid"], json!(hex(&w.bob)));
    failed_msg(
        app,
        &format!("{i}APIUpdateIAM2TicketFlowMsg"),
        &w.carol_s,
        json!({"uuid": last, "approverUuid": hex(&w.alice)}),
        "SYS.1007",
    )
    .await;
    failed_msg(
        app,
        &format!("{i}APIUpdateIAM2TicketFlowMsg"),
        &w.bob_s,
        json!({"uuid": middle, "name": "mine"}),
        "ID.1002",
    )
    .await;

    // A ticket opened now runs through three flows.
    let ticket = open_ticket(&w, "three flows").await;
    let id = ticket["uuid"].as_str().unwrap();
    changed(&w, &w.bob_s, id, "approve").await;
    let ticket = changed(&w, &w.bob_s, id, "approve").await;
    assert_eq!(ticket["status"], json!("IntermediateApproved"));
    assert_eq!(ticket["currentFlowUuid"], json!(last));

    let (status, body) = zs(
        app,
        "DELETE",
        &format!("/zstack/v1/tickets/flow/{middle}"),
        Some(&w.carol_s),
        None,
    )
    .await;
    assert_eq!((status, body), (200, Value::Null));
    let flows = ok(
        app,
        "GET",
        &format!("/zstack/v1/tickets/flow?q=collectionUuid={uuid}"),
        &w.bob_s,
        None,
    )
    .await;
    assert_eq!(uuids(&flows), vec![first.clone(), last.clone()]);
    ok_msg(
        app,
        &format!("{i}APIDeleteIAM2TicketFlowMsg"),
        &w.carol_s,
        json!({"uuid": first}),
    )
    .await;
    let error = failed_msg(
        app,
        &format!("{i}APIDeleteIAM2TicketFlowMsg"),
        &w.carol_s,
        json!({"uuid": last}),
        "SYS.1007",
    )
    .await;
    assert_eq!(
        error["details"],
        json!("at least one flow is needed for create flow collection")
    );
    fails(
        app,
        "DELETE",
        &format!("/zstack/v1/tickets/flow/{first}"),
        &w.carol_s,
        None,
        "SYS.1003",
    )
    .await;
    // The ticket already open keeps its three steps.
    let ticket = changed(&w, &w.carol_s, id, "approve").await;
    assert_eq!(ticket["status"], json!("FinalApproved"));
    let reply = ok_msg(
        app,
        &format!("{t}APIQueryTicketFlowMsg"),
        &w.carol_s,
        json!({}),
    )
    .await;
    assert_eq!(uuids(&reply), vec![last]);
}

#[tokio::test]
async fn flow_collections_are_managed_over_rest_with_zstacks_validation() {
    let w = world().await;
    let app = &w.app;
    let path = "/zstack/v1/tickets/flow-collections";
    let create = |session: String, params: Value| async move {
        zs(
            app,
            "POST",
            path,
            Some(&session),
            Some(json!({"params": params})),
        )
        .await
    };
    let base = |flows: Value| json!({"projectUuid": org_hex(w.project), "name": "checked", "flows": flows});
    let cases = [
        (
            json!({"projectUuid": org_hex(w.project), "name": "empty"}),
            "at least one flow is needed for create flow collection",
        ),
        (
            base(json!([{"name": "one", "approverUuid": hex(&w.bob)}])),
            "admin or iam2 operation is required as approver of the last flow",
        ),
        (
            base(json!([{"approverUuid": hex(&w.carol)}])),
            "name is needed when create a flow",
        ),
        (
            base(json!([{"name": "one"}])),
            "approverUuid cannot be null",
        ),
        (
            base(json!([{"name": "one", "approverUuid": "0123456789abcdef0123456789abcdef"}])),
            "can not find IAM2VirtualIDVO[uuid:0123456789abcdef0123456789abcdef]",
        ),
    ];
    for (params, details) in cases {
        let (status, answer) = create(w.carol_s.clone(), params).await;
        assert_eq!(status, 503, "{answer}");
        assert_eq!(answer["error"]["code"], json!("SYS.1007"));
        assert_eq!(answer["error"]["details"], json!(details));
    }
    let (status, answer) = create(
        w.carol_s.clone(),
        json!({"projectUuid": org_hex(w.project), "flows": []}),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (503, json!("SYS.1007"))
    );
    assert!(
        answer["error"]["details"]
            .as_str()
            .unwrap()
            .contains("field[name]")
    );
    let mut with_type = base(json!([{"name": "one", "approverUuid": hex(&w.carol)}]));
    with_type["ticketTypeUuids"] = json!(["00000000000000000000000000000001"]);
    let (_, answer) = create(w.carol_s.clone(), with_type).await;
    assert_eq!(answer["error"]["code"], json!("SYS.1007"));
    let (_, answer) = create(
        w.alice_s.clone(),
        base(json!([{"name": "one", "approverUuid": hex(&w.carol)}])),
    )
    .await;
    assert_eq!(answer["error"]["code"], json!("ID.1002"));
    let (_, answer) = create(
        w.carol_s.clone(),
        json!({"projectUuid": "0123456789abcdef0123456789abcdef", "name": "x", "flows": []}),
    )
    .await;
    assert_eq!(answer["error"]["code"], json!("SYS.1003"));

    // Created by the system admin with a type; the type is then listed and queried.
    let mut params = base(json!([{"name": "one", "approverUuid": hex(&w.carol)}]));
    params["ticketTypeUuids"] = json!([VM_TYPE]);
    let (status, answer) = create(w.admin.clone(), params).await;
    assert_eq!(status, 200, "{answer}");
    let collection = answer["inventory"].clone();
    let uuid = collection["uuid"].as_str().unwrap().to_owned();
    assert_eq!(collection["ticketTypeUuids"], json!([VM_TYPE]));
    assert_eq!(collection["isDefault"], json!(false));
    let mut clash = base(json!([{"name": "one", "approverUuid": hex(&w.carol)}]));
    clash["name"] = json!("clash");
    clash["ticketTypeUuids"] = json!([VM_TYPE]);
    let (_, answer) = create(w.admin.clone(), clash).await;
    assert_eq!(answer["error"]["code"], json!("SYS.1007"), "{answer}");
    let types = ok(app, "GET", "/zstack/v1/ticket-types", &w.alice_s, None).await;
    assert_eq!(
        types["inventories"][0]["name"],
        json!("CREATE_VM_INSTANCE_TICKET_TYPE")
    );
    assert_eq!(types["inventories"][0]["requests"], json!(VM_API));
    assert!(is_gson_date(&types["inventories"][0]["createDate"]));
    let one = ok(
        app,
        "GET",
        &format!("/zstack/v1/ticket-types/{VM_TYPE}"),
        &w.alice_s,
        None,
    )
    .await;
    assert_eq!(uuids(&one), vec![VM_TYPE.to_owned()]);

    let listed = ok(
        app,
        "GET",
        &format!("{path}?q=projectUuid={}", org_hex(w.project)),
        &w.bob_s,
        None,
    )
    .await;
    assert_eq!(uuids(&listed), vec![uuid.clone()]);
    let listed = ok(
        app,
        "GET",
        &format!("{path}?q=flows.approverUuid={}", hex(&w.carol)),
        &w.bob_s,
        None,
    )
    .await;
    assert_eq!(uuids(&listed), vec![uuid.clone()]);
    let listed = ok(
        app,
        "GET",
        &format!("{path}?q=ticketTypeUuids={VM_TYPE}&fields=uuid,state"),
        &w.bob_s,
        None,
    )
    .await;
    assert_eq!(
        listed,
        json!({"inventories": [{"uuid": uuid, "state": "Enabled"}]})
    );

    // Types removed and added back over REST.
    let types_path = format!("{path}/{uuid}/ticket-types");
    let removed = ok(
        app,
        "DELETE",
        &format!("{types_path}?ticketTypeUuids={VM_TYPE}"),
        &w.carol_s,
        None,
    )
    .await;
    assert_eq!(removed["inventory"]["ticketTypeUuids"], json!([]));
    // Two collections claiming the free type at once: one gets it, the other is refused.
    let mut rival = base(json!([{"name": "one", "approverUuid": hex(&w.carol)}]));
    rival["name"] = json!("rival");
    let (status, rival) = create(w.admin.clone(), rival).await;
    assert_eq!(status, 200, "{rival}");
    let rival_types = format!(
        "{path}/{}/ticket-types",
        rival["inventory"]["uuid"].as_str().unwrap()
    );
    let claim = json!({"params": {"ticketTypeUuids": [VM_TYPE]}});
    let (first, second) = tokio::join!(
        zs(
            app,
            "POST",
            &types_path,
            Some(&w.carol_s),
            Some(claim.clone())
        ),
        zs(
            app,
            "POST",
            &rival_types,
            Some(&w.carol_s),
            Some(claim.clone())
        ),
    );
    let mut statuses = [first.0, second.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 503], "{first:?} {second:?}");
    let refused = if first.0 == 503 { &first.1 } else { &second.1 };
    assert_eq!(refused["error"]["code"], json!("SYS.1007"), "{refused}");
    assert!(
        refused["error"]["details"]
            .as_str()
            .unwrap()
            .contains("one ticket type can only have one matches flow collection"),
        "{refused}"
    );
    if second.0 == 200 {
        let path = format!("{rival_types}?ticketTypeUuids={VM_TYPE}");
        ok(app, "DELETE", &path, &w.carol_s, None).await;
    }
    let added = ok(app, "POST", &types_path, &w.carol_s, Some(claim.clone())).await;
    assert_eq!(added["inventory"]["ticketTypeUuids"], json!([VM_TYPE]));
    fails(
        app,
        "POST",
        &rival_types,
        &w.carol_s,
        Some(claim),
        "SYS.1007",
    )
    .await;
    fails(
        app,
        "POST",
        &types_path,
        &w.carol_s,
        Some(json!({"params": {"ticketTypeUuids": []}})),
        "SYS.1007",
    )
    .await;

    // Disabled, it cannot take tickets; enabled again, it can.
    let action = format!("{path}/{uuid}/actions");
    let disabled = ok(
        app,
        "PUT",
        &action,
        &w.carol_s,
        Some(json!({"changeTicketFlowCollectionState": {"stateEvent": "disable"}})),
    )
    .await;
    assert_eq!(disabled["inventory"]["state"], json!("Disabled"));
    let body = json!({"params": ticket_params(&w, "blocked", json!([vm_request("b")]))});
    let error = fails(
        app,
        "POST",
        "/zstack/v1/tickets",
        &w.alice_s,
        Some(body.clone()),
        "SYS.1006",
    )
    .await;
    assert_eq!(
        error["details"],
        json!(format!(
            "ticket flow collection[uuid:{uuid}] is disable, can not be used"
        ))
    );
    fails(
        app,
        "PUT",
        &action,
        &w.carol_s,
        Some(json!({"changeTicketFlowCollectionState": {"stateEvent": "pause"}})),
        "SYS.1007",
    )
    .await;
    fails(
        app,
        "PUT",
        &action,
        &w.bob_s,
        Some(json!({"changeTicketFlowCollectionState": {"stateEvent": "enable"}})),
        "ID.1002",
    )
    .await;
    ok(
        app,
        "PUT",
        &action,
        &w.carol_s,
        Some(json!({"changeTicketFlowCollectionState": {"stateEvent": "enable"}})),
    )
    .await;
    let ticket = ok(app, "POST", "/zstack/v1/tickets", &w.alice_s, Some(body)).await;
    assert_eq!(ticket["inventory"]["flowCollectionUuid"], json!(uuid));

    let renamed = ok(app, "PUT", &action, &w.carol_s, Some(json!({"updateIAM2TicketFlowCollection": {"name": "renamed", "description": "new words", "isDefault": true}}))).await;
    assert_eq!(renamed["inventory"]["name"], json!("renamed"));
    assert_eq!(renamed["inventory"]["isDefault"], json!(true));
    fails(
        app,
        "DELETE",
        &format!("{path}/{uuid}"),
        &w.bob_s,
        None,
        "ID.1002",
    )
    .await;
    let (status, body) = zs(
        app,
        "DELETE",
        &format!("{path}/{uuid}?deleteMode=Permissive"),
        Some(&w.carol_s),
        None,
    )
    .await;
    assert_eq!((status, body), (200, Value::Null));
    let gone = ok(app, "GET", &format!("{path}/{uuid}"), &w.carol_s, None).await;
    assert_eq!(gone, json!({"inventories": []}));
    fails(
        app,
        "PUT",
        &action,
        &w.carol_s,
        Some(json!({"changeTicketFlowCollectionState": {"stateEvent": "enable"}})),
        "SYS.1003",
    )
    .await;
}

#[tokio::test]
async fn a_new_ticket_goes_through_the_named_then_the_typed_then_the_default_collection() {
    let w = world().await;
    let app = &w.app;
    let carol_s = w.carol_s.as_str();
    let alice_s = w.alice_s.as_str();
    let new_collection = |name: &str, types: Value, default: bool| {
        let body = json!({"params": {"projectUuid": org_hex(w.project), "name": name, "isDefault": default, "ticketTypeUuids": types,
            "flows": [{"name": "only", "approverUuid": hex(&w.carol)}]}});
        async move {
            ok(
                app,
                "POST",
                "/zstack/v1/tickets/flow-collections",
                carol_s,
                Some(body),
            )
            .await["inventory"]["uuid"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let volume = json!([{"apiName": VOLUME_API, "apiBody": {"name": "disk"}}]);
    let open = |params: Value| async move {
        zs(
            app,
            "POST",
            "/zstack/v1/tickets",
            Some(alice_s),
            Some(json!({"params": params})),
        )
        .await
    };

    let typed = new_collection("typed", json!([VM_TYPE]), false).await;
    let (status, answer) = open(ticket_params(&w, "untyped", volume.clone())).await;
    assert_eq!(status, 503);
    assert_eq!(
        answer["error"]["details"],
        json!(
            "no matched ticket flow collection or no default ticket flow collection found, you must specify the flowCollectionUuid or create a default ticket flow collection in system"
        )
    );
    let default = new_collection("default", json!([]), true).await;
    let (_, answer) = open(ticket_params(&w, "vm", json!([vm_request("v")]))).await;
    assert_eq!(answer["inventory"]["flowCollectionUuid"], json!(typed));
    let (_, answer) = open(ticket_params(&w, "disk", volume.clone())).await;
    assert_eq!(answer["inventory"]["flowCollectionUuid"], json!(default));
    assert_eq!(answer["inventory"]["ticketTypeUuid"], Value::Null);
    assert_eq!(
        answer["inventory"]["request"][0]["requestName"],
        json!("APICreateDataVolumeMsg")
    );
    assert_eq!(answer["inventory"]["request"][0]["executeTimes"], json!(1));
    let mut named = ticket_params(&w, "vm by default", json!([vm_request("v")]));
    named["flowCollectionUuid"] = json!(default);
    let (_, answer) = open(named).await;
    assert_eq!(answer["inventory"]["flowCollectionUuid"], json!(default));
    let mut mismatched = ticket_params(&w, "disk by typed", volume.clone());
    mismatched["flowCollectionUuid"] = json!(typed);
    let (_, answer) = open(mismatched).await;
    assert_eq!(answer["error"]["code"], json!("SYS.1007"));
    assert!(
        answer["error"]["details"]
            .as_str()
            .unwrap()
            .contains("not matches ticket type")
    );
    // A second default replaces the first.
    let newer = new_collection("newer default", json!([]), true).await;
    let listed = ok(
        app,
        "GET",
        "/zstack/v1/tickets/flow-collections?q=isDefault=true",
        &w.carol_s,
        None,
    )
    .await;
    assert_eq!(uuids(&listed), vec![newer.clone()]);
    let (_, answer) = open(ticket_params(&w, "disk again", volume.clone())).await;
    assert_eq!(answer["inventory"]["flowCollectionUuid"], json!(newer));
    // Defaults written at once, by creates and then by updates, leave one default: each write
    // clears the others' mark in its own transaction (cleared afterwards, they cleared each
    // other's and left none).
    let defaults = || async {
        ok(
            app,
            "GET",
            "/zstack/v1/tickets/flow-collections?q=isDefault=true",
            carol_s,
            None,
        )
        .await
    };
    let racers = tokio::join!(
        new_collection("racing 1", json!([]), true),
        new_collection("racing 2", json!([]), true),
        new_collection("racing 3", json!([]), true),
        new_collection("racing 4", json!([]), true),
    );
    let racers = [racers.0, racers.1, racers.2, racers.3];
    let left = uuids(&defaults().await);
    assert!(left.len() == 1 && racers.contains(&left[0]), "{left:?}");
    let make_default = |uuid: &str| {
        let path = format!("/zstack/v1/tickets/flow-collections/{uuid}/actions");
        let body = json!({"updateIAM2TicketFlowCollection": {"isDefault": true}});
        async move { ok(app, "PUT", &path, carol_s, Some(body)).await }
    };
    let _ = tokio::join!(
        make_default(&racers[0]),
        make_default(&racers[1]),
        make_default(&racers[2]),
        make_default(&newer),
    );
    let left = uuids(&defaults().await);
    let asked = [&racers[0], &racers[1], &racers[2], &newer];
    assert!(left.len() == 1 && asked.contains(&&left[0]), "{left:?}");
    let (_, answer) = open(ticket_params(&w, "disk by the last", volume.clone())).await;
    assert_eq!(answer["inventory"]["flowCollectionUuid"], json!(left[0]));
    // A default deleted while another is made default: the new one is written all the same.
    make_default(&racers[3]).await;
    let deleted = format!(
        "/zstack/v1/tickets/flow-collections/{}?deleteMode=Permissive",
        racers[3]
    );
    let (removed, created) = tokio::join!(
        zs(app, "DELETE", &deleted, Some(carol_s), None),
        new_collection("after the delete", json!([]), true),
    );
    assert_eq!(removed.0, 200, "{removed:?}");
    assert_eq!(uuids(&defaults().await), vec![created]);
    // A client-chosen id is kept, once.
    let mut chosen = ticket_params(&w, "chosen id", volume.clone());
    chosen["resourceUuid"] = json!("0123456789abcdef0123456789abcdef");
    let (_, answer) = open(chosen.clone()).await;
    assert_eq!(
        answer["inventory"]["uuid"],
        json!("0123456789abcdef0123456789abcdef")
    );
    let (_, answer) = open(chosen).await;
    assert_eq!(answer["error"]["code"], json!("SYS.1007"));

    // Malformed tickets.
    let cases: Vec<(Value, &str)> = vec![
        (
            ticket_params(
                &w,
                "bad api",
                json!([{"apiName": "CreateVm", "apiBody": {}}]),
            ),
            "invalid request. no API[CreateVm] found",
        ),
        (
            ticket_params(&w, "bad body", json!([{"apiName": VM_API, "apiBody": [1]}])),
            "invalid request, cannot create API[org.zstack.header.vm.APICreateVmInstanceMsg] from apiBody, it is not a JSON object",
        ),
        (
            json!({"name": "aws", "requests": volume, "accountSystemType": "aws", "accountSystemContext": {"projectUuid": org_hex(w.project)}}),
            "no accountSystemType[aws] defined in system",
        ),
        (
            json!({"name": "no requests", "accountSystemType": "iam2", "accountSystemContext": {"projectUuid": org_hex(w.project)}}),
            "field[requests] of message[org.zstack.ticket.api.APICreateTicketMsg] is mandatory, can not be null",
        ),
        (
            json!({"requests": volume, "accountSystemType": "iam2", "accountSystemContext": {"projectUuid": org_hex(w.project)}}),
            "field[name] of message[org.zstack.ticket.api.APICreateTicketMsg] is mandatory, can not be null",
        ),
    ];
    for (params, details) in cases {
        let (status, answer) = open(params).await;
        assert_eq!(status, 503, "{answer}");
        assert_eq!(answer["error"]["code"], json!("SYS.1007"));
        assert_eq!(answer["error"]["details"], json!(details));
    }
    let mut long = ticket_params(&w, &"n".repeat(256), volume.clone());
    long["description"] = json!("d");
    let (_, answer) = open(long).await;
    assert_eq!(answer["error"]["code"], json!("SYS.1007"));
}

#[tokio::test]
async fn projects_are_isolated_from_each_other() {
    let w = world().await;
    let app = &w.app;
    let a_collection = two_flow_collection(&w).await["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let a_ticket = open_ticket(&w, "project a").await["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = ticketd_http::now();
    let other = app
        .engine
        .create_org(None, "Project B", now)
        .await
        .unwrap()
        .id;
    let dave = app
        .user("dave", SystemRole::User, vec![(other, ROLE_ORG_USER)])
        .await;
    let erin = app
        .user("erin", SystemRole::User, vec![(other, ROLE_ORG_ADMIN)])
        .await;
    let dave_s = login(app, "dave").await;
    let erin_s = login(app, "erin").await;
    let path = "/zstack/v1/tickets/flow-collections";
    let b_params = |approver: &Actor| json!({"params": {"projectUuid": org_hex(other), "name": "b", "isDefault": true, "flows": [{"name": "only", "approverUuid": hex(approver)}]}});

    // Members of project A cannot approve in project B (B's admin cannot even see them).
    let error = fails(
        app,
        "POST",
        path,
        &erin_s,
        Some(b_params(&w.bob)),
        "SYS.1007",
    )
    .await;
    assert_eq!(
        error["details"],
        json!(format!(
            "can not find IAM2VirtualIDVO[uuid:{}]",
            hex(&w.bob)
        ))
    );
    let error = fails(
        app,
        "POST",
        path,
        &w.admin,
        Some(b_params(&w.bob)),
        "SYS.1007",
    )
    .await;
    assert_eq!(
        error["details"],
        json!(format!(
            "virtual id[uuid:{}] not belong to project[uuid:{}]",
            hex(&w.bob),
            org_hex(other)
        ))
    );
    let b_collection =
        ok(app, "POST", path, &erin_s, Some(b_params(&erin))).await["inventory"]["uuid"]
            .as_str()
            .unwrap()
            .to_owned();

    // B's admin manages nothing of A, and cannot even see it.
    let mut into_a = b_params(&erin);
    into_a["params"]["projectUuid"] = json!(org_hex(w.project));
    fails(app, "POST", path, &erin_s, Some(into_a), "ID.1002").await;
    fails(
        app,
        "PUT",
        &format!("{path}/{a_collection}/actions"),
        &erin_s,
        Some(json!({"changeTicketFlowCollectionState": {"stateEvent": "disable"}})),
        "SYS.1003",
    )
    .await;
    let seen = ok(app, "GET", path, &erin_s, None).await;
    assert_eq!(uuids(&seen), vec![b_collection.clone()]);
    let seen = ok(app, "GET", "/zstack/v1/tickets/flow", &dave_s, None).await;
    assert_eq!(seen["inventories"].as_array().unwrap().len(), 1);
    assert_eq!(
        seen["inventories"][0]["collectionUuid"],
        json!(b_collection)
    );

    // A member of B sees none of A's tickets and cannot act on them or file into A.
    let listed = ok(app, "GET", "/zstack/v1/tickets", &dave_s, None).await;
    assert_eq!(listed["inventories"], json!([]));
    let direct = ok(
        app,
        "GET",
        &format!("/zstack/v1/tickets/{a_ticket}"),
        &dave_s,
        None,
    )
    .await;
    assert_eq!(direct["inventories"], json!([]));
    let history = ok(
        app,
        "GET",
        &format!("/zstack/v1/tickets/histories?q=ticketUuid={a_ticket}"),
        &dave_s,
        None,
    )
    .await;
    assert_eq!(history["inventories"], json!([]));
    refused(&w, &dave_s, &a_ticket, "approve", "SYS.1003").await;
    let mut into_a = ticket_params(&w, "sneaky", json!([vm_request("s")]));
    into_a["accountSystemContext"]["virtualIDUuid"] = json!(hex(&dave));
    fails(
        app,
        "POST",
        "/zstack/v1/tickets",
        &dave_s,
        Some(json!({"params": into_a})),
        "ID.1002",
    )
    .await;

    // Their own project works, and stays out of A's sight.
    let mut in_b = ticket_params(&w, "b ticket", json!([vm_request("b")]));
    in_b["accountSystemContext"] =
        json!({"projectUuid": org_hex(other), "virtualIDUuid": hex(&dave)});
    let b_ticket = ok(
        app,
        "POST",
        "/zstack/v1/tickets",
        &dave_s,
        Some(json!({"params": in_b.clone()})),
    )
    .await["inventory"]
        .clone();
    assert_eq!(b_ticket["flowCollectionUuid"], json!(b_collection));
    let listed = ok(app, "GET", "/zstack/v1/tickets", &w.alice_s, None).await;
    assert_eq!(uuids(&listed), vec![a_ticket.clone()]);
    let listed = ok(app, "GET", "/zstack/v1/tickets", &w.carol_s, None).await;
    assert_eq!(uuids(&listed), vec![a_ticket.clone()]);

    // A's collection cannot route B's tickets.
    in_b["flowCollectionUuid"] = json!(a_collection);
    fails(
        app,
        "POST",
        "/zstack/v1/tickets",
        &dave_s,
        Some(json!({"params": in_b.clone()})),
        "SYS.1003",
    )
    .await;
    in_b["accountSystemContext"]["virtualIDUuid"] = Value::Null;
    let error = fails(
        app,
        "POST",
        "/zstack/v1/tickets",
        &w.admin,
        Some(json!({"params": in_b})),
        "SYS.1007",
    )
    .await;
    assert_eq!(
        error["details"],
        json!(format!(
            "flow collection[uuid:{a_collection}] it not belong the project[uuid:{}]",
            org_hex(other)
        ))
    );
    // The system admin sees both projects.
    let listed = ok(
        app,
        "GET",
        "/zstack/v1/tickets?sort=createDate",
        &w.admin,
        None,
    )
    .await;
    assert_eq!(
        uuids(&listed),
        vec![a_ticket, b_ticket["uuid"].as_str().unwrap().to_owned()]
    );
}

#[tokio::test]
async fn an_approver_who_leaves_the_project_makes_the_collection_invalid_until_replaced() {
    let w = world().await;
    let app = &w.app;
    let collection = two_flow_collection(&w).await;
    let uuid = collection["uuid"].as_str().unwrap().to_owned();
    let at_bob = open_ticket(&w, "at bob").await["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let past_bob = open_ticket(&w, "past bob").await["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    changed(&w, &w.bob_s, &past_bob, "approve").await;
    let admin = app.admin().await;
    app.engine
        .remove_member(&admin, w.project, w.bob.id(), ticketd_http::now())
        .await
        .unwrap();
    // ZStack's auto-reject: the pending ticket waiting for bob is rejected with ZStack's words
    // (it stayed pending, and nobody could decide it); the one past his flow goes on.
    assert_eq!(status_of(&w, &at_bob).await, json!("Rejected"));
    assert_eq!(
        status_of(&w, &past_bob).await,
        json!("IntermediateApproved")
    );
    let history = ok(
        app,
        "GET",
        &format!("/zstack/v1/tickets/histories?q=ticketUuid={at_bob}&sort=%2Bsequence"),
        &w.alice_s,
        None,
    )
    .await;
    let last = &history["inventories"][1];
    assert_eq!(
        (&last["fromStatus"], &last["toStatus"], &last["comment"]),
        (
            &json!("Pending"),
            &json!("Rejected"),
            &json!(
                "approver is removed from project or deleted, flow collection changed to invalid, reject this ticket"
            )
        ),
        "{history}"
    );
    assert_eq!(last["operatorUuid"], json!(hex(&admin)), "{history}");
    let listed = ok(
        app,
        "GET",
        &format!("/zstack/v1/tickets/flow-collections/{uuid}"),
        &w.carol_s,
        None,
    )
    .await;
    assert_eq!(listed["inventories"][0]["status"], json!("Invalid"));
    assert_eq!(listed["inventories"][0]["flows"][0]["valid"], json!(false));
    assert_eq!(listed["inventories"][0]["flows"][1]["valid"], json!(true));
    let body = json!({"params": ticket_params(&w, "stuck", json!([vm_request("s")]))});
    let error = fails(
        app,
        "POST",
        "/zstack/v1/tickets",
        &w.alice_s,
        Some(body.clone()),
        "SYS.1006",
    )
    .await;
    assert_eq!(
        error["details"],
        json!(format!(
            "ticket flow collection[uuid:{uuid}] is invalid, contact admin to correct it"
        ))
    );
    // Naming another approver for the first flow (by position) makes it valid again.
    let fixed = ok(
        app,
        "PUT",
        &format!("/zstack/v1/tickets/flow-collections/{uuid}/actions"),
        &w.carol_s,
        Some(json!({"updateIAM2TicketFlowCollection": {"flows": [{"approverUuid": hex(&w.alice)}, "final"]}})),
    )
    .await;
    assert_eq!(fixed["inventory"]["status"], json!("Valid"));
    assert_eq!(fixed["inventory"]["flows"][0]["name"], json!("flow1"));
    assert_eq!(
        fixed["inventory"]["flows"][0]["uuid"],
        collection["flows"][0]["uuid"]
    );
    assert_eq!(fixed["inventory"]["flows"][1]["name"], json!("final"));
    assert_eq!(
        fixed["inventory"]["flows"][1]["approverUuid"],
        json!(hex(&w.carol))
    );
    ok(app, "POST", "/zstack/v1/tickets", &w.alice_s, Some(body)).await;
    // A deactivated approver strands the tickets waiting for them too.
    let mut inactive = app
        .engine
        .store()
        .get_user(w.carol.id())
        .await
        .unwrap()
        .unwrap();
    inactive.is_active = false;
    app.engine
        .update_user(
            &admin,
            inactive.id,
            UserChange::all_of(&inactive),
            ticketd_http::now(),
        )
        .await
        .unwrap();
    assert_eq!(status_of(&w, &past_bob).await, json!("Rejected"));
}

/// A system administrator decides a project's flow without being its member; demoted, they no
/// longer may, and the tickets waiting for them are rejected (they stayed pending).
#[tokio::test]
async fn a_demoted_system_administrator_strands_the_tickets_waiting_for_them() {
    let w = world().await;
    let app = &w.app;
    let sam = app.user("sam", SystemRole::Admin, vec![]).await;
    let body = json!({"params": {
        "projectUuid": org_hex(w.project),
        "name": "sam decides",
        "isDefault": true,
        "flows": [{"name": "only", "approverUuid": hex(&sam)}],
    }});
    ok(
        app,
        "POST",
        "/zstack/v1/tickets/flow-collections",
        &w.carol_s,
        Some(body),
    )
    .await;
    let waiting = open_ticket(&w, "for sam").await["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = app.admin().await;
    let mut demoted = sam.user.clone();
    demoted.system_role = SystemRole::User;
    app.engine
        .update_user(
            &admin,
            demoted.id,
            UserChange::all_of(&demoted),
            ticketd_http::now(),
        )
        .await
        .unwrap();
    assert_eq!(status_of(&w, &waiting).await, json!("Rejected"));
}

#[tokio::test]
async fn unknown_paths_methods_actions_and_bodies_get_zstack_errors() {
    let w = world().await;
    let app = &w.app;
    two_flow_collection(&w).await;
    let id = open_ticket(&w, "errors").await["uuid"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, answer) = zs(app, "GET", "/zstack/v1/nothing", Some(&w.alice_s), None).await;
    assert_eq!(status, 404);
    assert_eq!(answer["error"]["code"], json!("SYS.1009"));
    assert_eq!(
        answer["error"]["details"],
        json!("no api mapping to /v1/nothing")
    );
    let (status, _) = zs(app, "GET", "/zstack/v2/tickets", None, None).await;
    assert_eq!(status, 404);
    // The prefixes themselves, with and without a trailing slash, are still ZStack's.
    for path in ["/zstack", "/zstack/", "/zstack/v1", "/zstack/v1/"] {
        let (status, answer) = zs(app, "GET", path, Some(&w.alice_s), None).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(answer["error"]["code"], json!("SYS.1009"), "{path}");
    }
    for (method, path) in [
        ("PATCH", "/zstack/v1/tickets"),
        ("DELETE", "/zstack/v1/tickets"),
        ("GET", "/zstack/api/"),
    ] {
        let (status, answer) = zs(app, method, path, Some(&w.alice_s), None).await;
        assert_eq!(status, 405, "{method} {path}");
        assert_eq!(answer["error"]["code"], json!("SYS.1014"));
    }
    let actions = format!("/zstack/v1/tickets/{id}/actions");
    let (status, answer) = zs(
        app,
        "PUT",
        &actions,
        Some(&w.alice_s),
        Some(json!({"frobnicate": {}})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["error"]["details"],
        json!(format!(
            "the body doesn't contain action mapping to the URL[/v1/tickets/{id}/actions]"
        ))
    );
    // The action key is matched whatever its case, and checked before the session.
    let (status, _) = zs(app, "PUT", &actions, None, Some(json!({"frobnicate": {}}))).await;
    assert_eq!(status, 400);
    let lower = ok(
        app,
        "PUT",
        &actions,
        &w.alice_s,
        Some(json!({"changeticketstatus": {"statusEvent": "cancel"}})),
    )
    .await;
    assert_eq!(lower["inventory"]["status"], json!("Cancelled"));
    fails(
        app,
        "PUT",
        &actions,
        &w.alice_s,
        Some(json!({"changeTicketStatus": {"statusEvent": "explode"}})),
        "SYS.1007",
    )
    .await;
    fails(
        app,
        "PUT",
        &actions,
        &w.alice_s,
        Some(json!({"changeTicketStatus": {}})),
        "SYS.1007",
    )
    .await;
    fails(
        app,
        "PUT",
        &actions,
        &w.alice_s,
        Some(json!({"changeTicketStatus": 5})),
        "SYS.1007",
    )
    .await;
    fails(
        app,
        "PUT",
        "/zstack/v1/tickets/nope/actions",
        &w.alice_s,
        Some(json!({"changeTicketStatus": {"statusEvent": "cancel"}})),
        "SYS.1007",
    )
    .await;
    fails(
        app,
        "PUT",
        "/zstack/v1/tickets/0123456789abcdef0123456789abcdef/actions",
        &w.alice_s,
        Some(json!({"changeTicketStatus": {"statusEvent": "cancel"}})),
        "SYS.1003",
    )
    .await;

    // Bodies that are not JSON objects, or too deep.
    let raw = |path: &str, body: &'static str| {
        let request = app
            .client
            .post(app.url(path))
            .header("Authorization", format!("OAuth {}", w.alice_s))
            .header("Content-Type", "application/json")
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    for body in ["{not json", "[1, 2]"] {
        let (status, answer) = raw("/zstack/v1/tickets", body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(answer["error"]["code"], json!("SYS.1007"));
    }
    let deep: &'static str =
        Box::leak(format!("{}{}", "[".repeat(100), "]".repeat(100)).into_boxed_str());
    let (status, _) = raw("/zstack/v1/tickets", deep).await;
    assert_eq!(status, 400);
    let (status, answer) = raw("/zstack/api/", "{not json").await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["org.zstack.header.message.APIReply"]["success"],
        json!(false)
    );
    let (status, answer) = raw("/zstack/api", "[]").await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["org.zstack.header.message.APIReply"]["error"]["code"],
        json!("SYS.1007")
    );
    let (status, class, reply) = msg(
        app,
        "org.zstack.header.vm.APIDestroyVmInstanceMsg",
        Some(&w.alice_s),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, class.as_str()),
        (200, "org.zstack.header.message.APIReply")
    );
    assert_eq!(reply["error"]["code"], json!("SYS.1008"));
    failed_msg(
        app,
        "org.zstack.ticket.api.APIChangeTicketStatusMsg",
        &w.alice_s,
        json!({"statusEvent": "reopen"}),
        "SYS.1007",
    )
    .await;
    let reply = ok_msg(
        app,
        "org.zstack.ticket.api.APIChangeTicketStatusMsg",
        &w.alice_s,
        json!({"uuid": id, "statusEvent": "reopen"}),
    )
    .await;
    assert_eq!(reply["inventory"]["status"], json!("Pending"));
}

/// A create sent again with the same `X-Job-UUID` (a client's retry) is refused with 400 and
/// makes no second ticket; the ticket takes the job's id. A job id that is not 32 hexadecimal
/// digits is refused.
#[tokio::test]
async fn a_create_sent_again_with_its_job_uuid_makes_no_second_ticket() {
    let w = world().await;
    let app = &w.app;
    two_flow_collection(&w).await;
    let body = json!({"params": ticket_params(&w, "retried", json!([vm_request("r")]))});
    let job = "0123456789abcdef0123456789abcdef";
    let session = w.alice_s.as_str();
    let send = |job: &'static str| {
        let body = body.clone();
        async move {
            zs_with(
                app,
                "POST",
                "/zstack/v1/tickets",
                Some(session),
                Some(body),
                &[("X-Job-UUID", job)],
            )
            .await
        }
    };
    let (status, created) = send(job).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["inventory"]["uuid"], job);
    let (status, again) = send(job).await;
    assert_eq!(status, 400, "{again}");
    assert_eq!(again["error"]["code"], "SYS.1007", "{again}");
    assert!(
        again["error"]["details"]
            .as_str()
            .unwrap()
            .contains("duplicate job"),
        "{again}"
    );
    let (status, bad) = send("not-a-job").await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["error"]["code"], "SYS.1007", "{bad}");
    let listed = ok(
        app,
        "GET",
        "/zstack/v1/tickets?q=name=retried",
        &w.alice_s,
        None,
    )
    .await;
    assert_eq!(
        listed["inventories"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
}

#[tokio::test]
async fn a_resource_uuid_names_one_flow_or_collection_a_ticket_is_opened_for_members_only_and_reopen_keeps_its_comment()
 {
    let w = world().await;
    let app = &w.app;
    let collection = two_flow_collection(&w).await;
    let first = collection["flows"][0]["uuid"].as_str().unwrap().to_owned();
    let now = ticketd_http::now();
    let other = app
        .engine
        .create_org(None, "Project B", now)
        .await
        .unwrap()
        .id;
    let dave = app
        .user("dave", SystemRole::User, vec![(other, ROLE_ORG_ADMIN)])
        .await;
    let dave_s = login(app, "dave").await;
    let body = json!({"params": {"projectUuid": org_hex(other), "name": "b chain",
        "flows": [{"name": "only", "approverUuid": hex(&dave)}]}});
    let theirs = ok(
        app,
        "POST",
        "/zstack/v1/tickets/flow-collections",
        &dave_s,
        Some(body),
    )
    .await["inventory"]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    // A flow given the uuid of another project's flow, or of a collection, is refused: flows
    // are found, changed and deleted by that uuid alone.
    for taken in [first.as_str(), theirs.as_str()] {
        let params = json!({"params": {"collectionUuid": theirs, "name": "evil",
            "approverUuid": hex(&dave), "resourceUuid": taken}});
        let error = fails(
            app,
            "POST",
            "/zstack/v1/tickets/flow",
            &dave_s,
            Some(params),
            "SYS.1007",
        )
        .await;
        assert_eq!(
            error["details"],
            json!(format!("a flow with uuid[{taken}] already exists"))
        );
    }
    let found = ok(
        app,
        "GET",
        &format!("/zstack/v1/tickets/flow/{first}"),
        &w.admin,
        None,
    )
    .await;
    assert_eq!(uuids(&found), vec![first.clone()]);
    // A collection takes the resourceUuid it is given, if no flow or collection has it.
    let chosen = "0123456789abcdef0123456789abcdef";
    let create = |resource: &str| {
        json!({"params": {"projectUuid": org_hex(other), "name": format!("chosen {resource}"),
            "resourceUuid": resource, "flows": [{"name": "only", "approverUuid": hex(&dave)}]}})
    };
    let created = ok(
        app,
        "POST",
        "/zstack/v1/tickets/flow-collections",
        &dave_s,
        Some(create(chosen)),
    )
    .await;
    assert_eq!(created["inventory"]["uuid"], json!(chosen), "{created}");
    for taken in [chosen, first.as_str(), "zz"] {
        fails(
            app,
            "POST",
            "/zstack/v1/tickets/flow-collections",
            &dave_s,
            Some(create(taken)),
            "SYS.1007",
        )
        .await;
    }

    // The system admin opens a ticket for a member of the project, not for dave, who is none.
    let mut params = ticket_params(&w, "on behalf", json!([vm_request("vm1")]));
    params["accountSystemContext"]["virtualIDUuid"] = json!(hex(&dave));
    let body = json!({"params": params});
    fails(
        app,
        "POST",
        "/zstack/v1/tickets",
        &w.admin,
        Some(body),
        "SYS.1007",
    )
    .await;
    let mut params = ticket_params(&w, "on behalf", json!([vm_request("vm1")]));
    params["accountSystemContext"]["virtualIDUuid"] = json!(hex(&w.alice));
    let ticket = ok(
        app,
        "POST",
        "/zstack/v1/tickets",
        &w.admin,
        Some(json!({"params": params})),
    )
    .await["inventory"]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();

    // reopen keeps its comment in the history, as every other event does.
    changed(&w, &w.alice_s, &ticket, "cancel").await;
    changed(&w, &w.alice_s, &ticket, "reopen").await;
    let history = ok(
        app,
        "GET",
        &format!("/zstack/v1/tickets/histories?q=ticketUuid={ticket}&sort=%2Bsequence"),
        &w.alice_s,
        None,
    )
    .await;
    let comments: Vec<Value> = history["inventories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["comment"].clone())
        .collect();
    assert_eq!(
        comments[1..],
        [json!("cancel it"), json!("reopen it")],
        "{history}"
    );
    // A flow whose approver has left the project: the pending ticket waiting for him is
    // rejected, and a reopening would wait for nobody.
    let admin = app.admin().await;
    app.engine
        .remove_member(&admin, w.project, w.bob.id(), ticketd_http::now())
        .await
        .unwrap();
    let error = refused(&w, &w.alice_s, &ticket, "reopen", "SYS.1007").await;
    let details = error["details"].as_str().unwrap_or_default();
    assert!(details.contains("has no approver"), "{error}");
}
