//! JumpServer dialect tests: `/api/v1/tickets/flows/` in v4 and legacy rule forms.

use crate::app::{ADMIN_TOKEN, TestApp, spawn_app};
use serde_json::{Value, json};
use ticketd_core::identity::{DEFAULT_ORG, ROLE_ORG_ADMIN, ROLE_ORG_USER, SystemRole};

const FLOWS: &str = "/api/v1/tickets/flows/";
const ROOT: &str = "00000000-0000-0000-0000-000000000000";
const DEFAULT: &str = "00000000-0000-0000-0000-000000000002";
const NO_MATCH: &str = "No approvers matched. Please update the approval rule";

fn super_admin_selector() -> Value {
    json!({"type": "attrs", "attrs": [{"name": "system_roles", "match": "m2m", "value": ["00000000-0000-0000-0000-000000000001"]}]})
}

fn org_admin_selector() -> Value {
    json!({"type": "attrs", "attrs": [{"name": "org_roles", "match": "m2m", "value": ["00000000-0000-0000-0000-000000000005"]}]})
}

/// The seed's flow update body (seeds 000/001, section 5), legacy form, no name, no id.
fn seed_body() -> Value {
    json!({
        "type": "apply_asset",
        "approval_level": 1,
        "rules": [{
            "level": 1,
            "strategy": {"value": "super_admin", "label": "超级管理员"},
            "assignees_display": ["Administrator(admin)"],
            "assignees": []
        }]
    })
}

/// Calls the API in an organization (`X-JMS-ORG`).
async fn jms(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    org: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.call_with(method, path, token, body, &[("X-JMS-ORG", org)])
        .await
}

/// `flow`'s detail as the administrator reads it from `org`.
async fn read_flow(app: &TestApp, flow: &Value, org: &str) -> Value {
    let (status, read) = jms(app, "GET", &detail(&id_of(flow)), ADMIN_TOKEN, org, None).await;
    assert_eq!(status, 200, "{read}");
    read
}

async fn create(app: &TestApp, org: &str, body: Value) -> Value {
    let (status, flow) = jms(app, "POST", FLOWS, ADMIN_TOKEN, org, Some(body)).await;
    assert_eq!(status, 201, "{flow}");
    flow
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

fn detail(id: &str) -> String {
    format!("{FLOWS}{id}/")
}

/// The global `apply_asset` flow, created through the API when the server has none.
async fn global_apply_asset_flow(app: &TestApp) -> Value {
    let (status, list) = jms(
        app,
        "GET",
        &format!("{FLOWS}?type=apply_asset"),
        ADMIN_TOKEN,
        ROOT,
        None,
    )
    .await;
    assert_eq!(status, 200);
    if let Some(flow) = list.as_array().unwrap().first() {
        return flow.clone();
    }
    create(
        app,
        ROOT,
        json!({"name": "Global apply", "approval_level": 1, "rules": [{"users": super_admin_selector()}]}),
    )
    .await
}

#[tokio::test]
async fn the_list_paginates_with_and_without_limit_filters_and_ignores_a_get_body() {
    let app = spawn_app().await;
    let (status, before) = jms(&app, "GET", FLOWS, ADMIN_TOKEN, DEFAULT, None).await;
    assert_eq!(status, 200);
    let baseline = before.as_array().unwrap().len();
    for name in ["Zeta flow", "Alpha flow", "Mid flow"] {
        create(
            &app,
            DEFAULT,
            json!({"name": name, "approval_level": 1, "rules": [{"users": org_admin_selector()}]}),
        )
        .await;
    }
    let (status, all) = jms(&app, "GET", FLOWS, ADMIN_TOKEN, DEFAULT, None).await;
    assert_eq!(status, 200);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), baseline + 3);
    let names: Vec<&str> = all.iter().map(|f| f["name"].as_str().unwrap()).collect();
    let (alpha, mid) = (
        names.iter().position(|n| *n == "Alpha flow").unwrap(),
        names.iter().position(|n| *n == "Mid flow").unwrap(),
    );
    assert!(alpha < mid, "ordered by name: {names:?}");

    // The seed's request: a GET with `?offset=0&limit=15` and a JSON body, which is ignored.
    let (status, page) = jms(
        &app,
        "GET",
        &format!("{FLOWS}?offset=0&limit=15"),
        ADMIN_TOKEN,
        DEFAULT,
        Some(seed_body()),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["count"], baseline + 3);
    assert_eq!(page["next"], Value::Null);
    assert_eq!(page["previous"], Value::Null);
    assert_eq!(page["results"].as_array().unwrap().len(), baseline + 3);

    let (_, first) = jms(
        &app,
        "GET",
        &format!("{FLOWS}?limit=2"),
        ADMIN_TOKEN,
        DEFAULT,
        None,
    )
    .await;
    assert_eq!(first["results"].as_array().unwrap().len(), 2);
    let next = first["next"].as_str().unwrap();
    assert!(
        next.ends_with("/api/v1/tickets/flows/?limit=2&offset=2"),
        "{next}"
    );
    let (_, second) = jms(
        &app,
        "GET",
        &format!("{FLOWS}?limit=2&offset=2"),
        ADMIN_TOKEN,
        DEFAULT,
        None,
    )
    .await;
    assert!(second["previous"].as_str().unwrap().ends_with("?limit=2"));

    let (_, by_name) = jms(
        &app,
        "GET",
        &format!("{FLOWS}?name=Mid%20flow"),
        ADMIN_TOKEN,
        DEFAULT,
        None,
    )
    .await;
    assert_eq!(by_name.as_array().unwrap().len(), 1);
    let mid_id = id_of(&by_name[0]);
    let (_, by_id) = jms(
        &app,
        "GET",
        &format!("{FLOWS}?id={mid_id}"),
        ADMIN_TOKEN,
        DEFAULT,
        None,
    )
    .await;
    assert_eq!(by_id.as_array().unwrap().len(), 1);
    let (_, searched) = jms(
        &app,
        "GET",
        &format!("{FLOWS}?search=ALPHA|zeta"),
        ADMIN_TOKEN,
        DEFAULT,
        None,
    )
    .await;
    assert_eq!(searched.as_array().unwrap().len(), 2);
    let (_, by_type) = jms(
        &app,
        "GET",
        &format!("{FLOWS}?type=login_confirm"),
        ADMIN_TOKEN,
        DEFAULT,
        None,
    )
    .await;
    assert_eq!(by_type, json!([]));
    let (_, fields) = jms(
        &app,
        "GET",
        &format!("{FLOWS}?name=Mid%20flow&fields=id,name"),
        ADMIN_TOKEN,
        DEFAULT,
        None,
    )
    .await;
    assert_eq!(fields, json!([{"id": mid_id, "name": "Mid flow"}]));
}

#[tokio::test]
async fn a_flow_created_in_v4_form_reads_back_in_both_rule_forms() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let alice = app.user("alice", SystemRole::User, vec![]).await;
    let bob = app.user("bob", SystemRole::User, vec![]).await;
    let flow = create(
        &app,
        DEFAULT,
        json!({
            "name": "Prod access",
            "approval_level": {"value": 2},
            "rules": [
                {"users": org_admin_selector()},
                {"users": {"type": "ids", "ids": [alice.user.id.to_string()]}}
            ],
            "cc_users": [bob.user.id.to_string()]
        }),
    )
    .await;
    assert_eq!(
        flow["type"],
        json!({"value": "apply_asset", "label": "Apply for asset"})
    );
    assert_eq!(
        flow["approval_level"],
        json!({"value": 2, "label": "Two level"})
    );
    assert_eq!(flow["org_id"], DEFAULT);
    assert_eq!(flow["org_name"], "DEFAULT", "as JumpServer names it");
    assert_eq!(flow["created_by"], "Administrator");
    let date = flow["date_created"].as_str().unwrap();
    assert_eq!(date.len(), "2026/08/21 18:22:42 +0800".len(), "{date}");
    assert_eq!(&date[4..5], "/");
    assert_eq!(
        flow["rules"][0],
        json!({
            "level": 1,
            "users": org_admin_selector(),
            "strategy": {"value": "org_admin", "label": "Org admin"},
            "assignees": [admin.user.id.to_string()],
            "assignees_display": ["Administrator(admin)"]
        })
    );
    assert_eq!(
        flow["rules"][1],
        json!({
            "level": 2,
            "users": {"type": "ids", "ids": [alice.user.id.to_string()]},
            "strategy": {"value": "custom_user", "label": "Custom user"},
            "assignees": [alice.user.id.to_string()],
            "assignees_display": ["Alice(alice)"]
        })
    );
    assert_eq!(
        flow["cc_users"],
        json!([{"id": bob.user.id.to_string(), "name": "Bob", "username": "bob"}])
    );
    let (status, read) = jms(
        &app,
        "GET",
        &detail(&id_of(&flow)),
        ADMIN_TOKEN,
        DEFAULT,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(read, flow);

    // A selector no legacy strategy describes reads as a custom strategy.
    let custom = create(
        &app,
        DEFAULT,
        json!({"name": "By name", "approval_level": 1, "rules": [{"users": {"type": "attrs", "attrs": [{"name": "username", "value": "alice"}]}}]}),
    )
    .await;
    assert_eq!(custom["rules"][0]["strategy"]["value"], "custom");
    assert_eq!(
        custom["rules"][0]["assignees"],
        json!([alice.user.id.to_string()])
    );
    assert_eq!(
        custom["rules"][0]["users"]["attrs"][0]["match"], "exact",
        "the default operator is spelled out"
    );

    // Alice leaves the organization: the rule still names her, in both forms, as JumpServer
    // lists a custom rule's users (she approves again if invited back; no opening assigns her
    // meanwhile).
    let remove = format!("/api/v1/users/users/{}/remove/", alice.user.id);
    let (status, body) = jms(&app, "POST", &remove, ADMIN_TOKEN, DEFAULT, None).await;
    assert_eq!(status, 204, "{body}");
    let read = read_flow(&app, &flow, DEFAULT).await;
    assert_eq!(read["rules"][1], flow["rules"][1], "{read}");
    assert_eq!(read["rules"][0], flow["rules"][0]);
    // Saved back as it was read, her level matches nobody: refused as at the creation, on the
    // `users` form.
    let (status, body) = jms(
        &app,
        "PUT",
        &detail(&id_of(&flow)),
        ADMIN_TOKEN,
        DEFAULT,
        Some(read.clone()),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["rules"][1]["users"].is_array(), "{body}");
}

/// A flow saved back as it was read keeps the named users who left or were deactivated (both
/// rule forms list them): they approve again once back. (A first version of the day's change
/// listed only whom an opening would assign as `assignees`, and the save dropped them for good.)
#[tokio::test]
async fn a_flow_saved_as_read_keeps_named_users_who_left() {
    let app = spawn_app().await;
    let alice = app.user("alice", SystemRole::User, vec![]).await;
    let bob = app.user("bob", SystemRole::User, vec![]).await;
    let carol = app.user("carol", SystemRole::User, vec![]).await;
    let named = json!({"type": "ids", "ids": [alice.id().to_string(), bob.id().to_string(), carol.id().to_string()]});
    let flow = create(
        &app,
        DEFAULT,
        json!({"name": "Named", "approval_level": 1, "rules": [{"users": named}]}),
    )
    .await;
    let remove = format!("/api/v1/users/users/{}/remove/", alice.id());
    let (status, _) = jms(&app, "POST", &remove, ADMIN_TOKEN, DEFAULT, None).await;
    assert_eq!(status, 204);
    let deactivate = format!("/api/v1/users/users/{}/", bob.id());
    let (status, body) = jms(
        &app,
        "PATCH",
        &deactivate,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!({"is_active": false})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let read = read_flow(&app, &flow, DEFAULT).await;
    assert_eq!(read["rules"][0]["users"], named);
    assert_eq!(read["rules"][0]["assignees"], named["ids"]);
    for method in ["PUT", "PATCH"] {
        let (status, saved) = jms(
            &app,
            method,
            &detail(&id_of(&flow)),
            ADMIN_TOKEN,
            DEFAULT,
            Some(read.clone()),
        )
        .await;
        assert_eq!(status, 200, "{method}: {saved}");
        assert_eq!(saved["rules"][0]["users"], named, "{method}");
    }
    // Back in the organization and active, both approve again.
    let admin = app.admin().await;
    app.engine
        .add_member(Some(&admin), DEFAULT_ORG, alice.id(), ROLE_ORG_USER)
        .await
        .unwrap();
    let (status, _) = jms(
        &app,
        "PATCH",
        &deactivate,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!({"is_active": true})),
    )
    .await;
    assert_eq!(status, 200);
    let read = read_flow(&app, &flow, DEFAULT).await;
    let mut approvers: Vec<String> = read["rules"][0]["assignees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    approvers.sort();
    let mut expected = vec![
        alice.id().to_string(),
        bob.id().to_string(),
        carol.id().to_string(),
    ];
    expected.sort();
    assert_eq!(approvers, expected, "{read}");
}

/// A global flow read from an organization shows whom an opening there would assign, by the
/// core's resolution: the system administrators and that organization's administrators for a
/// `super_org_admin` rule (it resolved organization roles nowhere, and showed the system
/// administrators only, from every organization).
#[tokio::test]
async fn a_global_flow_read_from_an_organization_shows_its_approvers_there() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let now = ticketd_http::now();
    let other = app
        .engine
        .create_org(Some(&admin), "Elsewhere", now)
        .await
        .unwrap();
    app.user(
        "here",
        SystemRole::User,
        vec![(DEFAULT_ORG, ROLE_ORG_ADMIN)],
    )
    .await;
    app.user("away", SystemRole::User, vec![(other.id, ROLE_ORG_ADMIN)])
        .await;
    let flow = create(
        &app,
        ROOT,
        json!({
            "name": "Everywhere",
            "type": "login_confirm",
            "approval_level": 1,
            "rules": [{"strategy": "super_org_admin"}]
        }),
    )
    .await;
    let approvers = |flow: &Value| flow["rules"][0]["assignees_display"].clone();
    let from_default = read_flow(&app, &flow, DEFAULT).await;
    assert_eq!(
        approvers(&from_default),
        json!(["Administrator(admin)", "Here(here)"]),
        "{from_default}"
    );
    let from_other = read_flow(&app, &flow, &other.id.to_string()).await;
    assert_eq!(
        approvers(&from_other),
        json!(["Administrator(admin)", "Away(away)"]),
        "{from_other}"
    );
}

#[tokio::test]
async fn legacy_rules_are_translated_never_dropped() {
    let app = spawn_app().await;
    let alice = app.user("alice", SystemRole::User, vec![]).await;
    let flow = create(
        &app,
        DEFAULT,
        json!({
            "name": "Legacy",
            "approval_level": 2,
            "rules": [
                {"level": 1, "strategy": "super_admin", "assignees": []},
                {"level": 2, "strategy": {"value": "custom_user"}, "assignees": [alice.user.id.to_string()], "assignees_display": ["Alice(alice)"]}
            ]
        }),
    )
    .await;
    assert_eq!(flow["rules"][0]["users"], super_admin_selector());
    assert_eq!(flow["rules"][0]["strategy"]["value"], "super_admin");
    assert_eq!(
        flow["rules"][1]["users"],
        json!({"type": "ids", "ids": [alice.user.id.to_string()]})
    );

    // What JumpServer 4.10.16 silently saved as "anyone may approve" is refused here.
    for rule in [
        json!({}),
        json!({"users": {}}),
        json!({"level": 1, "assignees": []}),
    ] {
        let (status, body) = jms(
            &app,
            "POST",
            FLOWS,
            ADMIN_TOKEN,
            DEFAULT,
            Some(json!({"name": "Open door", "approval_level": 1, "rules": [rule.clone()]})),
        )
        .await;
        assert_eq!(status, 400, "{rule}: {body}");
        assert!(body["rules"][0]["users"].is_array(), "{rule}: {body}");
    }
    let (status, body) = jms(
        &app,
        "POST",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!({"name": "Boss", "approval_level": 1, "rules": [{"strategy": {"value": "boss"}}]})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"rules": [{"strategy": ["\"boss\" is not a valid choice."]}]})
    );
    let (status, body) = jms(
        &app,
        "POST",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!({"name": "Nobody", "approval_level": 1, "rules": [{"strategy": "custom_user", "assignees": []}]})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"rules": [{"assignees": ["Please select the Assignees"]}]})
    );
    // Both forms at once must agree; what a client read back (custom strategy) is ignored.
    let (status, body) = jms(
        &app,
        "POST",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!({"name": "Mixed", "approval_level": 1, "rules": [{"users": {"type": "all"}, "strategy": "super_admin"}]})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["rules"][0]["non_field_errors"].is_array(), "{body}");
    let echoed = create(
        &app,
        DEFAULT,
        json!({"name": "Echoed", "approval_level": 1, "rules": [{"users": {"type": "all"}, "strategy": {"value": "custom", "label": "Custom selector"}, "assignees": []}]}),
    )
    .await;
    assert_eq!(echoed["rules"][0]["users"], json!({"type": "all"}));

    // A rule read back and sent again with one form changed: the stored level tells which form
    // the client changed, and that one is taken, whichever it is.
    let patch_rules = |rules: Value| {
        let app = &app;
        let path = detail(&id_of(&flow));
        async move {
            jms(
                app,
                "PATCH",
                &path,
                ADMIN_TOKEN,
                DEFAULT,
                Some(json!({"rules": rules})),
            )
            .await
        }
    };
    let alice_only = json!({"type": "ids", "ids": [alice.user.id.to_string()]});
    let mut rules = flow["rules"].clone();
    rules[0]["users"] = alice_only.clone();
    let (status, edited) = patch_rules(rules).await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(
        edited["rules"][0]["users"], alice_only,
        "the users form changed"
    );
    let mut rules = edited["rules"].clone();
    rules[0]["strategy"] = json!("super_admin");
    rules[0]["assignees"] = json!([]);
    let (status, edited) = patch_rules(rules).await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(
        edited["rules"][0]["users"],
        super_admin_selector(),
        "the legacy form changed"
    );
    let mut rules = edited["rules"].clone();
    rules[0]["users"] = alice_only;
    rules[0]["strategy"] = json!("org_admin");
    let (status, refused) = patch_rules(rules).await;
    assert_eq!(status, 400, "both changed, differently: {refused}");
    assert!(
        refused["rules"][0]["non_field_errors"].is_array(),
        "{refused}"
    );
}

#[tokio::test]
async fn put_and_patch_by_id_update_a_flow() {
    let app = spawn_app().await;
    let alice = app.user("alice", SystemRole::User, vec![]).await;
    let flow = create(
        &app,
        DEFAULT,
        json!({"name": "Editable", "approval_level": 1, "rules": [{"users": org_admin_selector()}]}),
    )
    .await;
    let path = detail(&id_of(&flow));

    // PUT is a full update: name and rules are required.
    let (status, body) = jms(&app, "PUT", &path, ADMIN_TOKEN, DEFAULT, Some(json!({}))).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"name": ["This field is required."], "rules": ["This field is required."]})
    );
    let (status, put) = jms(
        &app,
        "PUT",
        &path,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!({
            "name": "Edited",
            "approval_level": 2,
            "rules": [{"users": org_admin_selector()}, {"users": {"type": "ids", "ids": [alice.user.id.to_string()]}}]
        })),
    )
    .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["id"], flow["id"]);
    assert_eq!(put["name"], "Edited");
    assert_eq!(put["approval_level"]["value"], 2);
    assert_eq!(
        put["rules"][1]["assignees_display"],
        json!(["Alice(alice)"])
    );
    assert_eq!(put["date_created"], flow["date_created"]);

    // PATCH is partial: what is not given is kept.
    let (status, patched) = jms(
        &app,
        "PATCH",
        &path,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!({"cc_users": [{"id": alice.user.id.to_string()}]})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "Edited");
    assert_eq!(patched["rules"], put["rules"]);
    assert_eq!(patched["cc_users"][0]["username"], "alice");
    let (status, renamed) = jms(
        &app,
        "PATCH",
        &path,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!({"name": "Renamed", "type": "login_confirm"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(renamed["name"], "Renamed");
    assert_eq!(
        renamed["type"]["value"], "apply_asset",
        "type is read-only on update"
    );

    // Bulk: a list of objects carrying ids.
    let other = create(
        &app,
        DEFAULT,
        json!({"name": "Other", "approval_level": 1, "rules": [{"users": org_admin_selector()}]}),
    )
    .await;
    let (status, bulk) = jms(
        &app,
        "PATCH",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!([{"id": flow["id"], "name": "Bulk one"}, {"id": other["id"], "name": "Bulk two"}])),
    )
    .await;
    assert_eq!(status, 200, "{bulk}");
    assert_eq!(bulk[0]["name"], "Bulk one");
    assert_eq!(bulk[1]["name"], "Bulk two");
    // One bad item: nothing is applied, errors come one dict per item.
    let (status, errors) = jms(
        &app,
        "PATCH",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!([{"id": flow["id"], "name": "Not applied"}, {"id": other["id"], "approval_level": 3}])),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        errors,
        json!([{}, {"rules": ["The number of approval rules must match the approval level"]}])
    );
    let (_, unchanged) = jms(&app, "GET", &path, ADMIN_TOKEN, DEFAULT, None).await;
    assert_eq!(unchanged["name"], "Bulk one");
    // An item refused by a rule only the write can check (a name another flow holds) undoes
    // the items before it: one transaction for the request.
    create(
        &app,
        DEFAULT,
        json!({"name": "Third", "approval_level": 1, "rules": [{"users": org_admin_selector()}]}),
    )
    .await;
    let (status, refused) = jms(
        &app,
        "PATCH",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!([{"id": flow["id"], "name": "Renamed first"}, {"id": other["id"], "name": "Third"}])),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["name"][0]
            .as_str()
            .unwrap()
            .contains("already exists"),
        "{refused}"
    );
    let (_, unchanged) = jms(&app, "GET", &path, ADMIN_TOKEN, DEFAULT, None).await;
    assert_eq!(unchanged["name"], "Bulk one", "the first item was not kept");
    // One flow twice in a list is refused at its second item (its two writes could not both
    // land: the first moves the version the second expects).
    let (status, twice) = jms(
        &app,
        "PATCH",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!([{"id": flow["id"], "name": "Once"}, {"id": flow["id"], "cc_users": []}])),
    )
    .await;
    assert_eq!(status, 400, "{twice}");
    assert_eq!(twice[0], json!({}), "{twice}");
    assert!(twice[1]["id"].is_array(), "{twice}");
    let (status, errors) = jms(
        &app,
        "PATCH",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!([{"name": "no id"}, 3])),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(errors[0]["id"][0], "This field is required.");
    assert!(errors[1]["non_field_errors"].is_array());
}

#[tokio::test]
async fn the_seed_patch_without_id_overrides_the_global_flow_in_the_current_org() {
    let app = spawn_app().await;
    let global = global_apply_asset_flow(&app).await;
    let global_id = id_of(&global);

    // Seed section 5 as written: PATCH flows/ with one legacy-form object, no id, no name.
    let (status, flow) = jms(
        &app,
        "PATCH",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(seed_body()),
    )
    .await;
    assert_eq!(status, 200, "{flow}");
    assert_ne!(
        flow["id"], global["id"],
        "a global flow is overridden, not changed"
    );
    assert_eq!(flow["org_id"], DEFAULT);
    assert_eq!(flow["name"], global["name"], "the stored name is kept");
    assert_eq!(flow["approval_level"]["value"], 1);
    assert_eq!(
        flow["rules"],
        json!([{
            "level": 1,
            "users": super_admin_selector(),
            "strategy": {"value": "super_admin", "label": "Super admin"},
            "assignees": [app.admin().await.user.id.to_string()],
            "assignees_display": ["Administrator(admin)"]
        }])
    );
    let (status, still_global) =
        jms(&app, "GET", &detail(&global_id), ADMIN_TOKEN, ROOT, None).await;
    assert_eq!(status, 200);
    assert_eq!(still_global["org_id"], ROOT);
    assert_eq!(still_global["date_updated"], global["date_updated"]);

    // The org now lists its override instead of the global flow.
    let (_, listed) = jms(
        &app,
        "GET",
        &format!("{FLOWS}?type=apply_asset"),
        ADMIN_TOKEN,
        DEFAULT,
        None,
    )
    .await;
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&flow["id"].as_str().unwrap()), "{ids:?}");
    assert!(!ids.contains(&global_id.as_str()), "{ids:?}");
    // The root org lists every org's flows, the global one and its override alike (it listed
    // the global flows only, while their overrides' details answered there).
    let (status, everywhere) = jms(
        &app,
        "GET",
        &format!("{FLOWS}?type=apply_asset&limit=10"),
        ADMIN_TOKEN,
        ROOT,
        None,
    )
    .await;
    assert_eq!(status, 200, "{everywhere}");
    let ids: Vec<&str> = everywhere["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(everywhere["count"], 2, "{everywhere}");
    assert!(ids.contains(&flow["id"].as_str().unwrap()), "{ids:?}");
    assert!(ids.contains(&global_id.as_str()), "{ids:?}");

    // Again: now the org's own flow is updated in place.
    let (status, again) = jms(
        &app,
        "PATCH",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(seed_body()),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(again["id"], flow["id"]);

    // The same body on flows/{id}/, for the org's flow and for the global one.
    let (status, by_id) = jms(
        &app,
        "PATCH",
        &detail(&id_of(&flow)),
        ADMIN_TOKEN,
        DEFAULT,
        Some(seed_body()),
    )
    .await;
    assert_eq!(status, 200, "{by_id}");
    assert_eq!(by_id["id"], flow["id"]);
    assert_eq!(by_id["rules"], flow["rules"]);
    let (status, via_global) = jms(
        &app,
        "PATCH",
        &detail(&global_id),
        ADMIN_TOKEN,
        DEFAULT,
        Some(seed_body()),
    )
    .await;
    assert_eq!(status, 200, "{via_global}");
    assert_eq!(
        via_global["id"], flow["id"],
        "the org's existing override is updated, not duplicated"
    );
}

#[tokio::test]
async fn a_global_flow_is_overridden_by_id_from_another_org_and_changed_in_place_from_root() {
    let app = spawn_app().await;
    // The global flow copies a user of another organization, whom Default's override leaves
    // out (an organization's flow copies its own users only).
    let elsewhere = app
        .engine
        .create_org(None, "Elsewhere", ticketd_http::now())
        .await
        .unwrap();
    let otto = app
        .user(
            "otto",
            SystemRole::User,
            vec![(elsewhere.id, ticketd_core::identity::ROLE_ORG_USER)],
        )
        .await;
    let global = create(
        &app,
        ROOT,
        json!({"name": "Everywhere", "type": "command_confirm", "approval_level": 1, "rules": [{"users": super_admin_selector()}], "cc_users": [otto.id().to_string()]}),
    )
    .await;
    assert_eq!(global["cc_users"].as_array().unwrap().len(), 1, "{global}");
    assert_eq!(global["org_name"], "GLOBAL");
    assert_eq!(global["type"]["value"], "command_confirm");
    app.user(
        "carol",
        SystemRole::User,
        vec![(DEFAULT_ORG, ROLE_ORG_ADMIN)],
    )
    .await;
    let (status, listed) = jms(
        &app,
        "GET",
        &format!("{FLOWS}?type=command_confirm"),
        "carol",
        DEFAULT,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        listed[0]["id"], global["id"],
        "global flows show in every org"
    );
    // Default's flow of another type with the global flow's name is not its override.
    let login = create(
        &app,
        DEFAULT,
        json!({"name": "everywhere", "type": "login_confirm", "approval_level": 1, "rules": [{"users": super_admin_selector()}]}),
    )
    .await;
    let (status, own) = jms(
        &app,
        "PATCH",
        &detail(&id_of(&global)),
        "carol",
        DEFAULT,
        Some(json!({"approval_level": 1, "rules": [{"users": org_admin_selector()}]})),
    )
    .await;
    assert_eq!(status, 200, "{own}");
    assert_ne!(own["id"], global["id"]);
    assert_eq!(own["org_id"], DEFAULT);
    assert_eq!(own["cc_users"], json!([]), "{own}");
    assert_eq!(own["name"], "Everywhere");
    assert_eq!(own["type"]["value"], "command_confirm");
    let mut displays: Vec<&str> = own["rules"][0]["assignees_display"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    displays.sort_unstable();
    assert_eq!(displays, ["Administrator(admin)", "Carol(carol)"]);
    assert_ne!(own["id"], login["id"]);
    let (status, kept) = jms(
        &app,
        "GET",
        &detail(&id_of(&login)),
        ADMIN_TOKEN,
        DEFAULT,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(kept["type"]["value"], "login_confirm");
    assert_eq!(kept["rules"], login["rules"]);
    // Only system admins manage global flows in place.
    let (status, _) = jms(
        &app,
        "PATCH",
        &detail(&id_of(&global)),
        "carol",
        ROOT,
        Some(json!({"name": "Mine"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, renamed) = jms(
        &app,
        "PATCH",
        &detail(&id_of(&global)),
        ADMIN_TOKEN,
        ROOT,
        Some(json!({"name": "Everywhere else"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(renamed["id"], global["id"]);
    assert_eq!(renamed["org_id"], ROOT);
}

#[tokio::test]
async fn an_update_by_type_creates_the_flow_an_org_lacks() {
    let app = spawn_app().await;
    let body = json!({
        "type": "login_confirm",
        "approval_level": 1,
        "rules": [{"level": 1, "strategy": {"value": "org_admin"}, "assignees": []}]
    });
    let (status, created) = jms(
        &app,
        "PATCH",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "Login confirm", "named after the type");
    assert_eq!(created["type"]["value"], "login_confirm");
    assert_eq!(created["rules"][0]["users"], org_admin_selector());
    let (status, again) = jms(&app, "PUT", FLOWS, ADMIN_TOKEN, DEFAULT, Some(body)).await;
    assert_eq!(status, 200);
    assert_eq!(again["id"], created["id"]);

    let (status, errors) = jms(
        &app,
        "PATCH",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!({"approval_level": 1})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(errors, json!({"type": ["This field is required."]}));
    let (status, errors) = jms(
        &app,
        "PATCH",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!({"type": "general", "approval_level": 1})),
    )
    .await;
    assert_eq!(status, 400, "nothing to create a flow from");
    assert_eq!(errors, json!({"rules": ["This field is required."]}));
    // Two flows of one type: the name tells them apart, else the update is refused.
    for name in ["First", "Second"] {
        create(
            &app,
            DEFAULT,
            json!({"name": name, "type": "general", "approval_level": 1, "rules": [{"users": org_admin_selector()}]}),
        )
        .await;
    }
    let (status, errors) = jms(
        &app,
        "PATCH",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(
            json!({"type": "general", "approval_level": 1, "rules": [{"strategy": "super_admin"}]}),
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert!(errors["non_field_errors"].is_array(), "{errors}");
    let (status, second) = jms(
        &app,
        "PATCH",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!({"type": "general", "name": "second", "approval_level": 1, "rules": [{"strategy": "super_admin"}]})),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["rules"][0]["strategy"]["value"], "super_admin");
}

#[tokio::test]
async fn options_and_cc_users_list_what_a_ticket_may_choose() {
    let app = spawn_app().await;
    app.user("alice", SystemRole::User, vec![]).await;
    let bob = app.user("bob", SystemRole::User, vec![]).await;
    let b = create(
        &app,
        DEFAULT,
        json!({"name": "B flow", "type": "command_confirm", "approval_level": 1, "rules": [{"users": org_admin_selector()}], "cc_users": [bob.user.id.to_string()]}),
    )
    .await;
    let a = create(
        &app,
        DEFAULT,
        json!({"name": "A flow", "type": "command_confirm", "approval_level": 1, "rules": [{"users": org_admin_selector()}]}),
    )
    .await;
    for path in [
        "/api/v1/tickets/flows/options/",
        "/api/v1/tickets/flows/options/?type=command_confirm",
        "/api/v1/tickets/flows/cc-users/?org_id=00000000-0000-0000-0000-000000000002",
    ] {
        let (status, body) = app.call("GET", path, "alice", None).await;
        assert_eq!((status, body), (200, json!([])), "{path}");
    }
    let (status, options) = app
        .call(
            "GET",
            &format!("/api/v1/tickets/flows/options/?type=command_confirm&org_id={DEFAULT}"),
            "alice",
            None,
        )
        .await;
    assert_eq!(status, 200, "{options}");
    let options = options.as_array().unwrap();
    assert_eq!(
        options[..2],
        [
            json!({"id": a["id"], "name": "A flow", "type": {"value": "command_confirm", "label": "Command confirm"}, "approval_level": {"value": 1, "label": "One level"}, "cc_users": []}),
            json!({"id": b["id"], "name": "B flow", "type": {"value": "command_confirm", "label": "Command confirm"}, "approval_level": {"value": 1, "label": "One level"}, "cc_users": [{"id": bob.user.id.to_string(), "name": "Bob", "username": "bob"}]})
        ]
    );
    // TopHC's default process, the global catch-all every installation has, is no JumpServer
    // ticket flow: not offered here.
    assert_eq!(options.len(), 2, "{options:?}");
    let (status, users) = cc_users(
        &app,
        &format!(
            "type=command_confirm&org_id={DEFAULT}&flow_id={}",
            id_of(&b)
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(users[0]["username"], "bob");
    let (_, users) = cc_users(&app, &format!("type=command_confirm&org_id={DEFAULT}")).await;
    assert_eq!(users, json!([]), "two flows and no flow_id");
    let (_, users) = cc_users(
        &app,
        &format!("type=command_confirm&org_id={DEFAULT}&flow_id=nope"),
    )
    .await;
    assert_eq!(users, json!([]));

    // Organizations the caller does not belong to, or bad ids, are refused as in JumpServer.
    let other = app
        .engine
        .create_org(None, "Other", ticketd_http::now())
        .await
        .unwrap();
    for org in [other.id.to_string(), "not-an-org".to_owned()] {
        let (status, body) = app
            .call(
                "GET",
                &format!("/api/v1/tickets/flows/options/?type=command_confirm&org_id={org}"),
                "alice",
                None,
            )
            .await;
        assert_eq!(status, 403, "{org}: {body}");
    }
}

async fn cc_users(app: &TestApp, query: &str) -> (u16, Value) {
    app.call(
        "GET",
        &format!("/api/v1/tickets/flows/cc-users/?{query}"),
        "alice",
        None,
    )
    .await
}

#[tokio::test]
async fn flows_other_dialects_manage_are_neither_shown_nor_written_here() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    // A ZStack flow collection of the default org, and TopHC's global default process.
    let collection = app
        .engine
        .create_flow(
            &admin,
            ticketd_core::engine::FlowInput {
                org_id: DEFAULT_ORG,
                name: "colA".into(),
                description: String::new(),
                kinds: vec!["zstack".into()],
                is_default: true,
                enabled: true,
                levels: vec![ticketd_core::engine::any_level(
                    ticketd_core::selector::Selector::Ids {
                        ids: vec![admin.id()],
                    },
                )],
                cc_users: Vec::new(),
                attributes: json!({"dialect": "zstack"}),
            },
            ticketd_http::now(),
        )
        .await
        .unwrap()
        .id
        .to_string();
    let tophc_default = "746f7068-6300-4000-8000-000000000001";
    let own = create(
        &app,
        DEFAULT,
        json!({"name": "Own", "approval_level": 1, "rules": [{"users": org_admin_selector()}]}),
    )
    .await;
    let (status, list) = jms(&app, "GET", FLOWS, ADMIN_TOKEN, DEFAULT, None).await;
    assert_eq!(status, 200);
    let listed: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(listed.contains(&id_of(&own).as_str()), "{list}");
    assert!(
        !listed.contains(&collection.as_str()) && !listed.contains(&tophc_default),
        "{listed:?}"
    );
    let rules =
        json!({"name": "colA", "approval_level": 1, "rules": [{"users": super_admin_selector()}]});
    for id in [&collection, tophc_default] {
        let (status, _) = jms(&app, "GET", &detail(id), ADMIN_TOKEN, DEFAULT, None).await;
        assert_eq!(status, 404, "{id}");
        for method in ["PATCH", "PUT"] {
            let (status, body) = jms(
                &app,
                method,
                &detail(id),
                ADMIN_TOKEN,
                DEFAULT,
                Some(rules.clone()),
            )
            .await;
            assert_eq!(status, 404, "{method} {id}: {body}");
        }
        let bulk = json!([{"id": id, "name": "x", "approval_level": 1, "rules": [{"users": super_admin_selector()}]}]);
        let (status, body) = jms(&app, "PATCH", FLOWS, ADMIN_TOKEN, DEFAULT, Some(bulk)).await;
        assert_ne!(status, 200, "bulk {id}: {body}");
    }
    // Nor does a ticket opened here take one as its flow.
    for id in [&collection, tophc_default] {
        let open = json!({"title": "through another API's flow", "org_id": DEFAULT, "flow_id": id,
            "apply_accounts": ["root"], "apply_actions": ["connect"],
            "apply_date_start": "2030/01/01 00:00:00 +0000", "apply_date_expired": "2030/02/01 00:00:00 +0000"});
        let (status, body) = jms(
            &app,
            "POST",
            "/api/v1/tickets/apply-asset-tickets/open/",
            ADMIN_TOKEN,
            DEFAULT,
            Some(open),
        )
        .await;
        assert_eq!(status, 400, "{id}: {body}");
        assert!(body["flow_id"].is_array(), "{body}");
    }
    // Nothing was written: the collection and the process are as they were.
    let stored = app
        .engine
        .get_flow(&admin, ticketd_core::FlowId::parse(&collection).unwrap())
        .await
        .unwrap();
    assert_eq!((stored.name.as_str(), stored.version), ("colA", 1));
    let flows = app.engine.list_flows(&admin, DEFAULT_ORG).await.unwrap();
    assert!(
        !flows
            .iter()
            .any(|f| f.org_id == DEFAULT_ORG && f.name == "默认审批流程"),
        "no override of TopHC's default process"
    );
}

#[tokio::test]
async fn delete_is_not_allowed() {
    let app = spawn_app().await;
    let flow = create(
        &app,
        DEFAULT,
        json!({"name": "Kept", "approval_level": 1, "rules": [{"users": org_admin_selector()}]}),
    )
    .await;
    for path in [detail(&id_of(&flow)), FLOWS.to_owned()] {
        let (status, body) = jms(&app, "DELETE", &path, ADMIN_TOKEN, DEFAULT, None).await;
        assert_eq!(status, 405);
        assert_eq!(
            body,
            json!({"detail": "Method \"DELETE\" not allowed.", "code": "method_not_allowed"})
        );
    }
    let (status, _) = jms(
        &app,
        "GET",
        &detail(&id_of(&flow)),
        ADMIN_TOKEN,
        DEFAULT,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .call("DELETE", &detail(&id_of(&flow)), "wrong", None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_approval_level_must_match_the_number_of_rules() {
    let app = spawn_app().await;
    let mismatch = json!({"rules": ["The number of approval rules must match the approval level"]});
    let (status, body) = jms(
        &app,
        "POST",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(
            json!({"name": "Two", "approval_level": 2, "rules": [{"users": org_admin_selector()}]}),
        ),
    )
    .await;
    assert_eq!((status, body), (400, mismatch.clone()));
    let (status, body) = jms(
        &app,
        "POST",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!({"name": "Default one", "rules": [{"users": org_admin_selector()}, {"users": org_admin_selector()}]})),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, mismatch.clone()),
        "level defaults to 1"
    );
    let flow = create(
        &app,
        DEFAULT,
        json!({"name": "One", "approval_level": 1, "rules": [{"users": org_admin_selector()}]}),
    )
    .await;
    let (status, body) = jms(
        &app,
        "PATCH",
        &detail(&id_of(&flow)),
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!({"approval_level": 2})),
    )
    .await;
    assert_eq!((status, body), (400, mismatch));
    let (status, body) = jms(
        &app,
        "POST",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!({"name": "Six", "approval_level": 6, "rules": []})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["approval_level"][0], "\"6\" is not a valid choice.");
}

#[tokio::test]
async fn a_rule_matching_nobody_in_the_org_is_refused_at_its_position() {
    let app = spawn_app().await;
    let nobody = json!({"type": "attrs", "attrs": [{"name": "username", "match": "exact", "value": "nobody"}]});
    let (status, body) = jms(
        &app,
        "POST",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!({"name": "Empty", "approval_level": 2, "rules": [{"users": nobody}, {"users": org_admin_selector()}]})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body, json!({"rules": [{"users": [NO_MATCH]}, {}]}));
    // A user of another organization does not count as an approver here.
    let other = app
        .engine
        .create_org(None, "Other", ticketd_http::now())
        .await
        .unwrap();
    let outsider = app
        .user(
            "outsider",
            SystemRole::User,
            vec![(other.id, ROLE_ORG_ADMIN)],
        )
        .await;
    let (status, body) = jms(
        &app,
        "POST",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!({"name": "Outside", "approval_level": 1, "rules": [{"users": {"type": "ids", "ids": [outsider.user.id.to_string()]}}]})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body, json!({"rules": [{"users": [NO_MATCH]}]}));
}

#[tokio::test]
async fn bad_input_is_a_400_field_map_and_bad_ids_are_404() {
    let app = spawn_app().await;
    let (status, body) = jms(&app, "POST", FLOWS, ADMIN_TOKEN, DEFAULT, None).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"name": ["This field is required."], "rules": ["This field is required."]})
    );
    // A literal null is no dictionary here either (it was read as an empty body).
    let (status, body) = app
        .call_raw("POST", FLOWS, ADMIN_TOKEN, "application/json", "null")
        .await;
    assert_eq!(
        (status, body["non_field_errors"].clone()),
        (
            400,
            json!(["Invalid data. Expected a dictionary, but got NoneType."])
        )
    );
    for bad in [json!([1, 2]), json!("flow"), json!(42), json!(true)] {
        let (status, body) =
            jms(&app, "POST", FLOWS, ADMIN_TOKEN, DEFAULT, Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["non_field_errors"].is_array(), "{bad}: {body}");
        let (status, _) = jms(
            &app,
            "PATCH",
            FLOWS,
            ADMIN_TOKEN,
            DEFAULT,
            Some(bad.clone()),
        )
        .await;
        assert_eq!(status, 400, "{bad}");
    }
    for (body, field) in [
        (json!({"name": 7, "rules": []}), "name"),
        (json!({"name": "", "rules": []}), "name"),
        (json!({"name": "x".repeat(129), "rules": []}), "name"),
        (json!({"name": "T", "type": "coffee", "rules": []}), "type"),
        (
            json!({"name": "T", "approval_level": "high", "rules": []}),
            "approval_level",
        ),
        (
            json!({"name": "T", "rules": {"users": {"type": "all"}}}),
            "rules",
        ),
        (
            json!({"name": "T", "rules": [{"users": {"type": "all"}}], "cc_users": "bob"}),
            "cc_users",
        ),
        (
            json!({"name": "T", "rules": [{"users": {"type": "all"}}], "cc_users": ["00000000-0000-0000-0000-00000000dead"]}),
            "cc_users",
        ),
    ] {
        let (status, errors) = jms(
            &app,
            "POST",
            FLOWS,
            ADMIN_TOKEN,
            DEFAULT,
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(errors[field].is_array(), "{body}: {errors}");
    }
    for users in [
        json!([]),
        json!({"type": "everyone"}),
        json!({"type": "ids", "ids": []}),
        json!({"type": "ids", "ids": ["nope"]}),
        json!({"type": "ids"}),
        json!({"type": "attrs", "attrs": []}),
        json!({"type": "attrs", "attrs": [{"name": "shoe_size", "value": "42"}]}),
        json!({"type": "attrs", "attrs": [{"name": "username", "match": "regex", "value": "a.*"}]}),
        json!({"type": "attrs", "attrs": [{"name": "username", "value": 5}]}),
        json!({"type": "attrs", "attrs": ["username"]}),
        json!({"type": "role_pairs", "pairs": []}),
    ] {
        let (status, errors) = jms(
            &app,
            "POST",
            FLOWS,
            ADMIN_TOKEN,
            DEFAULT,
            Some(json!({"name": "Sel", "approval_level": 1, "rules": [{"users": users.clone()}]})),
        )
        .await;
        assert_eq!(status, 400, "{users}");
        assert!(errors["rules"][0]["users"].is_array(), "{users}: {errors}");
    }
    let (status, errors) = jms(
        &app,
        "POST",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!({"name": "R", "approval_level": 1, "rules": ["super_admin"]})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(errors["rules"][0]["non_field_errors"].is_array());

    let flow = create(
        &app,
        DEFAULT,
        json!({"name": "Unique", "approval_level": 1, "rules": [{"users": org_admin_selector()}]}),
    )
    .await;
    let (status, errors) = jms(
        &app,
        "POST",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!({"name": "unique", "approval_level": 1, "rules": [{"users": org_admin_selector()}]})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        errors,
        json!({"name": ["A ticket flow with the same name and type already exists"]})
    );
    let (status, _) = jms(
        &app,
        "POST",
        FLOWS,
        ADMIN_TOKEN,
        DEFAULT,
        Some(json!({"name": "unique", "type": "general", "approval_level": 1, "rules": [{"users": org_admin_selector()}]})),
    )
    .await;
    assert_eq!(status, 201, "the same name with another type is fine");
    for body in [json!(null), json!([]), json!({"rules": "x"})] {
        let (status, _) = jms(
            &app,
            "PATCH",
            &detail(&id_of(&flow)),
            ADMIN_TOKEN,
            DEFAULT,
            Some(body.clone()),
        )
        .await;
        assert!(status == 200 || status == 400, "{body}: {status}");
    }

    let gone =
        json!({"detail": "TicketFlow object does not exist.", "code": "object_does_not_exist"});
    for path in [
        detail("not-a-uuid"),
        detail("0194f2b4-7c1e-7000-8000-0000000000ff"),
    ] {
        for method in ["GET", "PUT", "PATCH"] {
            let (status, body) =
                jms(&app, method, &path, ADMIN_TOKEN, DEFAULT, Some(json!({}))).await;
            assert_eq!((status, &body), (404, &gone), "{method} {path}");
        }
    }
}

#[tokio::test]
async fn non_admins_get_403_and_other_orgs_flows_stay_invisible() {
    let app = spawn_app().await;
    app.user("alice", SystemRole::User, vec![]).await;
    let other = app
        .engine
        .create_org(None, "Other", ticketd_http::now())
        .await
        .unwrap();
    app.user("bob", SystemRole::User, vec![(other.id, ROLE_ORG_ADMIN)])
        .await;
    let other_id = other.id.to_string();
    let ours = create(
        &app,
        DEFAULT,
        json!({"name": "Ours", "approval_level": 1, "rules": [{"users": org_admin_selector()}]}),
    )
    .await;

    // A plain member may neither read the org's flows (JumpServer's `tickets.view_ticketflow`,
    // which its user role lacks: the rules name the approvers) nor change them, whatever the
    // body; they choose one through `flows/options/`.
    let denied = json!({"detail": "You do not have permission to perform this action.", "code": "permission_denied"});
    for path in [FLOWS.to_owned(), detail(&id_of(&ours))] {
        let (status, body) = jms(&app, "GET", &path, "alice", DEFAULT, None).await;
        assert_eq!((status, &body), (403, &denied), "{path}");
    }
    for (method, path, body) in [
        (
            "POST",
            FLOWS.to_owned(),
            json!({"name": "Mine", "approval_level": 1, "rules": [{"users": {"type": "all"}}]}),
        ),
        ("POST", FLOWS.to_owned(), json!("garbage")),
        ("PATCH", FLOWS.to_owned(), seed_body()),
        (
            "PUT",
            detail(&id_of(&ours)),
            json!({"name": "Mine", "rules": []}),
        ),
        ("PATCH", detail(&id_of(&ours)), json!({"name": "Mine"})),
        (
            "PATCH",
            FLOWS.to_owned(),
            json!([{"id": ours["id"], "name": "Mine"}]),
        ),
    ] {
        let (status, answer) = jms(&app, method, &path, "alice", DEFAULT, Some(body)).await;
        assert_eq!((status, &answer), (403, &denied), "{method} {path}");
    }

    // Bob administers Other: its flows are his, Default's are not even visible to him.
    let (status, _) = jms(&app, "GET", FLOWS, "bob", DEFAULT, None).await;
    assert_eq!(status, 403, "not a member of Default");
    let (status, theirs) = jms(
        &app,
        "POST",
        FLOWS,
        "bob",
        &other_id,
        Some(json!({"name": "Theirs", "approval_level": 1, "rules": [{"users": org_admin_selector()}]})),
    )
    .await;
    assert_eq!(status, 201, "{theirs}");
    assert_eq!(theirs["org_name"], "Other");
    let (status, _) = jms(&app, "GET", &detail(&id_of(&ours)), "bob", &other_id, None).await;
    assert_eq!(status, 404);
    let (status, _) = jms(
        &app,
        "PATCH",
        &detail(&id_of(&ours)),
        "bob",
        &other_id,
        Some(json!({"name": "Stolen"})),
    )
    .await;
    assert_eq!(status, 404);
    // A plain member reads no flow at all (403 whether it exists or not).
    let (status, _) = jms(
        &app,
        "GET",
        &detail(&id_of(&theirs)),
        "alice",
        DEFAULT,
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = jms(&app, "GET", FLOWS, "alice", &other_id, None).await;
    assert_eq!(status, 403);
    // Even a system admin reads an org's flows only from that org (or the root org).
    let (status, _) = jms(
        &app,
        "GET",
        &detail(&id_of(&theirs)),
        ADMIN_TOKEN,
        DEFAULT,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = jms(
        &app,
        "GET",
        &detail(&id_of(&theirs)),
        ADMIN_TOKEN,
        &other_id,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (_, listed) = jms(&app, "GET", FLOWS, ADMIN_TOKEN, DEFAULT, None).await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["name"] != "Theirs"),
        "{listed}"
    );
}

#[tokio::test]
async fn labels_follow_accept_language() {
    let app = spawn_app().await;
    let alice = app.user("alice", SystemRole::User, vec![]).await;
    let flow = create(
        &app,
        DEFAULT,
        json!({"name": "中文", "approval_level": 2, "rules": [{"strategy": "super_admin"}, {"strategy": "custom_user", "assignees": [alice.user.id.to_string()]}]}),
    )
    .await;
    let (status, zh) = app
        .call_with(
            "GET",
            &detail(&id_of(&flow)),
            ADMIN_TOKEN,
            None,
            &[
                ("X-JMS-ORG", DEFAULT),
                ("Accept-Language", "zh-CN,zh;q=0.9"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        zh["type"],
        json!({"value": "apply_asset", "label": "申请资产"})
    );
    assert_eq!(zh["approval_level"], json!({"value": 2, "label": "二级"}));
    assert_eq!(
        zh["rules"][0]["strategy"],
        json!({"value": "super_admin", "label": "超级管理员"})
    );
    assert_eq!(
        zh["rules"][1]["strategy"],
        json!({"value": "custom_user", "label": "自定义用户"})
    );
    let (_, en) = app
        .call_with(
            "GET",
            &detail(&id_of(&flow)),
            ADMIN_TOKEN,
            None,
            &[("X-JMS-ORG", DEFAULT), ("Accept-Language", "en-US")],
        )
        .await;
    assert_eq!(en["approval_level"]["label"], "Two level");
}

/// A rule is checked against the approvers the core resolves at opening: an organization's
/// members and every system administrator, so a level for administrators alone is accepted.
#[tokio::test]
async fn a_level_of_system_administrators_alone_is_accepted_in_an_organization() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    // An organization the administrator is no member of.
    let org = app
        .engine
        .create_org(Some(&admin), "Admins elsewhere", ticketd_http::now())
        .await
        .unwrap()
        .id
        .to_string();
    let body = json!({"name": "Admins only", "type": "apply_asset", "approval_level": 1,
        "rules": [{"users": {"type": "ids", "ids": [admin.id().to_string()]}}]});
    let flow = create(&app, &org, body).await;
    assert_eq!(
        flow["rules"][0]["assignees_display"][0], "Administrator(admin)",
        "{flow}"
    );
    let nobody = json!({"name": "Nobody", "type": "apply_asset", "approval_level": 1,
        "rules": [{"users": {"type": "ids", "ids": [uuid::Uuid::nil().to_string()]}}]});
    let (status, refused) = jms(&app, "POST", FLOWS, ADMIN_TOKEN, &org, Some(nobody)).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["rules"][0]["users"][0], NO_MATCH);
}

/// An opening without `flow_id` takes the organization's own flow over a global one of another
/// name (JumpServer 4.10 and earlier, whose clients send no `flow_id`, replaced the global flow
/// so), and refuses to choose between two of the organization's own, as JumpServer 4.x does.
#[tokio::test]
async fn an_opening_without_flow_id_takes_the_org_s_own_flow_and_refuses_two() {
    let app = spawn_app().await;
    app.user("alice", SystemRole::User, vec![]).await;
    let open = |flow_id: Option<String>| {
        let mut body = json!({
            "title": "Access", "org_id": DEFAULT,
            "apply_date_start": "2026/08/21 10:00:00 +0800",
            "apply_date_expired": "2026/08/28 10:00:00 +0800",
        });
        if let Some(id) = flow_id {
            body["flow_id"] = json!(id);
        }
        app.call(
            "POST",
            "/api/v1/tickets/apply-asset-tickets/open/",
            "alice",
            Some(body),
        )
    };
    let global = global_apply_asset_flow(&app).await;
    let (status, ticket) = open(None).await;
    assert_eq!(
        (status, ticket["flow"]["id"].clone()),
        (201, global["id"].clone())
    );
    let team = create(
        &app,
        DEFAULT,
        json!({"name": "Team flow", "approval_level": 1, "rules": [{"users": super_admin_selector()}]}),
    )
    .await;
    let (status, ticket) = open(None).await;
    assert_eq!(
        (status, ticket["flow"]["id"].clone()),
        (201, team["id"].clone())
    );
    let second = create(
        &app,
        DEFAULT,
        json!({"name": "Second flow", "approval_level": 1, "rules": [{"users": super_admin_selector()}]}),
    )
    .await;
    let (status, refused) = open(None).await;
    assert_eq!(
        (status, refused),
        (400, json!({"flow_id": ["Please select a ticket flow"]}))
    );
    for chosen in [&global, &team, &second] {
        let (status, ticket) = open(Some(id_of(chosen))).await;
        assert_eq!(
            (status, ticket["flow"]["id"].clone()),
            (201, chosen["id"].clone())
        );
    }
}
