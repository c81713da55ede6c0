//! JumpServer dialect tests: ticket routes, end to end over HTTP.

use crate::app::{ADMIN_TOKEN, TestApp, spawn_app};
use serde_json::{Value, json};
use ticketd_core::Actor;
use ticketd_core::catalog::{Asset, AssetChange};
use ticketd_core::engine::FlowInput;
use ticketd_core::flow::{Level, LevelMode};
use ticketd_core::identity::{DEFAULT_ORG, ROLE_ORG_USER, SystemRole};
use ticketd_core::selector::Selector;
use ticketd_core::{AssetId, OrgId};
use ticketd_http::now;

const OPEN: &str = "/api/v1/tickets/apply-asset-tickets/open/";

/// A deployment with an asset, applicant alice, approvers bob (level 1) and carol (level 2),
/// outsider mallory in another org.
struct World {
    app: TestApp,
    asset: Asset,
    alice: Actor,
    bob: Actor,
    carol: Actor,
    mallory: Actor,
}

async fn world(levels: usize) -> World {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let now = ticketd_http::now();
    let other = app
        .engine
        .create_org(Some(&admin), "Other", now)
        .await
        .unwrap();
    let alice = app.user("alice", SystemRole::User, vec![]).await;
    let bob = app.user("bob", SystemRole::User, vec![]).await;
    let carol = app.user("carol", SystemRole::User, vec![]).await;
    let mallory = app
        .user("mallory", SystemRole::User, vec![(other.id, ROLE_ORG_USER)])
        .await;
    let asset = Asset {
        id: AssetId(uuid::Uuid::parse_str("b4f205af-4353-49ef-befa-ff9095d52a27").unwrap()),
        org_id: DEFAULT_ORG,
        name: "db01".into(),
        address: "10.0.0.5".into(),
        platform: "Linux".into(),
        is_active: true,
        node_ids: vec![],
        comment: String::new(),
        created_at: now,
        updated_at: now,
    };
    app.engine
        .create_asset(&admin, asset.clone())
        .await
        .unwrap();
    let level = |who: &Actor| Level {
        selector: Selector::Ids {
            ids: vec![who.id()],
        },
        mode: LevelMode::Any,
        name: String::new(),
        attributes: Value::Null,
    };
    let levels = [level(&bob), level(&carol)]
        .into_iter()
        .take(levels)
        .collect();
    app.engine
        .create_flow(
            &admin,
            FlowInput {
                org_id: DEFAULT_ORG,
                name: "Prod access".into(),
                description: String::new(),
                kinds: vec!["apply_asset".into()],
                is_default: false,
                enabled: true,
                levels,
                cc_users: vec![],
                attributes: Value::Null,
            },
            now,
        )
        .await
        .unwrap();
    World {
        app,
        asset,
        alice,
        bob,
        carol,
        mallory,
    }
}

fn open_body(title: &str) -> Value {
    json!({
        "title": title,
        "org_id": "00000000-0000-0000-0000-000000000002",
        "apply_assets": ["b4f205af-4353-49ef-befa-ff9095d52a27"],
        "apply_accounts": ["root", "@INPUT"],
        "apply_actions": ["connect", "upload"],
        "apply_date_start": "2026/08/21 10:00:00 +0800",
        "apply_date_expired": "2026/08/28 10:00:00 +0800",
        "comment": "incident 42"
    })
}

async fn open(w: &World, title: &str) -> Value {
    let (status, body) = w
        .app
        .call("POST", OPEN, "alice", Some(open_body(title)))
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

fn path(kind_prefix: &str, id: &Value, action: &str) -> String {
    format!(
        "/api/v1/tickets/{kind_prefix}/{}/{action}",
        id.as_str().unwrap()
    )
}

#[tokio::test]
async fn open_answers_201_with_the_typed_serializer() {
    let w = world(2).await;
    let (status, t) = w
        .app
        .call_with(
            "POST",
            OPEN,
            "alice",
            Some(open_body("Need prod DB access")),
            &[("X-TZ", "Asia/Shanghai")],
        )
        .await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(t["title"], "Need prod DB access");
    assert_eq!(
        t["type"],
        json!({"value": "apply_asset", "label": "Apply for asset"})
    );
    assert_eq!(
        t["state"],
        json!({"value": "pending", "label": "Pending approval"})
    );
    assert_eq!(
        t["status"],
        json!({"value": "open", "label": "Pending approval"})
    );
    assert_eq!(
        t["approval_step"],
        json!({"value": 1, "label": "One level"})
    );
    assert_eq!(t["applicant"], "Alice(alice)");
    assert_eq!(t["org_name"], "DEFAULT", "as JumpServer names it");
    assert_eq!(
        t["apply_assets"],
        json!([{"id": w.asset.id.to_string(), "name": "db01"}])
    );
    assert_eq!(t["apply_accounts"], json!(["root", "@INPUT"]));
    assert_eq!(
        t["apply_actions"][1],
        json!({"value": "upload", "label": "Upload (RDP, SFTP)"})
    );
    assert_eq!(t["apply_date_start"], "2026/08/21 10:00:00 +0800");
    assert_eq!(t["apply_date_expired"], "2026/08/28 10:00:00 +0800");
    assert_eq!(
        t["rel_snapshot"],
        json!({"applicant": "Alice(alice)", "apply_nodes": [], "apply_assets": ["db01(10.0.0.5)"]})
    );
    assert!(t["serial_num"].as_str().unwrap().len() == 12);
    assert!(
        t["apply_permission_name"]
            .as_str()
            .unwrap()
            .starts_with("Created by ticket (Need prod DB access-")
    );
    let map = &t["process_map"];
    assert_eq!(map.as_array().unwrap().len(), 2);
    assert_eq!(map[0]["assignees"], json!([w.bob.id().to_string()]));
    assert_eq!(map[0]["assignees_display"], json!(["Bob(bob)"]));
    assert_eq!(map[0]["state"], "pending");
    assert_eq!(map[0]["processor"], "");
    assert!(
        map[0]["approval_date"]
            .as_str()
            .unwrap()
            .ends_with("+00:00")
    );
    assert_eq!(t["comment"], "incident 42");
    assert!(t["date_created"].as_str().unwrap().ends_with("+0800"));
    let detail_with = |header: (&'static str, &'static str)| {
        let detail = path("apply-asset-tickets", &t["id"], "");
        let app = &w.app;
        async move {
            app.call_with("GET", &detail, "alice", None, &[header])
                .await
                .1
        }
    };
    let zh = detail_with(("Accept-Language", "zh-CN,zh;q=0.9")).await;
    assert_eq!(zh["state"]["label"], "审批中");
    assert_eq!(zh["type"]["label"], "申请资产");
    // The open answer is the ticket's detail, field for field.
    assert_eq!(detail_with(("X-TZ", "Asia/Shanghai")).await, t);
}

#[tokio::test]
async fn a_two_level_flow_needs_both_approvers_and_creates_the_asset_permission_once() {
    let w = world(2).await;
    let t = open(&w, "two levels").await;
    let approve = path("apply-asset-tickets", &t["id"], "approve/");
    let (status, body) = w.app.call("PUT", &approve, "carol", Some(json!({}))).await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("ticket_state_changed")),
        "carol is on level 2"
    );
    let (status, body) = w.app.call("PATCH", &approve, "bob", Some(json!({}))).await;
    assert_eq!((status, body.clone()), (200, json!("ok")), "{body}");
    let (_, after1) = w
        .app
        .call(
            "GET",
            &format!("/api/v1/tickets/tickets/{}/", t["id"].as_str().unwrap()),
            "alice",
            None,
        )
        .await;
    assert_eq!(after1["approval_step"]["value"], 2);
    assert_eq!(after1["state"]["value"], "pending");
    assert_eq!(after1["process_map"][0]["processor_display"], "Bob(bob)");
    assert_eq!(
        after1["applicant"],
        json!({"id": w.alice.id().to_string(), "name": "Alice"})
    );
    let (status, _) = w.app.call("PUT", &approve, "bob", Some(json!({}))).await;
    assert_eq!(status, 409, "bob already decided");
    let (status, body) = w
        .app
        .call(
            "PUT",
            &approve,
            "carol",
            Some(json!({"apply_accounts": ["@ALL"], "apply_actions": ["all"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, done) = w
        .app
        .call(
            "GET",
            &path("apply-asset-tickets", &t["id"], ""),
            "carol",
            None,
        )
        .await;
    assert_eq!(done["state"]["value"], "approved");
    assert_eq!(done["status"]["value"], "closed");
    assert_eq!(done["apply_accounts"], json!(["@ALL"]));
    assert_eq!(done["apply_actions"].as_array().unwrap().len(), 7);
    // Carol's edit is in her approval's comment as JumpServer's table of changed fields; Bob
    // changed nothing, so his comment is the plain one.
    let (_, comments) = w
        .app
        .call(
            "GET",
            &format!(
                "/api/v1/tickets/comments/?ticket_id={}",
                t["id"].as_str().unwrap()
            ),
            "alice",
            None,
        )
        .await;
    let bodies: Vec<&str> = comments
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies[1], "Bob(bob) approved the ticket", "{comments}");
    let lines: Vec<&str> = bodies[2].lines().collect();
    assert_eq!(
        lines[..5],
        [
            "Carol(carol) approved the ticket",
            "",
            "| Change field | Before change | After change |",
            "| --- | --- | --- |",
            "| Apply accounts | root, @INPUT | @ALL |",
        ],
        "{comments}"
    );
    assert!(
        lines[5].starts_with(
            "| Actions | Connect (All protocols), Upload (RDP, SFTP) | Connect (All protocols), "
        ) && lines[5].ends_with("Share (Web SSH, Web RDP, Web VNC) |"),
        "{comments}"
    );
    assert_eq!(lines.len(), 6, "only what changed: {comments}");
    let (status, body) = w.app.call("PUT", &approve, "carol", Some(json!({}))).await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("ticket_already_processed"))
    );
    let admin = w.app.admin().await;
    let id = uuid::Uuid::parse_str(t["id"].as_str().unwrap()).unwrap();
    let grant = w.app.engine.get_grant(&admin, id).await.unwrap();
    assert_eq!(grant.users, vec![w.alice.id()]);
    assert_eq!(grant.payload["accounts"], json!(["@ALL"]));
    assert_eq!(grant.payload["actions"], 127);
    assert_eq!(grant.created_by, format!("ApplyAssetTicket:{id}"));
}

#[tokio::test]
async fn an_approval_changes_one_date_and_keeps_the_other() {
    let w = world(1).await;
    let t = open(&w, "one date").await;
    let approve = path("apply-asset-tickets", &t["id"], "approve/");
    for (body, field) in [
        (json!({"apply_date_start": null}), "apply_date_start"),
        // After the stored expiry: the pair is checked as it would be stored.
        (
            json!({"apply_date_start": "2026/09/01 10:00:00 +0800"}),
            "apply_date_expired",
        ),
    ] {
        let (status, answer) = w.app.call("PUT", &approve, "bob", Some(body)).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer.get(field).is_some(), "{answer}");
    }
    // Only the expiry: the start is the ticket's (it was refused as required).
    let shorter = json!({"apply_date_expired": "2026/08/25 10:00:00 +0800"});
    let (status, answer) = w.app.call("PUT", &approve, "bob", Some(shorter)).await;
    assert_eq!(status, 200, "{answer}");
    let (_, done) = w
        .app
        .call(
            "GET",
            &path("apply-asset-tickets", &t["id"], ""),
            "alice",
            None,
        )
        .await;
    assert_eq!(done["state"]["value"], "approved");
    assert_eq!(done["apply_date_start"], "2026/08/21 02:00:00 +0000");
    assert_eq!(done["apply_date_expired"], "2026/08/25 02:00:00 +0000");
}

#[tokio::test]
async fn rejection_at_level_two_and_close_by_the_applicant() {
    let w = world(2).await;
    let t = open(&w, "reject me").await;
    assert_eq!(
        w.app
            .call(
                "PUT",
                &path("apply-asset-tickets", &t["id"], "approve/"),
                "bob",
                None
            )
            .await
            .0,
        200
    );
    let (status, body) = w
        .app
        .call(
            "PUT",
            &path("apply-asset-tickets", &t["id"], "reject/"),
            "carol",
            None,
        )
        .await;
    assert_eq!((status, body), (200, json!("ok")));
    let (_, rejected) = w
        .app
        .call("GET", &path("tickets", &t["id"], ""), "alice", None)
        .await;
    assert_eq!(rejected["state"]["value"], "rejected");
    assert_eq!(rejected["process_map"][1]["state"], "rejected");
    assert_eq!(
        rejected["process_map"][1]["processor"],
        w.carol.id().to_string()
    );
    assert_eq!(
        w.app
            .call("PUT", &path("tickets", &t["id"], "close/"), "alice", None)
            .await
            .0,
        409
    );

    let t2 = open(&w, "close me").await;
    let (status, _) = w
        .app
        .call("PUT", &path("tickets", &t2["id"], "close/"), "alice", None)
        .await;
    assert_eq!(status, 200);
    let (_, closed) = w
        .app
        .call("GET", &path("tickets", &t2["id"], ""), "alice", None)
        .await;
    assert_eq!(closed["state"]["value"], "closed");
    assert_eq!(
        closed["process_map"][0]["processor_display"],
        "Alice(alice)"
    );
    let (status, body) = w
        .app
        .call(
            "PUT",
            &path("apply-asset-tickets", &t2["id"], "reject/"),
            "bob",
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("ticket_already_processed"))
    );
}

#[tokio::test]
async fn unrelated_users_and_other_orgs_see_nothing_and_cannot_act() {
    let w = world(1).await;
    let t = open(&w, "private").await;
    for (method, suffix) in [
        ("GET", ""),
        ("PUT", "approve/"),
        ("PUT", "reject/"),
        ("PUT", "close/"),
    ] {
        let (status, body) = w
            .app
            .call(
                method,
                &path("apply-asset-tickets", &t["id"], suffix),
                "mallory",
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 404, "{method} {suffix}: {body}");
        assert!(!body.to_string().contains("private"));
    }
    let (_, list) = w
        .app
        .call("GET", "/api/v1/tickets/tickets/?limit=10", "mallory", None)
        .await;
    assert_eq!(list["count"], 0);
    let (status, _) = w
        .app
        .call("PUT", &path("tickets", &t["id"], "reject/"), "carol", None)
        .await;
    assert_eq!(status, 404, "carol is unrelated in a one-level flow");
    let (status, body) = w
        .app
        .call(
            "PUT",
            &path("apply-asset-tickets", &t["id"], "approve/"),
            "alice",
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, json!("permission_denied")),
        "no self-approval when others match"
    );
    let mut foreign = open_body("wrong org");
    foreign["org_id"] = json!(w.mallory.memberships[0].org_id.to_string());
    let (status, body) = w.app.call("POST", OPEN, "alice", Some(foreign)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["org_id"].is_array(), "{body}");
}

#[tokio::test]
async fn bulk_approve_processes_each_ticket_and_stops_at_the_first_refusal() {
    let w = world(1).await;
    let a = open(&w, "bulk a").await;
    let b = open(&w, "bulk b").await;
    let bulk = "/api/v1/tickets/apply-asset-tickets/bulk/";
    let (status, body) = w
        .app
        .call(
            "PUT",
            &format!("{bulk}?action=explode"),
            "bob",
            Some(json!({"tickets": []})),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": "The parameter 'action' must be [approve,reject]"})
        )
    );
    let (status, body) = w
        .app
        .call(
            "PUT",
            &format!("{bulk}?action=approve"),
            "bob",
            Some(json!({"tickets": [a["id"], b["id"]]})),
        )
        .await;
    assert_eq!((status, body), (200, json!("ok")));
    for t in [&a, &b] {
        let (_, shown) = w
            .app
            .call("GET", &path("tickets", &t["id"], ""), "alice", None)
            .await;
        assert_eq!(shown["state"]["value"], "approved");
    }
    let c = open(&w, "bulk c").await;
    let (status, body) = w
        .app
        .call(
            "PUT",
            &format!("{bulk}?action=reject"),
            "alice",
            Some(json!({"tickets": [c["id"]]})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "User does not have permission: bulk c(Alice(alice))"
    );
}

/// A ticket of a bulk approval that another finishes meanwhile (its applicant closes it) is
/// skipped as a ticket that was not pending (§4.6), not answered as a missing permission, and
/// the rest of the list is approved: the outcome of some serial order. Each round closes ten
/// tickets while the bulk approves them; before the fix most rounds answered 400.
#[tokio::test]
async fn a_bulk_approval_skips_tickets_finished_meanwhile() {
    let w = world(1).await;
    let bulk = "/api/v1/tickets/apply-asset-tickets/bulk/?action=approve";
    for round in 0..5 {
        let mut tickets = Vec::new();
        for n in 0..10 {
            tickets.push(open(&w, &format!("race {round}.{n}")).await["id"].clone());
        }
        let closes: Vec<_> = tickets
            .iter()
            .map(|id| {
                let request = w
                    .app
                    .client
                    .put(w.app.url(&path("apply-asset-tickets", id, "close/")))
                    .header("Authorization", "Token alice");
                tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
            })
            .collect();
        let approved = w
            .app
            .call("PUT", bulk, "bob", Some(json!({"tickets": tickets})))
            .await;
        let mut closed = Vec::new();
        for close in closes {
            closed.push(close.await.unwrap());
        }
        assert_eq!(approved, (200, json!("ok")), "round {round}");
        for status in closed {
            assert!([200, 409].contains(&status), "round {round}: {status}");
        }
        for id in &tickets {
            let (_, shown) = w
                .app
                .call("GET", &path("tickets", id, ""), "alice", None)
                .await;
            let state = &shown["state"]["value"];
            assert!(
                state == "approved" || state == "closed",
                "round {round}: {state}"
            );
        }
    }
}

/// Forms are read as DRF reads them (§4: "form/multipart also parsed"): a list field's values,
/// one or several, make a list; any other field is its text. A URL-encoded body that is JSON
/// (`curl -d '{…}'`) is still read as JSON.
#[tokio::test]
async fn form_and_multipart_bodies_are_read_as_drf_reads_them() {
    let w = world(1).await;
    let form = "title=Form+ticket&org_id=00000000-0000-0000-0000-000000000002\
                &apply_assets=b4f205af-4353-49ef-befa-ff9095d52a27&apply_accounts=root\
                &apply_actions=connect&apply_actions=upload\
                &apply_date_start=2026%2F08%2F21+10%3A00%3A00+%2B0800\
                &apply_date_expired=2026%2F08%2F28+10%3A00%3A00+%2B0800&comment=via+form";
    let form_type = "application/x-www-form-urlencoded";
    let (status, t) = w.app.call_raw("POST", OPEN, "alice", form_type, form).await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(t["title"], "Form ticket");
    assert_eq!(t["comment"], "via form");
    assert_eq!(t["apply_accounts"], json!(["root"]));
    assert_eq!(t["apply_actions"].as_array().unwrap().len(), 2, "{t}");
    assert_eq!(t["apply_assets"].as_array().unwrap().len(), 1, "{t}");

    let comments = format!(
        "/api/v1/tickets/comments/?ticket_id={}",
        t["id"].as_str().unwrap()
    );
    let multipart = "--b0undary\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\n\
                     line one\r\nline two\r\n--b0undary--\r\n";
    for (content_type, body, kept) in [
        (
            "multipart/form-data; boundary=b0undary",
            multipart,
            "line one\r\nline two",
        ),
        (
            form_type,
            r#"{"body": "json all the same"}"#,
            "json all the same",
        ),
    ] {
        let (status, created) = w
            .app
            .call_raw("POST", &comments, "bob", content_type, body)
            .await;
        assert_eq!(status, 201, "{content_type}: {created}");
        assert_eq!(created["body"], kept);
    }

    let many_fields = "a=1&".repeat(1_001);
    let refusals = [
        (
            "multipart/form-data",
            "--x\r\n",
            "Multipart form parse error - Invalid boundary in multipart: None",
        ),
        (
            "multipart/form-data; boundary=x",
            "--x\r\nContent-Disposition: form-data; name=body\r\n\r\nunfinished",
            "Multipart form parse error - the closing boundary is missing",
        ),
        (form_type, "body=a%00b", "Null characters are not allowed."),
        (
            form_type,
            many_fields.as_str(),
            "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS (1000).",
        ),
    ];
    for (content_type, body, detail) in refusals {
        let (status, refused) = w
            .app
            .call_raw("POST", &comments, "bob", content_type, body.to_owned())
            .await;
        assert_eq!(status, 400, "{content_type}: {refused}");
        assert_eq!(refused["detail"], detail, "{content_type}");
    }
    // A form without the required field is refused as its JSON twin is.
    let (status, refused) = w
        .app
        .call_raw("POST", &comments, "bob", form_type, "other=1")
        .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused, json!({"body": ["This field is required."]}));
}

#[tokio::test]
async fn comments_are_listed_with_state_comments_and_written_by_related_users() {
    let w = world(1).await;
    // Text fields lose their leading and trailing whitespace, as DRF's `CharField` trims
    // (they were kept, padding the permission's name too).
    let mut padded = open_body("\u{1c}  chat \n\u{1f}");
    padded["comment"] = json!("\t incident 42  ");
    let (status, t) = w.app.call("POST", OPEN, "alice", Some(padded)).await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(
        (t["title"].as_str(), t["comment"].as_str()),
        (Some("chat"), Some("incident 42"))
    );
    assert!(
        t["apply_permission_name"]
            .as_str()
            .unwrap()
            .starts_with("Created by ticket (chat-"),
        "{t}"
    );
    let url = format!(
        "/api/v1/tickets/comments/?ticket_id={}",
        t["id"].as_str().unwrap()
    );
    let (status, created) = w
        .app
        .call(
            "POST",
            &url,
            "bob",
            Some(json!({"body": " which database?\n"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["body"], "which database?");
    assert_eq!(created["user_display"], "Bob(bob)");
    assert_eq!(created["ticket"], t["id"]);
    assert_eq!(
        w.app
            .call("POST", &url, "mallory", Some(json!({"body": "hi"})))
            .await
            .0,
        400
    );
    let (status, list) = w.app.call("GET", &url, "alice", None).await;
    assert_eq!(status, 200);
    let bodies: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        vec!["Alice(alice) opened the ticket", "which database?"]
    );
    let (status, body) = w
        .app
        .call(
            "GET",
            "/api/v1/tickets/comments/?ticket_id=nope",
            "alice",
            None,
        )
        .await;
    assert_eq!(
        (status, body["detail"].clone()),
        (400, json!("Not found Ticket object about `id=nope`"))
    );
    let (status, one) = w
        .app
        .call(
            "GET",
            &format!(
                "/api/v1/tickets/comments/{}/?ticket_id={}",
                created["id"].as_str().unwrap(),
                t["id"].as_str().unwrap()
            ),
            "alice",
            None,
        )
        .await;
    assert_eq!(
        (status, one["body"].clone()),
        (200, json!("which database?"))
    );
    assert_eq!(
        w.app.call("POST", &url, "bob", Some(json!({}))).await.0,
        400
    );
}

#[tokio::test]
async fn lists_filter_search_order_and_paginate() {
    let w = world(1).await;
    let mut ids = Vec::new();
    for title in ["alpha db", "beta web", "gamma db"] {
        ids.push(open(&w, title).await["id"].as_str().unwrap().to_owned());
    }
    let (_, all) = w
        .app
        .call("GET", "/api/v1/tickets/tickets/", "alice", None)
        .await;
    assert_eq!(all.as_array().unwrap().len(), 3, "no limit: a plain array");
    let (_, page) = w
        .app
        .call(
            "GET",
            "/api/v1/tickets/tickets/?limit=2&offset=0",
            "alice",
            None,
        )
        .await;
    assert_eq!(page["count"], 3);
    assert_eq!(page["results"].as_array().unwrap().len(), 2);
    assert!(
        page["next"]
            .as_str()
            .unwrap()
            .ends_with("/api/v1/tickets/tickets/?limit=2&offset=2")
    );
    assert_eq!(page["previous"], Value::Null);
    let titles = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let (_, found) = w
        .app
        .call(
            "GET",
            "/api/v1/tickets/tickets/?search=db&order=title",
            "alice",
            None,
        )
        .await;
    assert_eq!(titles(&found), vec!["alpha db", "gamma db"]);
    let (_, found) = w
        .app
        .call(
            "GET",
            "/api/v1/tickets/tickets/?search=alpha|beta&order=-title",
            "alice",
            None,
        )
        .await;
    assert_eq!(titles(&found), vec!["beta web", "alpha db"]);
    let (_, found) = w
        .app
        .call(
            "GET",
            "/api/v1/tickets/tickets/?state=pending&status=open&type=apply_asset",
            "alice",
            None,
        )
        .await;
    assert_eq!(found.as_array().unwrap().len(), 3);
    let (_, found) = w
        .app
        .call(
            "GET",
            "/api/v1/tickets/tickets/?state=approved",
            "alice",
            None,
        )
        .await;
    assert_eq!(found.as_array().unwrap().len(), 0);
    let (_, found) = w
        .app
        .call(
            "GET",
            "/api/v1/tickets/tickets/?id=not-a-uuid",
            "alice",
            None,
        )
        .await;
    assert_eq!(found, json!([]));
    let mine = format!(
        "/api/v1/tickets/tickets/?assignees__id={}&limit=20",
        w.bob.id()
    );
    let (_, awaiting) = w.app.call("GET", &mine, "bob", None).await;
    assert_eq!(awaiting["count"], 3);
    let (_, by_asset) = w
        .app
        .call(
            "GET",
            "/api/v1/tickets/apply-asset-tickets/?relevant_asset=10.0.0.5",
            "alice",
            None,
        )
        .await;
    assert_eq!(by_asset.as_array().unwrap().len(), 3);
    // The content's other fields do not count: every ticket asks for the account "root". A
    // typed list filtered by its own type lists its tickets; by another, or an unknown one,
    // nothing (the filter was dropped, and every ticket listed).
    for (query, listed) in [
        ("relevant_asset=root", 0),
        ("relevant_command=root", 0),
        ("relevant_command=%22", 0),
        ("type=apply_asset", 3),
        ("type=login_confirm", 0),
        ("type=bogus", 0),
    ] {
        let (status, found) = w
            .app
            .call(
                "GET",
                &format!("/api/v1/tickets/apply-asset-tickets/?{query}"),
                "alice",
                None,
            )
            .await;
        assert_eq!(status, 200, "{query}");
        assert_eq!(found.as_array().unwrap().len(), listed, "{query}: {found}");
    }
    let (_, by_name) = w
        .app
        .call(
            "GET",
            "/api/v1/tickets/tickets/?applicant_username_name=ALI&fields=id,title",
            "bob",
            None,
        )
        .await;
    assert_eq!(by_name.as_array().unwrap()[0].as_object().unwrap().len(), 2);
    // With pagination, `fields` trims the tickets, not the page (it answered `{}`).
    let (_, paged) = w
        .app
        .call(
            "GET",
            "/api/v1/tickets/tickets/?applicant_username_name=ALI&limit=2&fields=id,title",
            "bob",
            None,
        )
        .await;
    assert_eq!(paged["count"], by_name.as_array().unwrap().len(), "{paged}");
    let first = paged["results"][0].as_object().unwrap();
    assert_eq!(first.keys().collect::<Vec<_>>(), ["id", "title"], "{paged}");
    // `fields_size` keeps the serializer's mini or small fields (§4.3), in a list and a detail.
    for (size, fields) in [
        ("mini", &["id", "title"][..]),
        ("small", &["id", "title", "org_id", "flow", "comment"][..]),
    ] {
        let (_, sized) = w
            .app
            .call(
                "GET",
                &format!("/api/v1/tickets/tickets/?applicant_username_name=ALI&limit=2&fields_size={size}"),
                "bob",
                None,
            )
            .await;
        let first = sized["results"][0].as_object().unwrap();
        assert_eq!(first.keys().collect::<Vec<_>>(), fields, "{sized}");
        let detail = format!(
            "/api/v1/tickets/tickets/{}/?fields_size={size}",
            first["id"].as_str().unwrap()
        );
        let (status, one) = w.app.call("GET", &detail, "bob", None).await;
        assert_eq!(status, 200, "{one}");
        assert_eq!(
            one.as_object().unwrap().keys().collect::<Vec<_>>(),
            fields,
            "{one}"
        );
    }
    let (_, dropped) = w
        .app
        .call(
            "GET",
            "/api/v1/tickets/tickets/?applicant_username_name=ALI&limit=2&fields!=process_map",
            "bob",
            None,
        )
        .await;
    let first = dropped["results"][0].as_object().unwrap();
    assert!(
        first.contains_key("title") && !first.contains_key("process_map"),
        "{dropped}"
    );
    // Pages are serialized straight from the tickets; with `fields` they go through JSON values
    // first. Both must give the same document, field order included.
    let id = by_name[0]["id"].as_str().unwrap();
    let detail = format!("/api/v1/tickets/tickets/{id}/");
    let asset_ticket = by_asset[0]["id"].as_str().unwrap();
    let typed_detail = format!("/api/v1/tickets/apply-asset-tickets/{asset_ticket}/");
    for (list, who) in [
        ("/api/v1/tickets/tickets/?limit=5", "bob"),
        ("/api/v1/tickets/apply-asset-tickets/?limit=5", "alice"),
        ("/api/v1/tickets/apply-asset-tickets/", "alice"),
        (detail.as_str(), "alice"),
        (typed_detail.as_str(), "alice"),
    ] {
        let (_, direct) = w.app.call("GET", list, who, None).await;
        let joiner = if list.contains('?') { '&' } else { '?' };
        let through_values = format!("{list}{joiner}fields!=none");
        let (_, trimmed) = w.app.call("GET", &through_values, who, None).await;
        assert!(direct.to_string().len() > 100, "{direct}");
        assert_eq!(direct.to_string(), trimmed.to_string(), "{list}");
    }
    // `search` tests the title, the type and the status (open, closed), not the state; `order`
    // by status puts closed before open.
    let close = format!("/api/v1/tickets/tickets/{}/close/", ids[1]);
    assert_eq!(w.app.call("PUT", &close, "alice", None).await.0, 200);
    for (query, expected) in [
        ("search=open&order=title", vec!["alpha db", "gamma db"]),
        ("search=CLOSED", vec!["beta web"]),
        ("search=pending", vec![]),
        ("search=db,open&order=-title", vec!["gamma db", "alpha db"]),
        ("order=status", vec!["beta web", "gamma db", "alpha db"]),
        ("order=-status", vec!["gamma db", "alpha db", "beta web"]),
    ] {
        let (_, found) = w
            .app
            .call(
                "GET",
                &format!("/api/v1/tickets/tickets/?{query}"),
                "alice",
                None,
            )
            .await;
        assert_eq!(titles(&found), expected, "{query}");
    }
}

/// §5's dynamic text lookups on the title and serial number, case-insensitive for every
/// letter (they were ignored, and the whole list came back), and `days` refused when it is not
/// a number (it was ignored too).
#[tokio::test]
async fn text_lookups_narrow_the_list_and_days_must_be_a_number() {
    let w = world(1).await;
    let mut serials = Vec::new();
    for title in ["Ünïcödé db", "beta web", "gamma DB"] {
        serials.push(
            open(&w, title).await["serial_num"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let titles = |query: String| {
        let app = &w.app;
        async move {
            let (status, found) = app
                .call(
                    "GET",
                    &format!("/api/v1/tickets/tickets/?order=title&{query}"),
                    "alice",
                    None,
                )
                .await;
            assert_eq!(status, 200, "{query}: {found}");
            found
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["title"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let encode = crate::zstack::enc;
    for (query, expected) in [
        (
            format!("title__icontains={}", encode("ünï")),
            vec!["Ünïcödé db"],
        ),
        (format!("search={}", encode("ÜNÏCÖDÉ")), vec!["Ünïcödé db"]),
        (
            format!("title={}", encode("ünïcödé DB")),
            vec!["Ünïcödé db"],
        ),
        ("title__startswith=gam".to_owned(), vec!["gamma DB"]),
        ("title__startswith=GAM".to_owned(), vec![]),
        ("title__startswith=db".to_owned(), vec![]),
        (
            "title__icontains_any=web,gamma".to_owned(),
            vec!["beta web", "gamma DB"],
        ),
        ("title__icontains_all=db,gamma".to_owned(), vec!["gamma DB"]),
        ("title__icontains!=DB".to_owned(), vec!["beta web"]),
        (
            format!("serial_num__startswith={}", serials[1]),
            vec!["beta web"],
        ),
        (
            "days=1.5".to_owned(),
            vec!["beta web", "gamma DB", "Ünïcödé db"],
        ),
        ("days__lt=1".to_owned(), vec![]),
    ] {
        assert_eq!(titles(query.clone()).await, expected, "{query}");
    }
    for query in ["days=abc", "days__lt=1e999", "days=NaN"] {
        let (status, body) = w
            .app
            .call(
                "GET",
                &format!("/api/v1/tickets/tickets/?{query}"),
                "alice",
                None,
            )
            .await;
        let key = query.split('=').next().unwrap();
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body, json!({key: ["Enter a number."]}), "{query}");
    }
}

#[tokio::test]
async fn unsupported_methods_bad_ids_and_bad_bodies_get_dialect_errors() {
    let w = world(1).await;
    // An id that does not decode to UTF-8 names nothing: JumpServer's JSON 404 on every route
    // with an id (axum's own rejection answered 400 in plain text).
    for route in [
        "/api/v1/tickets/tickets/%FF/",
        "/api/v1/tickets/apply-asset-tickets/%FF/",
        "/api/v1/tickets/flows/%C0%AF/",
        "/api/v1/users/users/%ED%A0%80/",
        "/api/v1/orgs/orgs/%FF/",
        "/api/v1/assets/assets/%FF/",
        "/api/v1/assets/nodes/%FF/",
        "/api/v1/perms/asset-permissions/%FF/",
        "/api/v1/authentication/access-keys/%FF/",
        "/api/v1/audits/tickets/%FF/",
    ] {
        let (status, body) = w.app.call("GET", route, ADMIN_TOKEN, None).await;
        assert_eq!(status, 404, "{route}: {body}");
        assert_eq!(body["code"], "not_found", "{route}: {body}");
    }
    let approve = "/api/v1/tickets/apply-asset-tickets/%FF/approve/";
    let (status, body) = w
        .app
        .call("PUT", approve, ADMIN_TOKEN, Some(json!({})))
        .await;
    assert_eq!(
        (status, &body["code"]),
        (404, &json!("not_found")),
        "{body}"
    );
    let (status, body) = w
        .app
        .call(
            "POST",
            "/api/v1/tickets/tickets/",
            ADMIN_TOKEN,
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            405,
            json!({"detail": "Method \"create\" not allowed.", "code": "method_not_allowed"})
        )
    );
    let t = open(&w, "methods").await;
    assert_eq!(
        w.app
            .call("PUT", &path("tickets", &t["id"], "approve/"), "bob", None)
            .await
            .0,
        405
    );
    assert_eq!(
        w.app
            .call("DELETE", &path("tickets", &t["id"], ""), "alice", None)
            .await
            .0,
        405
    );
    let (status, body) = w
        .app
        .call("GET", "/api/v1/tickets/tickets/not-a-uuid/", "alice", None)
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (404, json!("object_does_not_exist"))
    );
    let (status, body) = w.app.call("POST", OPEN, "alice", Some(json!({}))).await;
    assert_eq!(status, 400);
    for field in ["title", "org_id", "apply_date_start", "apply_date_expired"] {
        assert_eq!(body[field][0], "This field is required.", "{field}: {body}");
    }
    let mut backwards = open_body("backwards");
    backwards["apply_date_expired"] = json!("2026/08/20 10:00:00 +0800");
    let (status, body) = w.app.call("POST", OPEN, "alice", Some(backwards)).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"apply_date_expired": ["The expiration date should be greater than the start date"]})
        )
    );
    let mut unknown = open_body("unknown asset");
    unknown["apply_assets"] = json!(["8e5b1c4e-2f0a-4c7e-9d59-0a3c4b1f6d11"]);
    let (_, body) = w.app.call("POST", OPEN, "alice", Some(unknown)).await;
    assert_eq!(
        body["apply_assets"][0],
        "Invalid pk \"8e5b1c4e-2f0a-4c7e-9d59-0a3c4b1f6d11\" - object does not exist."
    );
    let mut bad_types = open_body("types");
    bad_types["apply_actions"] = json!("connect");
    bad_types["apply_date_start"] = json!(42);
    bad_types["title"] = json!(["x"]);
    let (status, body) = w.app.call("POST", OPEN, "alice", Some(bad_types)).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["apply_actions"][0],
        "Invalid data type, should be list"
    );
    assert!(
        body["apply_date_start"][0]
            .as_str()
            .unwrap()
            .starts_with("Datetime has wrong format")
    );
    assert_eq!(body["title"][0], "Not a valid string.");
    let (status, _) = w.app.call("POST", OPEN, "alice", Some(json!([1, 2]))).await;
    assert_eq!(status, 400);
}

/// `applicant` is honoured for system administrators only and ignored for anyone else, who
/// opens the ticket as themselves (JumpServer's `tickets.add_superticket`; it answered 403).
#[tokio::test]
async fn the_applicant_field_is_honoured_for_administrators_and_ignored_for_others() {
    let w = world(1).await;
    let mut body = open_body("for alice");
    body["applicant"] = json!(w.alice.id().to_string());
    let (status, t) = w.app.call("POST", OPEN, "carol", Some(body.clone())).await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(t["applicant"], "Carol(carol)");
    let (status, t) = w.app.call("POST", OPEN, ADMIN_TOKEN, Some(body)).await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(t["applicant"], "Alice(alice)");
}

#[tokio::test]
async fn admins_open_system_tickets_with_explicit_reviewers() {
    let w = world(1).await;
    let body = json!({
        "title": "Command confirm",
        "applicant": w.alice.id().to_string(),
        "assignees": [w.bob.id().to_string()],
        "apply_run_asset": "db01(10.0.0.5)",
        "apply_run_command": "rm -rf /tmp/cache",
        "apply_run_account": "root",
        "apply_run_user": w.alice.id().to_string(),
    });
    let url = "/api/v1/tickets/apply-command-tickets/open/";
    assert_eq!(
        w.app.call("POST", url, "alice", Some(body.clone())).await.0,
        403
    );
    // A reviewer who is nobody is refused, not dropped.
    let mut nobody = body.clone();
    nobody["assignees"] = json!([
        w.bob.id().to_string(),
        "00000000-0000-0000-0000-00000000abcd"
    ]);
    let (status, answer) = w.app.call("POST", url, ADMIN_TOKEN, Some(nobody)).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer["assignees"],
        json!(["Invalid pk \"00000000-0000-0000-0000-00000000abcd\" - object does not exist."])
    );
    let (status, t) = w.app.call("POST", url, ADMIN_TOKEN, Some(body)).await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(t["type"]["value"], "command_confirm");
    assert_eq!(t["applicant"], "Alice(alice)");
    assert_eq!(t["apply_run_command"], "rm -rf /tmp/cache");
    assert_eq!(
        t["apply_run_user"],
        json!({"id": w.alice.id().to_string(), "name": "Alice"})
    );
    assert_eq!(t["org_id"], "00000000-0000-0000-0000-000000000000");
    let (_, mine) = w
        .app
        .call(
            "GET",
            "/api/v1/tickets/apply-command-tickets/?relevant_command=rm%20-rf",
            "alice",
            None,
        )
        .await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    // The command's asset text, and only the fields each filter names.
    for (query, count) in [
        ("relevant_asset=DB01(10.0", 1),
        ("relevant_asset=rm%20-rf", 0),
        ("relevant_command=root", 0),
    ] {
        let (_, found) = w
            .app
            .call(
                "GET",
                &format!("/api/v1/tickets/apply-command-tickets/?{query}"),
                "alice",
                None,
            )
            .await;
        assert_eq!(found.as_array().unwrap().len(), count, "{query}: {found}");
    }
    let (status, _) = w
        .app
        .call(
            "PUT",
            &path("apply-command-tickets", &t["id"], "approve/"),
            "bob",
            Some(json!({"ignored": true})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, state) = w
        .app
        .call(
            "GET",
            &format!(
                "/api/v1/tickets/super-tickets/{}/status/",
                t["id"].as_str().unwrap()
            ),
            "alice",
            None,
        )
        .await;
    assert_eq!(
        state,
        json!({
            "id": t["id"],
            "status": {"value": "closed", "label": "Completed"},
            "state": {"value": "approved", "label": "Approved"},
            "processor": "Bob(bob)"
        })
    );
    let (status, _) = w
        .app
        .call(
            "GET",
            &path("apply-asset-tickets", &t["id"], ""),
            "alice",
            None,
        )
        .await;
    assert_eq!(status, 404, "a command ticket is not an apply_asset ticket");
}

#[tokio::test]
async fn super_ticket_delete_closes_for_system_admins_only() {
    let w = world(1).await;
    let t = open(&w, "super").await;
    let url = format!(
        "/api/v1/tickets/super-tickets/{}/status/",
        t["id"].as_str().unwrap()
    );
    assert_eq!(w.app.call("DELETE", &url, "alice", None).await.0, 403);
    let (status, body) = w.app.call("DELETE", &url, ADMIN_TOKEN, None).await;
    assert_eq!(status, 204, "{body}");
    let (_, state) = w.app.call("GET", &url, "alice", None).await;
    assert_eq!(state["state"]["value"], "closed");
}

#[tokio::test]
async fn the_audit_list_shows_every_ticket_of_the_org_to_auditors_only() {
    let w = world(1).await;
    let audited = open(&w, "audited").await;
    let (status, list) = w
        .app
        .call("GET", "/api/v1/audits/tickets/?limit=10", ADMIN_TOKEN, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["count"], 1);
    assert_eq!(list["results"][0]["applicant"]["name"], "Alice");
    assert_eq!(
        w.app
            .call("GET", "/api/v1/audits/tickets/", "alice", None)
            .await
            .0,
        403
    );
    let (_, mine) = w
        .app
        .call("GET", "/api/v1/tickets/tickets/", ADMIN_TOKEN, None)
        .await;
    assert_eq!(
        mine,
        json!([]),
        "the admin is not related to alice's ticket"
    );
    let other: OrgId = w.mallory.memberships[0].org_id;
    let (_, other_list) = w
        .app
        .call_with(
            "GET",
            "/api/v1/audits/tickets/",
            ADMIN_TOKEN,
            None,
            &[("X-JMS-ORG", &other.to_string())],
        )
        .await;
    assert_eq!(other_list, json!([]));
    // The detail has the list's scope: read from another organization, Default's ticket is not
    // found (a system role read it); from Default or the global organization it is.
    let url = format!(
        "/api/v1/audits/tickets/{}/",
        audited["id"].as_str().unwrap()
    );
    for (org, status) in [
        (other.to_string(), 404),
        (DEFAULT_ORG.to_string(), 200),
        ("00000000-0000-0000-0000-000000000000".to_owned(), 200),
    ] {
        let (got, body) = w
            .app
            .call_with("GET", &url, ADMIN_TOKEN, None, &[("X-JMS-ORG", &org)])
            .await;
        assert_eq!(got, status, "{org}: {body}");
    }
    // In Default, the organization filters narrow Default's list: another organization's id
    // or name finds nothing, Default's own finds the ticket.
    for (query, count) in [
        (format!("org_id={other}"), 0),
        (format!("org_id__in={other}"), 0),
        ("org_name=zzz-no-such-org".to_owned(), 0),
        (format!("org_id={DEFAULT_ORG}"), 1),
        ("org_name=default".to_owned(), 1),
    ] {
        let (status, found) = w
            .app
            .call(
                "GET",
                &format!("/api/v1/audits/tickets/?limit=10&{query}"),
                ADMIN_TOKEN,
                None,
            )
            .await;
        assert_eq!(status, 200, "{query}");
        assert_eq!(found["count"], count, "{query}: {found}");
    }
}

#[tokio::test]
async fn asset_and_node_suggestions_search_the_current_org() {
    let w = world(1).await;
    let (status, found) = w
        .app
        .call(
            "GET",
            "/api/v1/tickets/apply-assets/suggestions/?search=db",
            "alice",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(found[0]["name"], "db01");
    let (_, none) = w
        .app
        .call(
            "GET",
            "/api/v1/tickets/apply-assets/suggestions/?search=zzz",
            "alice",
            None,
        )
        .await;
    assert_eq!(none, json!([]));
    let (status, _) = w
        .app
        .call(
            "GET",
            "/api/v1/tickets/apply-assets/suggestions/?search=db",
            "mallory",
            None,
        )
        .await;
    assert_eq!(status, 403, "mallory is not a member of Default");
    let own_org = w.mallory.memberships[0].org_id.to_string();
    let (_, foreign) = w
        .app
        .call_with(
            "GET",
            "/api/v1/tickets/apply-assets/suggestions/?search=db",
            "mallory",
            None,
            &[("X-JMS-ORG", &own_org)],
        )
        .await;
    assert_eq!(foreign, json!([]), "mallory's org has no assets");
    let (status, _) = w
        .app
        .call(
            "GET",
            "/api/v1/tickets/apply-nodes/suggestions/",
            "alice",
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, one) = w
        .app
        .call(
            "GET",
            &format!("/api/v1/tickets/apply-assets/{}/", w.asset.id),
            "alice",
            None,
        )
        .await;
    assert_eq!((status, one["address"].clone()), (200, json!("10.0.0.5")));
    assert_eq!(one["org_name"], "DEFAULT");

    // An asset or node of another organization alice belongs to is found from that one only,
    // named after its own organization (it was found from any, named after the request's).
    let admin = w.app.admin().await;
    let other = w.mallory.memberships[0].org_id;
    w.app
        .engine
        .add_member(Some(&admin), other, w.alice.id(), ROLE_ORG_USER)
        .await
        .unwrap();
    let elsewhere = an_asset_of_mallory_s_org(&w, 0xe15e, "db02").await;
    let node = w
        .app
        .engine
        .create_node(&admin, other, "Racks", None, now())
        .await
        .unwrap();
    let other_org = other.to_string();
    for (path, name) in [
        (
            format!("/api/v1/tickets/apply-assets/{}/", elsewhere.id),
            "db02",
        ),
        (format!("/api/v1/tickets/apply-nodes/{}/", node.id), "Racks"),
    ] {
        let (status, body) = w.app.call("GET", &path, "alice", None).await;
        assert_eq!(status, 404, "{path} from Default: {body}");
        let (status, body) = w
            .app
            .call_with("GET", &path, "alice", None, &[("X-JMS-ORG", &other_org)])
            .await;
        assert_eq!((status, body["name"].clone()), (200, json!(name)), "{body}");
        assert_eq!(body["org_id"], other_org);
    }
    let (_, body) = w
        .app
        .call_with(
            "GET",
            &format!("/api/v1/tickets/apply-assets/{}/", elsewhere.id),
            "alice",
            None,
            &[("X-JMS-ORG", &other_org)],
        )
        .await;
    assert_eq!(body["org_name"], "Other");
    let (status, body) = w
        .app
        .call_with(
            "GET",
            &format!("/api/v1/tickets/apply-assets/{}/", w.asset.id),
            "alice",
            None,
            &[("X-JMS-ORG", &other_org)],
        )
        .await;
    assert_eq!(status, 404, "{body}");
    // From the global organization every asset is listed under its own organization's name.
    let (status, page) = w
        .app
        .call_with(
            "GET",
            "/api/v1/tickets/apply-assets/?limit=10",
            ADMIN_TOKEN,
            None,
            &[("X-JMS-ORG", "00000000-0000-0000-0000-000000000000")],
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let mut names: Vec<(String, String)> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["org_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("db01".into(), "DEFAULT".into()),
            ("db02".into(), "Other".into())
        ]
    );
}

/// An asset named `name` with id `id` in mallory's organization, created by the administrator.
async fn an_asset_of_mallory_s_org(w: &World, id: u128, name: &str) -> Asset {
    let mut asset = w.asset.clone();
    asset.id = AssetId(uuid::Uuid::from_u128(id));
    asset.org_id = w.mallory.memberships[0].org_id;
    asset.name = name.into();
    let admin = w.app.admin().await;
    w.app
        .engine
        .create_asset(&admin, asset.clone())
        .await
        .unwrap();
    asset
}

/// `GET path` as `who` with `headers`; answers the page's first ticket.
async fn first_listed(w: &World, path: &str, who: &str, headers: &[(&str, &str)]) -> Value {
    let (status, page) = w.app.call_with("GET", path, who, None, headers).await;
    assert_eq!(status, 200, "{page}");
    page["results"][0].clone()
}

#[tokio::test]
async fn a_list_shows_what_changed_since_the_same_page_was_answered() {
    let w = world(2).await;
    let t = open(&w, "listed again").await;
    let mine = "/api/v1/tickets/tickets/?limit=20";
    let typed = "/api/v1/tickets/apply-asset-tickets/?limit=20";
    let detail_path = format!("/api/v1/tickets/tickets/{}/", t["id"].as_str().unwrap());
    // Each page answered three times: later answers may reuse the earlier renderings.
    for _ in 0..3 {
        let base = first_listed(&w, mine, "bob", &[]).await;
        assert_eq!(base["id"], t["id"]);
        assert_eq!(base["state"]["label"], "Pending approval");
        assert!(base.get("apply_assets").is_none(), "{base}");
        assert_eq!(
            base["rel_snapshot"]["apply_assets"],
            json!(["db01(10.0.0.5)"])
        );
        let typed = first_listed(&w, typed, "bob", &[]).await;
        assert_eq!(typed["apply_assets"][0]["name"], "db01");
        assert_eq!(typed["applicant"], "Alice(alice)");
        let zh = first_listed(&w, mine, "bob", &[("Accept-Language", "zh-CN")]).await;
        assert_eq!(zh["state"]["label"], "审批中");
        let shanghai = first_listed(&w, mine, "bob", &[("X-TZ", "Asia/Shanghai")]).await;
        assert!(
            shanghai["date_created"]
                .as_str()
                .unwrap()
                .ends_with("+0800")
        );
        let alice = first_listed(&w, mine, "alice", &[]).await;
        assert_eq!(alice["id"], t["id"]);
        let (status, detail) = w.app.call("GET", &detail_path, "bob", None).await;
        assert_eq!(status, 200, "{detail}");
        assert_eq!(detail, base, "a detail renders as its list row");
    }
    // A change to what the ticket refers to (not the ticket itself) shows in the next answer.
    let admin = w.app.admin().await;
    let mut renamed = w.asset.clone();
    renamed.name = "db01-primary".into();
    w.app
        .engine
        .update_asset(&admin, renamed.id, AssetChange::all_of(&renamed), now())
        .await
        .unwrap();
    let base = first_listed(&w, mine, "bob", &[]).await;
    assert_eq!(
        base["rel_snapshot"]["apply_assets"],
        json!(["db01-primary(10.0.0.5)"])
    );
    let typed_after = first_listed(&w, typed, "bob", &[]).await;
    assert_eq!(typed_after["apply_assets"][0]["name"], "db01-primary");
    let (_, detail) = w.app.call("GET", &detail_path, "bob", None).await;
    assert_eq!(detail, base);
    // A decision (a new version of the ticket) shows too.
    let approve = path("apply-asset-tickets", &t["id"], "approve/");
    let (status, body) = w.app.call("PUT", &approve, "bob", Some(json!({}))).await;
    assert_eq!(status, 200, "{body}");
    let after = first_listed(&w, mine, "bob", &[]).await;
    assert_eq!(after["approval_step"]["value"], 2);
    assert_eq!(after["process_map"][0]["processor_display"], "Bob(bob)");
}

/// An approver removed from the ticket's organization no longer decides or closes its tickets
/// (JumpServer hides an organization's tickets from those who left it); back in it, they decide
/// again.
#[tokio::test]
async fn an_approver_removed_from_the_organization_no_longer_decides() {
    let w = world(1).await;
    let t = open(&w, "after the move").await;
    let (status, _) = w
        .app
        .call(
            "POST",
            &format!("/api/v1/users/users/{}/remove/", w.bob.id()),
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let approve = path("apply-asset-tickets", &t["id"], "approve/");
    let reject = path("tickets", &t["id"], "reject/");
    let close = path("tickets", &t["id"], "close/");
    for route in [&approve, &reject, &close] {
        let (status, body) = w.app.call("PUT", route, "bob", Some(json!({}))).await;
        assert_eq!(status, 403, "{route}: {body}");
    }
    let admin = w.app.admin().await;
    w.app
        .engine
        .add_member(Some(&admin), DEFAULT_ORG, w.bob.id(), ROLE_ORG_USER)
        .await
        .unwrap();
    let (status, body) = w.app.call("PUT", &approve, "bob", Some(json!({}))).await;
    assert_eq!(status, 200, "{body}");
}

/// A deactivated colleague a level names still counts when the applicant's exclusion is
/// decided, as in JumpServer: the applicant of a flow naming both, or of a system ticket naming
/// both as reviewers, is no approver of their own ticket, which can then only be closed
/// (the applicant became the level's one approver and granted themselves).
#[tokio::test]
async fn a_deactivated_co_approver_does_not_make_the_applicant_their_own_approver() {
    let w = world(1).await;
    let both = json!([w.alice.id().to_string(), w.bob.id().to_string()]);
    let (status, flow) = w
        .app
        .call(
            "PATCH",
            "/api/v1/tickets/flows/",
            ADMIN_TOKEN,
            Some(json!({"type": "apply_asset", "approval_level": 1,
                "rules": [{"users": {"type": "ids", "ids": both}}]})),
        )
        .await;
    assert_eq!(status, 200, "{flow}");
    let t = open(&w, "bob approves").await;
    assert_eq!(
        t["process_map"][0]["assignees"],
        json!([w.bob.id().to_string()])
    );
    let (status, body) = w
        .app
        .call(
            "PATCH",
            &format!("/api/v1/users/users/{}/", w.bob.id()),
            ADMIN_TOKEN,
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let t = open(&w, "nobody approves").await;
    assert_eq!(t["process_map"][0]["assignees"], json!([]), "{t}");
    let approve = path("apply-asset-tickets", &t["id"], "approve/");
    let (status, body) = w.app.call("PUT", &approve, "alice", Some(json!({}))).await;
    assert_eq!(status, 403, "{body}");
    let close = path("tickets", &t["id"], "close/");
    let (status, body) = w.app.call("PUT", &close, "alice", Some(json!({}))).await;
    assert_eq!(status, 200, "{body}");
    let command = json!({
        "title": "Command confirm",
        "applicant": w.alice.id().to_string(),
        "assignees": both,
        "apply_run_asset": "db01(10.0.0.5)",
        "apply_run_command": "uptime",
        "apply_run_account": "root",
        "apply_run_user": w.alice.id().to_string(),
    });
    // A confirmation names its reviewers: the deactivated one is refused, rather than left out
    // (until 2026-12-08 it opened with none).
    let url = "/api/v1/tickets/apply-command-tickets/open/";
    let (status, t) = w.app.call("POST", url, ADMIN_TOKEN, Some(command)).await;
    assert_eq!(status, 400, "{t}");
    assert!(
        t["assignees"][0]
            .as_str()
            .is_some_and(|m| m.contains("no active member")),
        "{t}"
    );
}

/// The assets an asset application grants are its organization's: an approver's edit naming
/// another organization's is dropped, as at the opening; an asset moved to another
/// organization since the opening stops the grant; an asset deleted since does not stop an
/// approval that changes nothing else.
#[tokio::test]
async fn the_assets_a_ticket_grants_stay_in_its_organization() {
    let w = world(1).await;
    let admin = w.app.admin().await;
    let other = w.mallory.memberships[0].org_id;
    let foreign = an_asset_of_mallory_s_org(&w, 0xf0e1, "theirs").await;
    let approve = |t: &Value| path("apply-asset-tickets", &t["id"], "approve/");
    let detail = |t: &Value| path("apply-asset-tickets", &t["id"], "");

    let edited = open(&w, "edited").await;
    let both = json!({"apply_assets": [w.asset.id.to_string(), foreign.id.to_string()]});
    let (status, body) = w
        .app
        .call("PUT", &approve(&edited), "bob", Some(both))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, shown) = w.app.call("GET", &detail(&edited), "alice", None).await;
    assert_eq!(
        shown["apply_assets"].as_array().unwrap().len(),
        1,
        "{shown}"
    );

    let moved = open(&w, "moved").await;
    let mut elsewhere = w.asset.clone();
    elsewhere.org_id = other;
    w.app
        .engine
        .update_asset(&admin, elsewhere.id, AssetChange::all_of(&elsewhere), now())
        .await
        .unwrap();
    let (status, body) = w
        .app
        .call("PUT", &approve(&moved), "bob", Some(json!({})))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("does not exist"), "{body}");
    w.app
        .engine
        .update_asset(&admin, w.asset.id, AssetChange::all_of(&w.asset), now())
        .await
        .unwrap();
    let (status, body) = w
        .app
        .call("PUT", &approve(&moved), "bob", Some(json!({})))
        .await;
    assert_eq!(status, 200, "moved back: {body}");

    // Its one asset deleted since, the application would grant nothing: the approval is
    // refused as JumpServer refuses it, and the approver rejects it instead.
    let gone = open(&w, "gone").await;
    w.app.engine.delete_asset(&admin, w.asset.id).await.unwrap();
    // The deleted asset leaves the application, as JumpServer's relation goes with it (it was
    // listed with an empty name).
    let (_, shown) = w.app.call("GET", &detail(&gone), "alice", None).await;
    assert_eq!(shown["apply_assets"], json!([]), "{shown}");
    assert_eq!(shown["rel_snapshot"]["apply_assets"], json!([]), "{shown}");
    let (status, body) = w
        .app
        .call(
            "PUT",
            &approve(&gone),
            "bob",
            Some(json!({"comment": "ok"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["apply_assets"],
        json!(["Select at least one asset or node."]),
        "{body}"
    );
    let reject = path("apply-asset-tickets", &gone["id"], "reject/");
    let (status, body) = w.app.call("PUT", &reject, "bob", None).await;
    assert_eq!(status, 200, "{body}");
    let granted = w
        .app
        .engine
        .store()
        .list_grants(ticketd_core::store::GrantQuery {
            ticket: ticketd_core::TicketId::parse(gone["id"].as_str().unwrap()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(granted.is_empty(), "{granted:?}");
}
