//! DataArts dialect tests, end to end over HTTP: every API, statuses, errors, AK/SK signing, the python SDK.

use crate::app::{ADMIN_TOKEN, TestApp, spawn_app, spawn_app_with};
use serde_json::{Value, json};
use ticketd_core::credentials::{hmac_sha256, token_digest};
use ticketd_core::identity::{AccessKey, Org, ROLE_ORG_ADMIN, ROLE_ORG_USER, SystemRole};
use ticketd_core::store::GrantQuery;
use ticketd_core::{Actor, TicketId};

const PROJECT: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
pub(crate) const EXPIRE_MS: i64 = 4_102_444_800_000; // 2100-01-01

fn base(project: &str) -> String {
    format!("/v1/{project}/security")
}

fn list_path() -> String {
    format!("{}/openapi/permission-approve/approvals", base(PROJECT))
}

/// A workspace with an applicant, two workspace admins, a plain member, and a second workspace.
struct Fixture {
    app: TestApp,
    lake: Org,
    sea: Org,
    alice: Actor,
    bob: Actor,
    reviewer: Actor,
    other_admin: Actor,
    mallory: Actor,
    sea_admin: Actor,
}

async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let now = ticketd_http::now();
    let lake = app.engine.create_org(None, "Data Lake", now).await.unwrap();
    let sea = app.engine.create_org(None, "Data Sea", now).await.unwrap();
    let member = |org: &Org| vec![(org.id, ROLE_ORG_USER)];
    let admin = |org: &Org| vec![(org.id, ROLE_ORG_ADMIN)];
    let alice = app.user("alice", SystemRole::User, member(&lake)).await;
    let bob = app.user("bob", SystemRole::User, member(&lake)).await;
    let reviewer = app.user("reviewer", SystemRole::User, admin(&lake)).await;
    let other_admin = app.user("otheradmin", SystemRole::User, admin(&lake)).await;
    let mallory = app.user("mallory", SystemRole::User, member(&lake)).await;
    let sea_admin = app.user("seaadmin", SystemRole::User, admin(&sea)).await;
    Fixture {
        app,
        lake,
        sea,
        alice,
        bob,
        reviewer,
        other_admin,
        mallory,
        sea_admin,
    }
}

/// Sends a DataArts call with `X-Auth-Token` and, when given, the `workspace` header.
async fn da(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    workspace: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.header("X-Auth-Token", token);
    }
    if let Some(workspace) = workspace {
        request = request.header("workspace", workspace);
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

impl Fixture {
    fn ws(&self) -> String {
        self.lake.id.to_string()
    }

    /// Lists with `query` as `token` in the lake workspace; asserts 200.
    async fn list(&self, token: &str, query: &str) -> Value {
        let (status, body) = da(
            &self.app,
            "GET",
            &format!("{}?{query}", list_path()),
            Some(token),
            Some(&self.ws()),
            None,
        )
        .await;
        assert_eq!(status, 200, "{query}: {body}");
        body
    }

    /// Applies for SELECT on `table` as `token`, choosing `approver`; returns the application id.
    async fn apply(&self, token: &str, approver: &Actor, table: &str) -> String {
        let (status, body) = self.try_apply(token, approver, table).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["workspace_id"], self.ws());
        body["application_id"].as_str().unwrap().to_owned()
    }

    async fn try_apply(&self, token: &str, approver: &Actor, table: &str) -> (u16, Value) {
        da(
            &self.app,
            "POST",
            &format!("{}/permission-application/table", base(PROJECT)),
            Some(token),
            Some(&self.ws()),
            Some(json!({
                "approver": {
                    "id": approver.id().to_string(),
                    "name": approver.user.username,
                    "type": 0,
                    "workspace_id": self.ws(),
                    "table_approver_type": "WORKSPACE_PERMISSION_SET_MANAGER",
                },
                "table_info": {
                    "instance_id": "inst-1",
                    "datasource_type": "dli",
                    "cluster_id": "DLI",
                    "database_name": "sales",
                    "table_name": table,
                    "expire_time": EXPIRE_MS,
                },
                "proposers": [
                    {"id": self.bob.id().to_string(), "name": "bob", "type": 0},
                ],
                "reason": format!("need {table}"),
            })),
        )
        .await
    }

    async fn decide(&self, token: &str, verdict: &str, id: &str, reason: Value) -> (u16, Value) {
        da(
            &self.app,
            "POST",
            &format!("{}/permission-approve/{verdict}/{id}", base(PROJECT)),
            Some(token),
            Some(&self.ws()),
            Some(reason),
        )
        .await
    }

    async fn batch(&self, token: &str, verdict: &str, ids: &[&str]) -> (u16, Value) {
        da(
            &self.app,
            "POST",
            &format!(
                "{}/openapi/permission-approve/batch-{verdict}",
                base(PROJECT)
            ),
            Some(token),
            Some(&self.ws()),
            Some(json!({"reason": "batch", "ids": ids})),
        )
        .await
    }

    async fn withdraw(&self, token: &str, id: &str) -> (u16, Value) {
        da(
            &self.app,
            "PUT",
            &format!("{}/permission-application/applications/{id}", base(PROJECT)),
            Some(token),
            Some(&self.ws()),
            None,
        )
        .await
    }

    /// The status one application has in the list, as its approver sees it.
    /// Asserts that no table permission (no grant at all) was created.
    async fn assert_nothing_granted(&self) {
        let grants = self
            .app
            .engine
            .store()
            .list_grants(GrantQuery::default())
            .await
            .unwrap();
        assert!(grants.is_empty(), "{grants:?}");
    }

    async fn status_of(&self, id: &str) -> Value {
        let body = self.list("reviewer", &format!("approval_id={id}")).await;
        assert_eq!(body["total"], 1, "{body}");
        body["approvals"][0]["status"].clone()
    }
}

fn ids(body: &Value) -> Vec<String> {
    body["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error_code"], want_code, "{body}");
    assert!(
        body["error_msg"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn the_approvers_list_names_the_workspace_admins_and_the_system_admins() {
    let fx = fixture().await;
    let (status, body) = da(
        &fx.app,
        "POST",
        &format!("{}/permission-application/table/approvers", base(PROJECT)),
        Some("alice"),
        Some(&fx.ws()),
        Some(json!({
            "instance_id": "inst-1",
            "datasource_type": "hive",
            "cluster_id": "c1",
            "database_name": "sales",
            "table_name": "orders",
            "expire_time": EXPIRE_MS,
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["has_table_rule"], false);
    let approvers = body["approvers"].as_array().unwrap();
    let names: Vec<&str> = approvers
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["admin", "otheradmin", "reviewer"]);
    for approver in approvers {
        assert_eq!(approver["type"], 0);
        assert_eq!(approver["workspace_id"], fx.ws());
        for field in ["id", "name", "permission_set_id", "table_approver_type"] {
            assert!(approver.get(field).is_some(), "{field} in {approver}");
        }
    }
    assert_eq!(approvers[0]["table_approver_type"], "SECURITY_MANAGER");
    assert_eq!(
        approvers[2]["table_approver_type"],
        "WORKSPACE_PERMISSION_SET_MANAGER"
    );
    assert_eq!(approvers[2]["id"], fx.reviewer.id().to_string());

    // The API does not document the workspace header: the Default workspace is used without it.
    let (status, body) = da(
        &fx.app,
        "POST",
        &format!("{}/permission-application/table/approvers", base(PROJECT)),
        Some(ADMIN_TOKEN),
        None,
        Some(json!({"datasource_type": "dli", "database_name": "d", "table_name": "t"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The caller is not offered: an applicant choosing themselves is refused.
    let names: Vec<&str> = body["approvers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"admin"), "{body}");
    // A caller outside Default (the SDK's request cannot name a workspace): their one workspace;
    // a caller of several is asked to name it.
    let table = json!({"datasource_type": "dli", "database_name": "d", "table_name": "t"});
    let (status, body) = da(
        &fx.app,
        "POST",
        &format!("{}/permission-application/table/approvers", base(PROJECT)),
        Some("alice"),
        None,
        Some(table.clone()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["approvers"][2]["workspace_id"], fx.ws(), "{body}");
    let both = vec![(fx.lake.id, ROLE_ORG_USER), (fx.sea.id, ROLE_ORG_USER)];
    fx.app.user("amphibian", SystemRole::User, both).await;
    let (status, body) = da(
        &fx.app,
        "POST",
        &format!("{}/permission-application/table/approvers", base(PROJECT)),
        Some("amphibian"),
        None,
        Some(table),
    )
    .await;
    assert_error(status, &body, 400, "DLS.1000");
    assert!(
        body["error_msg"]
            .as_str()
            .unwrap()
            .contains("member of several workspaces"),
        "{body}"
    );
    for bad in [
        json!({"datasource_type": "oracle", "database_name": "d", "table_name": "t"}),
        json!({"datasource_type": "dws", "database_name": "d", "table_name": "t"}),
        json!({"datasource_type": "hive", "database_name": "d"}),
        json!([1, 2]),
    ] {
        let (status, body) = da(
            &fx.app,
            "POST",
            &format!("{}/permission-application/table/approvers", base(PROJECT)),
            Some("alice"),
            Some(&fx.ws()),
            Some(bad.clone()),
        )
        .await;
        assert_error(status, &body, 400, "DLS.1000");
    }
}

/// An application whose expiry passes before its approval is not granted: the approval is
/// refused (the approver can still reject it), since an expired permission grants nothing.
#[tokio::test]
async fn an_application_that_expired_while_pending_is_not_granted() {
    let fx = fixture().await;
    // Far enough ahead for the opening on a loaded machine, near enough to wait for.
    let soon = ticketd_http::now().timestamp_millis() + 3_000;
    let (status, body) = da(
        &fx.app,
        "POST",
        &format!("{}/permission-application/table", base(PROJECT)),
        Some("alice"),
        Some(&fx.ws()),
        Some(json!({
            "approver": {"id": fx.reviewer.id().to_string()},
            "table_info": {"datasource_type": "hive", "database_name": "d", "table_name": "t", "expire_time": soon},
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["application_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(3_100)).await;
    let approve = format!("{}/permission-approve/approve/{id}", base(PROJECT));
    let (status, body) = da(
        &fx.app,
        "POST",
        &approve,
        Some("reviewer"),
        Some(&fx.ws()),
        Some(json!({"reason": "late"})),
    )
    .await;
    assert_error(status, &body, 400, "DLS.1000");
    assert!(
        body["error_msg"].as_str().unwrap().contains("expire_time"),
        "{body}"
    );
    fx.assert_nothing_granted().await;
    let reject = format!("{}/permission-approve/reject/{id}", base(PROJECT));
    let (status, body) = da(
        &fx.app,
        "POST",
        &reject,
        Some("reviewer"),
        Some(&fx.ws()),
        Some(json!({"reason": "expired"})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    // Nor is it submitted again (TopHC's overruled/submit): it would wait for an approval that
    // can never come.
    let again = fx
        .app
        .engine
        .act(
            &fx.alice,
            TicketId::parse(&id).unwrap(),
            ticketd_core::engine::TicketCommand::Resubmit {
                reason: String::new(),
            },
            ticketd_http::now(),
        )
        .await;
    assert!(
        matches!(&again, Err(ticketd_core::DomainError::Validation(errors)) if errors[0].field == "expire_time"),
        "{again:?}"
    );
    assert_eq!(fx.status_of(&id).await, "REJECT");
}

#[tokio::test]
async fn an_application_is_listed_with_every_documented_field_and_the_seed_request_runs_as_written()
{
    let fx = fixture().await;
    let id = fx.apply("alice", &fx.reviewer, "orders").await;

    // The seed's example request: the bare URI with its two headers.
    let (status, body) = da(
        &fx.app,
        "GET",
        &list_path(),
        Some("reviewer"),
        Some(&fx.ws()),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1);
    let approval = &body["approvals"][0];
    for field in [
        "approval_dispatch_error_msg",
        "approval_dispatch_status",
        "approval_type",
        "approve_reason",
        "current_node_id",
        "current_node_name",
        "current_node_type",
        "detail",
        "end_time",
        "expire_time",
        "id",
        "instance_id",
        "permission_set_id",
        "project_id",
        "proposer_id",
        "proposer_name",
        "proposer_workspace_id",
        "reason",
        "start_time",
        "status",
        "workspace_id",
        "workspace_name",
    ] {
        assert!(approval.get(field).is_some(), "{field} missing: {approval}");
    }
    for field in [
        "cluster_id",
        "cluster_name",
        "datasource_type",
        "expire_time",
        "permissions",
        "proposers",
    ] {
        assert!(
            approval["detail"].get(field).is_some(),
            "detail.{field} missing: {approval}"
        );
    }
    for field in [
        "column_name",
        "database_name",
        "permission_action",
        "permission_set_id",
        "schema_name",
        "secrecy_level_id",
        "table_name",
    ] {
        assert!(
            approval["detail"]["permissions"][0].get(field).is_some(),
            "permissions[0].{field} missing: {approval}"
        );
    }
    assert_eq!(approval["id"], id);
    assert_eq!(approval["approval_type"], "DATA_PERMISSION");
    assert_eq!(approval["status"], "WAITING_APPROVE");
    assert_eq!(approval["approve_reason"], "need orders");
    assert_eq!(approval["reason"], Value::Null);
    assert_eq!(approval["end_time"], Value::Null);
    assert_eq!(approval["expire_time"], EXPIRE_MS);
    assert_eq!(approval["project_id"], PROJECT);
    assert_eq!(approval["instance_id"], "inst-1");
    assert_eq!(approval["proposer_id"], fx.alice.id().to_string());
    assert_eq!(approval["proposer_name"], "alice");
    assert_eq!(approval["workspace_id"], fx.ws());
    assert_eq!(approval["proposer_workspace_id"], fx.ws());
    assert_eq!(approval["workspace_name"], "Data Lake");
    assert_eq!(approval["current_node_id"], fx.reviewer.id().to_string());
    assert_eq!(approval["current_node_name"], "reviewer");
    assert_eq!(
        approval["current_node_type"],
        "WORKSPACE_PERMISSION_SET_MANAGER"
    );
    assert!(approval["start_time"].as_i64().unwrap() > 1_700_000_000_000);
    let detail = &approval["detail"];
    assert_eq!(detail["datasource_type"], "DLI");
    assert_eq!(detail["cluster_id"], "DLI");
    assert_eq!(detail["expire_time"], EXPIRE_MS);
    assert_eq!(detail["permissions"][0]["database_name"], "sales");
    assert_eq!(detail["permissions"][0]["table_name"], "orders");
    assert_eq!(
        detail["permissions"][0]["permission_action"],
        json!(["SELECT"])
    );
    assert_eq!(
        detail["proposers"],
        json!([{"id": fx.bob.id().to_string(), "name": "bob", "type": "USER"}])
    );

    // Every query parameter of the seed at once.
    let start = approval["start_time"].as_i64().unwrap();
    let query = format!(
        "limit=10&offset=0&proposer_name=alice&approval_id={id}&workspace_id={}&status_list=0&application_start_time={}&application_end_time={}&order_by_desc=true&order_by=START_TIME",
        fx.ws(),
        start - 1000,
        start + 1000
    );
    let body = fx.list("reviewer", &query).await;
    assert_eq!(ids(&body), vec![id.clone()]);
    assert_eq!(body["total"], 1);
    // The applicant sees their own application too; a plain member of the workspace does not.
    assert_eq!(ids(&fx.list("alice", "").await), vec![id.clone()]);
    assert_eq!(fx.list("mallory", "").await["total"], 0);
}

#[tokio::test]
async fn each_list_filter_narrows_the_result_and_both_orders_sort() {
    let fx = fixture().await;
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(5));
    let a = fx.apply("alice", &fx.reviewer, "a").await;
    pause().await;
    let b = fx.apply("bob", &fx.reviewer, "b").await;
    pause().await;
    let c = fx.apply("alice", &fx.reviewer, "c").await;
    pause().await;
    let d = fx.apply("alice", &fx.reviewer, "d").await;
    // c approved first, then a; d rejected; b stays waiting.
    assert_eq!(
        fx.decide("reviewer", "approve", &c, json!({"reason": "ok"}))
            .await
            .0,
        204
    );
    pause().await;
    assert_eq!(
        fx.decide("reviewer", "approve", &a, json!({"reason": "ok"}))
            .await
            .0,
        204
    );
    assert_eq!(
        fx.decide("reviewer", "reject", &d, json!({"reason": "no"}))
            .await
            .0,
        204
    );

    let list = |q: &'static str| fx.list("reviewer", q);
    assert_eq!(
        ids(&list("").await),
        vec![d.clone(), c.clone(), b.clone(), a.clone()]
    );
    assert_eq!(list("").await["total"], 4);
    // Statuses by integer, by name, repeated and comma-separated.
    assert_eq!(ids(&list("status_list=0").await), vec![b.clone()]);
    assert_eq!(
        ids(&list("status_list=WAITING_APPROVE").await),
        vec![b.clone()]
    );
    assert_eq!(ids(&list("status_list=2").await), vec![d.clone()]);
    assert_eq!(
        ids(&list("status_list=1&status_list=2").await),
        vec![d.clone(), c.clone(), a.clone()]
    );
    assert_eq!(
        ids(&list("status_list=APPROVED,0").await),
        vec![c.clone(), b.clone(), a.clone()]
    );
    assert_eq!(list("status_list=3").await["total"], 0);
    // Applicant name (contained, case-insensitive) and id.
    assert_eq!(ids(&list("proposer_name=BO").await), vec![b.clone()]);
    assert_eq!(list("proposer_name=alice").await["total"], 3);
    assert_eq!(
        ids(&fx.list("reviewer", &format!("approval_id={c}")).await),
        vec![c.clone()]
    );
    assert_eq!(list("approval_id=not-a-ticket").await["total"], 0);
    assert_eq!(
        list("approval_id=00000000-0000-7000-8000-000000000000").await["total"],
        0
    );
    // Orders: START_TIME both ways, END_TIME (the decision time) both ways.
    assert_eq!(
        ids(&list("order_by=START_TIME&order_by_desc=false").await),
        vec![a.clone(), b.clone(), c.clone(), d.clone()]
    );
    assert_eq!(
        ids(&list("order_by=START_TIME&order_by_desc=true").await),
        vec![d.clone(), c.clone(), b.clone(), a.clone()]
    );
    assert_eq!(
        ids(&list("order_by=END_TIME&order_by_desc=false&status_list=1").await),
        vec![c.clone(), a.clone()]
    );
    assert_eq!(
        ids(&list("order_by=END_TIME&status_list=1").await),
        vec![a.clone(), c.clone()]
    );
    // A later mark (the applicant confirming c through TopHC) moves neither its end nor its
    // place in the END_TIME order; a waiting application, with no end, comes last both ways.
    let end_of = |body: &Value, id: &str| {
        body["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .map(|x| x["end_time"].clone())
            .unwrap()
    };
    let ended = end_of(&list("").await, &c);
    assert!(ended.is_i64(), "{ended}");
    fx.app
        .engine
        .act(
            &fx.alice,
            TicketId::parse(&c).unwrap(),
            ticketd_core::engine::TicketCommand::Confirm,
            ticketd_http::now(),
        )
        .await
        .unwrap();
    assert_eq!(end_of(&list("").await, &c), ended);
    assert_eq!(
        ids(&list("order_by=END_TIME&order_by_desc=false&status_list=1").await),
        vec![c.clone(), a.clone()]
    );
    assert_eq!(
        ids(&list("order_by=END_TIME&order_by_desc=false&status_list=0,1").await),
        vec![c.clone(), a.clone(), b.clone()]
    );
    assert_eq!(
        ids(&list("order_by=END_TIME&status_list=0,1").await),
        vec![a.clone(), c.clone(), b.clone()]
    );
    // Paging keeps the total.
    let page = list("limit=2&offset=1").await;
    assert_eq!(ids(&page), vec![c.clone(), b.clone()]);
    assert_eq!(page["total"], 4);
    assert_eq!(list("offset=10").await["approvals"], json!([]));
    // Past the end however many digits (until 2026-12-07 one beyond 64 bits was refused).
    let far = list("offset=99999999999999999999999999").await;
    assert_eq!(
        (far["approvals"].clone(), far["total"].clone()),
        (json!([]), json!(4))
    );
    // Application time window, inclusive, in epoch milliseconds.
    let all = list("").await;
    let starts: Vec<i64> = all["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["start_time"].as_i64().unwrap())
        .collect();
    let (first, last) = (starts[3], starts[0]);
    let window = |from: i64, to: i64| {
        let query = format!("application_start_time={from}&application_end_time={to}");
        let fx = &fx;
        async move { fx.list("reviewer", &query).await }
    };
    assert_eq!(window(first, last).await["total"], 4);
    assert_eq!(window(last + 1, last + 100_000).await["total"], 0);
    assert_eq!(window(0, first - 1).await["total"], 0);
    // workspace_id narrows within the header's workspace.
    assert_eq!(
        fx.list("reviewer", &format!("workspace_id={}", fx.ws()))
            .await["total"],
        4
    );
    assert_eq!(list("workspace_id=Data%20Lake").await["total"], 4);
    assert_eq!(
        fx.list("reviewer", &format!("workspace_id={}", fx.sea.id))
            .await["total"],
        0
    );
    // project_id partitions tickets.
    let (status, other) = da(
        &fx.app,
        "GET",
        &format!(
            "{}/openapi/permission-approve/approvals",
            base("other-project")
        ),
        Some("reviewer"),
        Some(&fx.ws()),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(other["total"], 0);
    // Bad parameters are a 400, never a 500.
    for query in [
        "limit=0",
        "limit=abc",
        "offset=-1",
        "offset=1e3",
        "offset=%2B",
        "status_list=9",
        "status_list=PENDING",
        "application_start_time=yesterday",
        "application_end_time=1.5",
        "order_by=NAME",
        "order_by_desc=sometimes",
    ] {
        let (status, body) = da(
            &fx.app,
            "GET",
            &format!("{}?{query}", list_path()),
            Some("reviewer"),
            Some(&fx.ws()),
            None,
        )
        .await;
        assert_error(status, &body, 400, "DLS.1000");
        if query.starts_with("offset") {
            assert_eq!(
                body["error_msg"], "offset must be an integer >= 0",
                "no parser's words"
            );
        }
    }
}

#[tokio::test]
async fn accepting_approves_and_creates_a_table_permission_grant_with_its_expire_time() {
    let fx = fixture().await;
    // A proposer who left the workspace before the approval gets no grant: the approval is
    // refused (and may be rejected instead) until they are a member again.
    let left = fx.apply("alice", &fx.reviewer, "left").await;
    let admin = fx.app.admin().await;
    fx.app
        .engine
        .remove_member(&admin, fx.lake.id, fx.bob.id(), ticketd_http::now())
        .await
        .unwrap();
    let (status, body) = fx
        .decide("reviewer", "approve", &left, json!({"reason": "Agree"}))
        .await;
    assert_error(status, &body, 400, "DLS.1000");
    assert_eq!(fx.status_of(&left).await, "WAITING_APPROVE");
    fx.app
        .engine
        .add_member(Some(&admin), fx.lake.id, fx.bob.id(), ROLE_ORG_USER)
        .await
        .unwrap();
    // The applicant is a proposer like the others: one who left is refused alike (the
    // approval granted them the table).
    let gone = fx.apply("alice", &fx.reviewer, "gone").await;
    fx.app
        .engine
        .remove_member(&admin, fx.lake.id, fx.alice.id(), ticketd_http::now())
        .await
        .unwrap();
    let (status, body) = fx
        .decide("reviewer", "approve", &gone, json!({"reason": "Agree"}))
        .await;
    assert_error(status, &body, 400, "DLS.1000");
    assert_eq!(fx.status_of(&gone).await, "WAITING_APPROVE");
    fx.app
        .engine
        .add_member(Some(&admin), fx.lake.id, fx.alice.id(), ROLE_ORG_USER)
        .await
        .unwrap();
    let id = fx.apply("alice", &fx.reviewer, "orders").await;
    let (status, body) = fx
        .decide("reviewer", "approve", &id, json!({"reason": "Agree"}))
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(body, Value::Null);
    let listed = fx.list("alice", &format!("approval_id={id}")).await;
    let approval = &listed["approvals"][0];
    assert_eq!(approval["status"], "APPROVED");
    assert_eq!(approval["reason"], "Agree");
    assert!(approval["end_time"].as_i64().unwrap() >= approval["start_time"].as_i64().unwrap());

    let ticket = TicketId::parse(&id).unwrap();
    for actor in [&fx.alice, &fx.bob] {
        let grants = fx
            .app
            .engine
            .grants(
                actor,
                GrantQuery {
                    kind: Some("table_permission".into()),
                    ..GrantQuery::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(grants.len(), 1, "{}", actor.user.username);
        let grant = &grants[0];
        assert_eq!(grant.ticket_id, ticket);
        assert_eq!(grant.org_id, fx.lake.id);
        assert_eq!(
            grant.valid_until.map(|t| t.timestamp_millis()),
            Some(EXPIRE_MS)
        );
        assert!(grant.is_valid_at(ticketd_http::now()));
        assert!(grant.users.contains(&fx.alice.id()));
        assert!(grant.users.contains(&fx.bob.id()));
        assert_eq!(grant.payload["permissions"][0]["table_name"], "orders");
        assert_eq!(
            (
                &grant.payload["datasource_type"],
                &grant.payload["instance_id"],
                &grant.payload["cluster_id"]
            ),
            (&json!("DLI"), &json!("inst-1"), &json!("DLI")),
            "where the table is"
        );
        assert_eq!(grant.payload["actions"], json!(["SELECT"]));
    }
    // Nothing is granted to someone else.
    let mallory = fx
        .app
        .engine
        .grants(
            &fx.mallory,
            GrantQuery {
                kind: Some("table_permission".into()),
                ..GrantQuery::default()
            },
        )
        .await
        .unwrap();
    assert!(mallory.is_empty());
}

/// An application whose applicant's account was deleted grants its other proposers nothing:
/// the approval is refused (it was granted to bob alone), and it can still be declined.
#[tokio::test]
async fn an_application_whose_applicant_was_deleted_is_not_granted() {
    let fx = fixture().await;
    let id = fx.apply("alice", &fx.reviewer, "orders").await;
    let admin = fx.app.admin().await;
    fx.app
        .engine
        .delete_user(&admin, fx.alice.id(), ticketd_http::now())
        .await
        .unwrap();
    // The applicant is still named by username, from what the ticket kept (it showed the
    // stored `Name(username)`).
    let listed = fx.list("reviewer", &format!("approval_id={id}")).await;
    assert_eq!(listed["approvals"][0]["proposer_name"], "alice", "{listed}");
    let (status, body) = fx
        .decide("reviewer", "approve", &id, json!({"reason": "ok"}))
        .await;
    assert_error(status, &body, 400, "DLS.1000");
    assert!(
        body["error_msg"].as_str().unwrap().contains("deleted"),
        "{body}"
    );
    fx.assert_nothing_granted().await;
    let (status, body) = fx
        .decide("reviewer", "reject", &id, json!({"reason": "gone"}))
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(fx.status_of(&id).await, "REJECT");
}

/// An approver whose account was deleted is still named by username, as every approver is.
#[tokio::test]
async fn a_deleted_approver_is_named_by_username() {
    let fx = fixture().await;
    let id = fx.apply("alice", &fx.reviewer, "orders").await;
    let admin = fx.app.admin().await;
    fx.app
        .engine
        .delete_user(&admin, fx.reviewer.id(), ticketd_http::now())
        .await
        .unwrap();
    let listed = fx.list("alice", &format!("approval_id={id}")).await;
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(
        listed["approvals"][0]["current_node_name"], "reviewer",
        "{listed}"
    );
}

#[tokio::test]
async fn declining_rejects_with_its_reason_and_a_reason_is_required() {
    let fx = fixture().await;
    let id = fx.apply("alice", &fx.reviewer, "orders").await;
    for (body, what) in [
        (json!({}), "missing"),
        (json!({"reason": "  "}), "blank"),
        (json!({"reason": 7}), "not a string"),
        (json!(["Rejected"]), "not an object"),
    ] {
        for verdict in ["approve", "reject"] {
            let (status, answer) = fx.decide("reviewer", verdict, &id, body.clone()).await;
            assert_eq!(status, 400, "{verdict} with {what}: {answer}");
            assert_eq!(answer["error_code"], "DLS.1000");
        }
    }
    assert_eq!(fx.status_of(&id).await, "WAITING_APPROVE");
    let (status, body) = fx
        .decide(
            "reviewer",
            "reject",
            &id,
            json!({"reason": "Rejected: too broad"}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let listed = fx.list("alice", "status_list=2").await;
    assert_eq!(ids(&listed), vec![id.clone()]);
    assert_eq!(listed["approvals"][0]["status"], "REJECT");
    assert_eq!(listed["approvals"][0]["reason"], "Rejected: too broad");
    assert!(listed["approvals"][0]["end_time"].is_i64());
    // No grant for a rejected application.
    let grants = fx
        .app
        .engine
        .grants(&fx.alice, GrantQuery::default())
        .await
        .unwrap();
    assert!(grants.is_empty());
}

#[tokio::test]
async fn only_the_chosen_approver_decides_and_a_decided_ticket_refuses_another_decision() {
    let fx = fixture().await;
    let id = fx.apply("alice", &fx.reviewer, "orders").await;
    let reason = json!({"reason": "Agree"});
    // Another workspace admin reads the ticket but is not its approver.
    let (status, body) = fx
        .decide("otheradmin", "approve", &id, reason.clone())
        .await;
    assert_error(status, &body, 403, "DLS.1003");
    // The applicant cannot decide their own application either.
    let (status, body) = fx.decide("alice", "approve", &id, reason.clone()).await;
    assert_error(status, &body, 403, "DLS.1003");
    // A member unrelated to the ticket does not see it.
    let (status, body) = fx.decide("mallory", "reject", &id, reason.clone()).await;
    assert_error(status, &body, 404, "DLS.1001");
    // Unknown and malformed ids.
    let (status, body) = fx
        .decide(
            "reviewer",
            "approve",
            "00000000-0000-7000-8000-000000000000",
            reason.clone(),
        )
        .await;
    assert_error(status, &body, 404, "DLS.1001");
    let (status, body) = fx
        .decide("reviewer", "approve", "nope", reason.clone())
        .await;
    assert_error(status, &body, 404, "DLS.1001");
    assert_eq!(fx.status_of(&id).await, "WAITING_APPROVE");

    assert_eq!(
        fx.decide("reviewer", "approve", &id, reason.clone())
            .await
            .0,
        204
    );
    for verdict in ["approve", "reject"] {
        let (status, body) = fx.decide("reviewer", verdict, &id, reason.clone()).await;
        assert_error(status, &body, 409, "DLS.1002");
        assert!(
            body["error_msg"].as_str().unwrap().contains("APPROVED"),
            "{body}"
        );
    }
    assert_eq!(fx.status_of(&id).await, "APPROVED");

    // The approver must be one of the workspace's approvers.
    let (status, body) = fx.try_apply("alice", &fx.mallory, "t").await;
    assert_error(status, &body, 400, "DLS.1000");
    let (status, body) = fx.try_apply("alice", &fx.sea_admin, "t").await;
    assert_error(status, &body, 400, "DLS.1000");
    assert_eq!(fx.list("reviewer", "").await["total"], 1);
}

#[tokio::test]
async fn batch_calls_report_each_id_on_its_own() {
    let fx = fixture().await;
    let valid = fx.apply("alice", &fx.reviewer, "a").await;
    let decided = fx.apply("alice", &fx.reviewer, "b").await;
    let foreign = fx.apply("alice", &fx.other_admin, "c").await;
    let second = fx.apply("bob", &fx.reviewer, "d").await;
    assert_eq!(
        fx.decide("reviewer", "reject", &decided, json!({"reason": "no"}))
            .await
            .0,
        204
    );
    let unknown = "00000000-0000-7000-8000-000000000000";

    let (status, body) = fx
        .batch(
            "reviewer",
            "approve",
            &[&valid, unknown, "garbage", &decided, &foreign, &valid],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let results = body.as_array().unwrap();
    assert_eq!(results.len(), 6);
    let outcome: Vec<(&str, &str)> = results
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcome,
        vec![
            (valid.as_str(), "SUCCESS"),
            (unknown, "FAIL"),
            ("garbage", "FAIL"),
            (decided.as_str(), "FAIL"),
            (foreign.as_str(), "FAIL"),
            // The same id twice: the second decision finds it already approved.
            (valid.as_str(), "FAIL"),
        ]
    );
    let message = |i: usize| results[i]["message"].as_str().unwrap().to_owned();
    assert!(message(1).starts_with("DLS.1001"), "{}", message(1));
    assert!(message(2).starts_with("DLS.1001"), "{}", message(2));
    assert!(message(3).starts_with("DLS.1002"), "{}", message(3));
    assert!(message(4).starts_with("DLS.1003"), "{}", message(4));
    assert!(message(5).starts_with("DLS.1002"), "{}", message(5));
    assert_eq!(fx.status_of(&valid).await, "APPROVED");
    assert_eq!(fx.status_of(&decided).await, "REJECT");
    assert_eq!(fx.status_of(&foreign).await, "WAITING_APPROVE");

    let (status, body) = fx
        .batch("reviewer", "reject", &[&second, &valid, &foreign])
        .await;
    assert_eq!(status, 200, "{body}");
    let statuses: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["SUCCESS", "FAIL", "FAIL"]);
    assert_eq!(fx.status_of(&second).await, "REJECT");

    // No ids, or no body at all: nothing to do.
    let (status, body) = fx.batch("reviewer", "approve", &[]).await;
    assert_eq!((status, body), (200, json!([])));
    let (status, body) = da(
        &fx.app,
        "POST",
        &format!("{}/openapi/permission-approve/batch-reject", base(PROJECT)),
        Some("reviewer"),
        Some(&fx.ws()),
        None,
    )
    .await;
    assert_eq!((status, body), (200, json!([])));
    for bad in [
        json!({"ids": "x"}),
        json!({"ids": [1]}),
        json!({"reason": 5}),
        json!(7),
    ] {
        let (status, body) = da(
            &fx.app,
            "POST",
            &format!("{}/openapi/permission-approve/batch-approve", base(PROJECT)),
            Some("reviewer"),
            Some(&fx.ws()),
            Some(bad),
        )
        .await;
        assert_error(status, &body, 400, "DLS.1000");
    }
}

#[tokio::test]
async fn the_applicant_withdraws_a_waiting_application_which_becomes_revoke() {
    let fx = fixture().await;
    let id = fx.apply("alice", &fx.reviewer, "orders").await;
    let (status, body) = fx.withdraw("reviewer", &id).await;
    assert_error(status, &body, 403, "DLS.1003");
    let (status, body) = fx.withdraw("alice", &id).await;
    assert_eq!(status, 200, "{body}");
    let listed = fx.list("alice", "status_list=3").await;
    assert_eq!(ids(&listed), vec![id.clone()]);
    assert_eq!(listed["approvals"][0]["status"], "REVOKE");
    assert!(listed["approvals"][0]["end_time"].is_i64());
    assert_eq!(fx.list("alice", "status_list=REVOKE").await["total"], 1);
    let (status, body) = fx.withdraw("alice", &id).await;
    assert_error(status, &body, 409, "DLS.1002");
    let (status, body) = fx
        .decide("reviewer", "approve", &id, json!({"reason": "late"}))
        .await;
    assert_error(status, &body, 409, "DLS.1002");
    // A decided application can no longer be withdrawn.
    let approved = fx.apply("alice", &fx.reviewer, "lines").await;
    assert_eq!(
        fx.decide("reviewer", "approve", &approved, json!({"reason": "ok"}))
            .await
            .0,
        204
    );
    let (status, body) = fx.withdraw("alice", &approved).await;
    assert_error(status, &body, 409, "DLS.1002");
    let (status, body) = fx.withdraw("alice", "not-an-id").await;
    assert_error(status, &body, 404, "DLS.1001");
}

#[tokio::test]
async fn x_auth_token_is_required_and_checked() {
    let fx = fixture().await;
    let ws = fx.ws();
    let (status, body) = da(&fx.app, "GET", &list_path(), None, Some(&ws), None).await;
    assert_error(status, &body, 401, "APIGW.0301");
    let (status, body) = da(&fx.app, "GET", &list_path(), Some("wrong"), Some(&ws), None).await;
    assert_error(status, &body, 401, "APIGW.0301");
    let (status, body) = da(&fx.app, "GET", &list_path(), Some(""), Some(&ws), None).await;
    assert_error(status, &body, 401, "APIGW.0301");
    // ticketd's own `Authorization: Token` is not a DataArts credential.
    let (status, body) = fx
        .app
        .call_with(
            "GET",
            &list_path(),
            ADMIN_TOKEN,
            None,
            &[("workspace", &ws)],
        )
        .await;
    assert_error(status, &body, 401, "APIGW.0301");
    // Every route checks, before looking at its input.
    let (status, body) = da(
        &fx.app,
        "POST",
        &format!("{}/permission-application/table", base(PROJECT)),
        None,
        Some(&ws),
        Some(json!({})),
    )
    .await;
    assert_error(status, &body, 401, "APIGW.0301");
    // A login session token works like an API token.
    let login = fx
        .app
        .client
        .post(fx.app.url("/api/v1/authentication/auth/"))
        .json(&json!({"username": "reviewer", "password": "reviewer-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let login: Value = login.json().await.unwrap();
    let session = login["token"].as_str().unwrap();
    let (status, body) = da(&fx.app, "GET", &list_path(), Some(session), Some(&ws), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = da(
        &fx.app,
        "GET",
        &list_path(),
        Some(ADMIN_TOKEN),
        Some(&ws),
        None,
    )
    .await;
    assert_eq!(status, 200);
    // A token beside a signature (even an invalid one) is two credentials: which to trust is
    // not for the server to guess, as a proxy in front may have checked the other (the token
    // was taken and the signature ignored).
    let both = fx
        .app
        .client
        .get(fx.app.url(&list_path()))
        .header("workspace", &ws)
        .header("X-Auth-Token", ADMIN_TOKEN)
        .header(
            "Authorization",
            "SDK-HMAC-SHA256 Access=x, SignedHeaders=host, Signature=00",
        )
        .send()
        .await
        .unwrap();
    let status = both.status().as_u16();
    let body: Value = both.json().await.unwrap();
    assert_error(status, &body, 401, "APIGW.0301");
}

#[tokio::test]
async fn workspaces_isolate_tickets_and_unknown_workspaces_are_refused() {
    let fx = fixture().await;
    let id = fx.apply("alice", &fx.reviewer, "orders").await;
    let sea = fx.sea.id.to_string();
    // The system admin sees the ticket in its workspace, by id or by name, and not in another.
    let in_lake = |ws: String| {
        let app = &fx.app;
        async move {
            da(app, "GET", &list_path(), Some(ADMIN_TOKEN), Some(&ws), None)
                .await
                .1["total"]
                .clone()
        }
    };
    assert_eq!(in_lake(fx.ws()).await, 1);
    assert_eq!(in_lake("Data Lake".into()).await, 1);
    assert_eq!(in_lake(sea.clone()).await, 0);
    // A name beyond ASCII is read as the SDK sends it, in UTF-8 (it was refused as not ASCII).
    fx.app
        .engine
        .rename_org(&fx.app.admin().await, fx.lake.id, "数据湖")
        .await
        .unwrap();
    assert_eq!(in_lake("数据湖".into()).await, 1);
    fx.app
        .engine
        .rename_org(&fx.app.admin().await, fx.lake.id, "Data Lake")
        .await
        .unwrap();
    // Decisions through another workspace do not find it.
    let (status, body) = da(
        &fx.app,
        "POST",
        &format!("{}/permission-approve/approve/{id}", base(PROJECT)),
        Some(ADMIN_TOKEN),
        Some(&sea),
        Some(json!({"reason": "x"})),
    )
    .await;
    assert_error(status, &body, 404, "DLS.1001");
    // Nor through another project.
    let (status, body) = da(
        &fx.app,
        "POST",
        &format!("{}/permission-approve/approve/{id}", base("p2")),
        Some("reviewer"),
        Some(&fx.ws()),
        Some(json!({"reason": "x"})),
    )
    .await;
    assert_error(status, &body, 404, "DLS.1001");
    // The other workspace's admin is not a member here; unknown workspaces are refused alike.
    for (token, ws) in [
        ("seaadmin", fx.ws()),
        ("reviewer", sea.clone()),
        ("reviewer", "no-such-workspace".to_owned()),
        (
            "reviewer",
            "00000000-0000-7000-8000-00000000abcd".to_owned(),
        ),
    ] {
        let (status, body) = da(&fx.app, "GET", &list_path(), Some(token), Some(&ws), None).await;
        assert_error(status, &body, 403, "DLS.1004");
    }
    let (status, body) = da(&fx.app, "GET", &list_path(), Some("reviewer"), None, None).await;
    assert_error(status, &body, 400, "DLS.1000");
    assert_eq!(fx.status_of(&id).await, "WAITING_APPROVE");
    let (status, _) = fx.withdraw("seaadmin", &id).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn unknown_routes_and_methods_under_the_prefix_answer_a_dataarts_404() {
    let fx = fixture().await;
    for (method, path) in [
        ("GET", format!("{}/nope", base(PROJECT))),
        ("GET", base(PROJECT)),
        ("GET", format!("{}/", base(PROJECT))),
        ("POST", format!("{}/", base(PROJECT))),
        (
            "POST",
            format!("{}/openapi/permission-approve/approvals/x/y", base(PROJECT)),
        ),
        ("DELETE", list_path()),
        (
            "GET",
            format!("{}/permission-approve/approve/x", base(PROJECT)),
        ),
    ] {
        let (status, body) = da(&fx.app, method, &path, Some("reviewer"), None, None).await;
        assert_error(status, &body, 404, "APIGW.0101");
    }
}

#[tokio::test]
async fn a_project_id_too_long_or_with_a_slash_is_refused_saying_why() {
    let fx = fixture().await;
    for project in ["p".repeat(65), "a%2Fb".to_owned(), "a%09b".to_owned()] {
        let path = format!("{}/openapi/permission-approve/approvals", base(&project));
        let (status, body) = da(&fx.app, "GET", &path, Some("reviewer"), None, None).await;
        assert_error(status, &body, 400, "DLS.1000");
        assert_eq!(
            body["error_msg"],
            "project_id must be 1 to 64 characters, without a slash or a control character",
            "{project}"
        );
    }
    // Counted in characters: 64 letters of two bytes each are accepted (they were refused).
    let wide = "%C3%A9".repeat(64);
    let path = format!("{}/openapi/permission-approve/approvals", base(&wide));
    let (status, body) = da(
        &fx.app,
        "GET",
        &path,
        Some("reviewer"),
        Some(&fx.ws()),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 0);
}

#[tokio::test]
async fn bad_bodies_answer_400_and_store_nothing() {
    let fx = fixture().await;
    let apply_path = format!("{}/permission-application/table", base(PROJECT));
    let approver = json!({"id": fx.reviewer.id().to_string()});
    let table = json!({"datasource_type": "hive", "database_name": "d", "table_name": "t"});
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let send_raw = |body: String| {
        let request = fx
            .app
            .client
            .post(fx.app.url(&apply_path))
            .header("X-Auth-Token", "alice")
            .header("workspace", fx.ws())
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
    for raw in [
        "{not json".to_owned(),
        deep,
        "\"text\"".to_owned(),
        String::new(),
    ] {
        let (status, body) = send_raw(raw.clone()).await;
        assert_error(status, &body, 400, "DLS.1000");
    }
    for bad in [
        json!({"table_info": table}),
        json!({"approver": {"id": "not-a-user"}, "table_info": table}),
        json!({"approver": approver, "table_info": {"datasource_type": "hive"}}),
        json!({"approver": approver}),
        json!({"approver": approver, "table_info": table, "proposers": "bob"}),
        json!({"approver": approver, "table_info": table, "proposers": [{"name": "x"}]}),
        json!({"approver": approver, "table_info": table, "proposers": [{"id": "x", "type": 9}]}),
        json!({"approver": approver, "table_info": table, "reason": ["r"]}),
        json!({"approver": approver, "table_info": {"datasource_type": "dli", "database_name": "d", "table_name": "t", "expire_time": -1}}),
        // Beyond chrono's range the grant had no expiry at all; the year 10000 is past Django's.
        json!({"approver": approver, "table_info": {"datasource_type": "dli", "database_name": "d", "table_name": "t", "expire_time": i64::MAX}}),
        json!({"approver": approver, "table_info": {"datasource_type": "dli", "database_name": "d", "table_name": "t", "expire_time": 253_402_300_800_000_i64}}),
        json!({"approver": {"id": fx.reviewer.id().to_string(), "workspace_id": 5}, "table_info": table}),
        // Already expired; a DLI cluster other than DLI; a user group applying for a DLI table.
        json!({"approver": approver, "table_info": {"datasource_type": "hive", "database_name": "d", "table_name": "t", "expire_time": 1_000}}),
        json!({"approver": approver, "table_info": {"datasource_type": "dli", "cluster_id": "c1", "database_name": "d", "table_name": "t"}}),
        json!({"approver": approver, "table_info": {"datasource_type": "dli", "database_name": "d", "table_name": "t"}, "proposers": [{"id": "g1", "type": 1}]}),
        // A user of another workspace, or of none: the approval would grant them this one's table.
        json!({"approver": approver, "table_info": table, "proposers": [{"id": fx.sea_admin.id().to_string(), "type": 0}]}),
        json!({"approver": approver, "table_info": table, "proposers": [{"id": uuid::Uuid::from_u128(7).to_string(), "type": 0}]}),
    ] {
        let (status, body) = da(
            &fx.app,
            "POST",
            &apply_path,
            Some("alice"),
            Some(&fx.ws()),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error_code"], "DLS.1000", "{bad}: {body}");
    }
    assert_eq!(fx.list("reviewer", "").await["total"], 0);
    // A minimal valid application: the applicant applies for themselves.
    let (status, body) = da(
        &fx.app,
        "POST",
        &apply_path,
        Some("alice"),
        Some(&fx.ws()),
        Some(json!({"approver": approver, "table_info": table})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let listed = fx.list("reviewer", "").await;
    assert_eq!(
        listed["approvals"][0]["detail"]["proposers"],
        json!([{"id": fx.alice.id().to_string(), "name": "alice", "type": "USER"}])
    );
    assert_eq!(listed["approvals"][0]["expire_time"], Value::Null);
    // A proposer who is a ticketd user is stored with their username and the usual spelling
    // of their id, once: the name sent was kept (another user's, or none), and an id in
    // capitals named the same user twice. Other ids are kept as sent.
    let bob = fx.bob.id().to_string();
    let (status, body) = da(
        &fx.app,
        "POST",
        &apply_path,
        Some("alice"),
        Some(&fx.ws()),
        Some(
            json!({"approver": approver, "table_info": table, "proposers": [
                {"id": bob, "name": "reviewer", "type": 0},
                {"id": bob.to_uppercase(), "type": 0},
                {"id": "group-7", "name": "Analysts", "type": 1},
            ]}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let listed = fx
        .list(
            "reviewer",
            &format!("approval_id={}", body["application_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        listed["approvals"][0]["detail"]["proposers"],
        json!([
            {"id": bob, "name": "bob", "type": "USER"},
            {"id": "group-7", "name": "Analysts", "type": "USER_GROUP"},
        ])
    );
    // A path with an invalid escape is refused, not a 500.
    let (status, body) = da(
        &fx.app,
        "POST",
        &format!("{}/permission-approve/approve/%FF%FE", base(PROJECT)),
        Some("reviewer"),
        Some(&fx.ws()),
        Some(json!({"reason": "x"})),
    )
    .await;
    assert!(status == 400 || status == 404, "{status} {body}");
    assert!(body["error_code"].is_string(), "{body}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let app = spawn_app_with(&[("TICKETD_BODY_LIMIT_BYTES", "1024")]).await;
    let ids: Vec<String> = (0..100).map(|i| format!("id-{i:040}")).collect();
    let (status, body) = da(
        &app,
        "POST",
        &format!("{}/openapi/permission-approve/batch-approve", base(PROJECT)),
        Some(ADMIN_TOKEN),
        Some("Default"),
        Some(json!({"ids": ids})),
    )
    .await;
    assert_error(status, &body, 413, "DLS.1006");
}

#[tokio::test]
async fn a_dataarts_application_shows_the_same_state_in_the_jumpserver_ticket_list() {
    let fx = fixture().await;
    let id = fx.apply("alice", &fx.reviewer, "orders").await;
    let jms_state = |expected: &'static str| {
        let app = &fx.app;
        let org = fx.ws();
        let id = id.clone();
        async move {
            let (status, body) = app
                .call_with(
                    "GET",
                    "/api/v1/tickets/tickets/",
                    "alice",
                    None,
                    &[("X-JMS-ORG", &org)],
                )
                .await;
            assert_eq!(status, 200, "{body}");
            let rows = body
                .get("results")
                .unwrap_or(&body)
                .as_array()
                .unwrap()
                .clone();
            let row = rows
                .iter()
                .find(|t| t["id"] == id.as_str())
                .unwrap_or_else(|| panic!("{id} not in {body}"))
                .clone();
            assert_eq!(row["state"]["value"], expected, "{row}");
        }
    };
    jms_state("pending").await;
    assert_eq!(
        fx.decide("reviewer", "approve", &id, json!({"reason": "ok"}))
            .await
            .0,
        204
    );
    jms_state("approved").await;
    assert_eq!(fx.status_of(&id).await, "APPROVED");
}

// ---------------------------------------------------------------- AK/SK signing

fn sha256_hex(text: &str) -> String {
    hex::encode(token_digest(text))
}

/// A request signed the way Huawei's SDKs sign (written independently of the dialect's verifier).
#[derive(Clone, Debug)]
pub(crate) struct SignedCall {
    pub(crate) method: &'static str,
    pub(crate) path: String,
    /// Already canonical: sorted by name, unreserved characters only.
    pub(crate) query: String,
    pub(crate) host: String,
    pub(crate) workspace: String,
    pub(crate) date: String,
    pub(crate) body: String,
}

impl SignedCall {
    pub(crate) fn new(
        app: &TestApp,
        method: &'static str,
        path: String,
        query: &str,
        workspace: &str,
        body: &str,
    ) -> Self {
        Self {
            method,
            path,
            query: query.to_owned(),
            host: app.addr.to_string(),
            workspace: workspace.to_owned(),
            date: ticketd_http::now().format("%Y%m%dT%H%M%SZ").to_string(),
            body: body.to_owned(),
        }
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("content-type", "application/json".to_owned()),
            ("host", self.host.clone()),
            ("workspace", self.workspace.clone()),
            ("x-sdk-date", self.date.clone()),
        ]
    }

    pub(crate) fn authorization(&self, key_id: &str, secret: &str) -> String {
        let headers = self.headers();
        let canonical_headers: String = headers
            .iter()
            .map(|(name, value)| format!("{name}:{value}\n"))
            .collect();
        let signed: Vec<&str> = headers.iter().map(|(name, _)| *name).collect();
        let canonical = format!(
            "{}\n{}/\n{}\n{canonical_headers}\n{}\n{}",
            self.method,
            self.path,
            self.query,
            signed.join(";"),
            sha256_hex(&self.body)
        );
        let to_sign = format!("SDK-HMAC-SHA256\n{}\n{}", self.date, sha256_hex(&canonical));
        let signature = hex::encode(hmac_sha256(secret.as_bytes(), to_sign.as_bytes()));
        format!(
            "SDK-HMAC-SHA256 Access={key_id}, SignedHeaders={}, Signature={signature}",
            signed.join(";")
        )
    }

    async fn send(&self, app: &TestApp, authorization: &str) -> (u16, Value) {
        let url = if self.query.is_empty() {
            app.url(&self.path)
        } else {
            app.url(&format!("{}?{}", self.path, self.query))
        };
        let method = reqwest::Method::from_bytes(self.method.as_bytes()).unwrap();
        let mut request = app
            .client
            .request(method, url)
            .header("Authorization", authorization)
            .header("Content-Type", "application/json")
            .header("Host", &self.host)
            .header("X-Sdk-Date", &self.date);
        if !self.workspace.is_empty() {
            request = request.header("workspace", &self.workspace);
        }
        if !self.body.is_empty() {
            request = request.body(self.body.clone());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

async fn access_key(fx: &Fixture, actor: &Actor) -> AccessKey {
    fx.app
        .engine
        .create_access_key(actor.id(), ticketd_http::now())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_rust_signed_request_is_accepted_and_every_tampered_variant_is_refused() {
    let fx = fixture().await;
    let first = fx.apply("alice", &fx.reviewer, "a").await;
    let second = fx.apply("alice", &fx.reviewer, "b").await;
    let key = access_key(&fx, &fx.reviewer).await;
    let (key_id, secret) = (key.id.to_string(), key.secret.clone());
    let ws = fx.ws();

    let list = SignedCall::new(
        &fx.app,
        "GET",
        list_path(),
        "limit=10&order_by=START_TIME&status_list=0&status_list=1",
        &ws,
        "",
    );
    let auth = list.authorization(&key_id, &secret);
    let (status, body) = list.send(&fx.app, &auth).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 2);

    let accept = SignedCall::new(
        &fx.app,
        "POST",
        format!("{}/permission-approve/approve/{first}", base(PROJECT)),
        "",
        &ws,
        r#"{"reason":"Agree"}"#,
    );
    let refused = |status: u16, body: &Value, what: &str| {
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error_code"], "APIGW.0301", "{what}: {body}");
    };

    // Method: signed as PUT, sent as POST.
    let mut signed = accept.clone();
    signed.method = "PUT";
    let (status, body) = accept
        .send(&fx.app, &signed.authorization(&key_id, &secret))
        .await;
    refused(status, &body, "method");
    // Path: signed for the first ticket, sent for the second.
    let mut moved = accept.clone();
    moved.path = format!("{}/permission-approve/approve/{second}", base(PROJECT));
    let (status, body) = moved
        .send(&fx.app, &accept.authorization(&key_id, &secret))
        .await;
    refused(status, &body, "path");
    // Query.
    let mut more = list.clone();
    more.query = "limit=11&order_by=START_TIME&status_list=0&status_list=1".into();
    let (status, body) = more.send(&fx.app, &auth).await;
    refused(status, &body, "query");
    let mut extra = list.clone();
    extra.query.push_str("&proposer_name=bob");
    let (status, body) = extra.send(&fx.app, &auth).await;
    refused(status, &body, "added query parameter");
    // A signed header: the workspace.
    let mut elsewhere = list.clone();
    elsewhere.workspace = "Data Lake".into();
    let (status, body) = elsewhere.send(&fx.app, &auth).await;
    refused(status, &body, "workspace header");
    // Body.
    let mut changed = accept.clone();
    changed.body = r#"{"reason":"Agreed"}"#.into();
    let (status, body) = changed
        .send(&fx.app, &accept.authorization(&key_id, &secret))
        .await;
    refused(status, &body, "body");
    // Date: one second later than signed, and a correctly signed but stale request.
    let mut later = accept.clone();
    later.date = (ticketd_http::now() + chrono::Duration::seconds(1))
        .format("%Y%m%dT%H%M%SZ")
        .to_string();
    if later.date == accept.date {
        later.date = (ticketd_http::now() + chrono::Duration::seconds(2))
            .format("%Y%m%dT%H%M%SZ")
            .to_string();
    }
    let (status, body) = later
        .send(&fx.app, &accept.authorization(&key_id, &secret))
        .await;
    refused(status, &body, "date");
    let mut stale = accept.clone();
    stale.date = (ticketd_http::now() - chrono::Duration::minutes(20))
        .format("%Y%m%dT%H%M%SZ")
        .to_string();
    let (status, body) = stale
        .send(&fx.app, &stale.authorization(&key_id, &secret))
        .await;
    assert_error(status, &body, 401, "APIGW.0307");
    let mut malformed = accept.clone();
    malformed.date = "yesterday".into();
    let (status, body) = malformed
        .send(&fx.app, &malformed.authorization(&key_id, &secret))
        .await;
    refused(status, &body, "malformed date");
    // Signature, key and secret.
    let good = accept.authorization(&key_id, &secret);
    let flipped = {
        let last = good.chars().last().unwrap();
        let replacement = if last == '0' { '1' } else { '0' };
        format!("{}{replacement}", &good[..good.len() - 1])
    };
    let (status, body) = accept.send(&fx.app, &flipped).await;
    refused(status, &body, "signature");
    let (status, body) = accept
        .send(&fx.app, &accept.authorization(&key_id, "wrong"))
        .await;
    refused(status, &body, "secret");
    let unknown = "00000000-0000-7000-8000-000000000999";
    let (status, body) = accept
        .send(&fx.app, &accept.authorization(unknown, &secret))
        .await;
    refused(status, &body, "unknown key");
    let (status, body) = accept.send(&fx.app, "SDK-HMAC-SHA256 Access=x").await;
    refused(status, &body, "incomplete authorization");
    // A workspace header the signature does not cover.
    let unsigned = good.replace("host;workspace;x-sdk-date", "host;x-sdk-date");
    let (status, body) = accept.send(&fx.app, &unsigned).await;
    refused(status, &body, "unsigned workspace");
    assert_eq!(fx.status_of(&first).await, "WAITING_APPROVE");
    assert_eq!(fx.status_of(&second).await, "WAITING_APPROVE");

    // The untouched request is accepted, and acts as the key's owner.
    let (status, body) = accept.send(&fx.app, &good).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(fx.status_of(&first).await, "APPROVED");
    // A key of a user who is not the approver signs fine but may not decide.
    let other = access_key(&fx, &fx.other_admin).await;
    let reject = SignedCall::new(
        &fx.app,
        "POST",
        format!("{}/permission-approve/reject/{second}", base(PROJECT)),
        "",
        &ws,
        r#"{"reason":"no"}"#,
    );
    let (status, body) = reject
        .send(
            &fx.app,
            &reject.authorization(&other.id.to_string(), &other.secret),
        )
        .await;
    assert_error(status, &body, 403, "DLS.1003");
}

#[tokio::test]
async fn the_official_python_sdk_signs_calls_that_ticketd_answers() {
    let fx = fixture().await;
    let mut tickets = Vec::new();
    for table in ["t1", "t2", "t3", "t4", "t5"] {
        tickets.push(fx.apply("alice", &fx.reviewer, table).await);
    }
    let unknown = "00000000-0000-7000-8000-000000000000".to_owned();
    let ids = json!({
        "accept": tickets[0],
        "decline": tickets[1],
        "batch_approve": [tickets[2], tickets[3], unknown],
        "batch_reject": [tickets[4], tickets[0]],
    });
    let key = access_key(&fx, &fx.reviewer).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/dataarts_sdk_client.py"
    );
    let args = vec![
        script.to_owned(),
        format!("http://{}", fx.app.addr),
        key.id.to_string(),
        key.secret.clone(),
        PROJECT.to_owned(),
        fx.ws(),
        ids.to_string(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3").args(&args).output()
    })
    .await
    .unwrap()
    .expect("python3 must be installed (see .ci/run)");
    assert!(
        output.status.success(),
        "the DataArts SDK client failed (is `pip install huaweicloudsdkcore huaweicloudsdkdataartsstudio` done? .ci/run does it):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Value = serde_json::from_slice(&output.stdout).unwrap();
    for call in [
        "list_waiting",
        "list_by_proposer",
        "list_one",
        "accept",
        "decline",
        "batch_approve",
        "batch_reject",
        "list_after",
    ] {
        assert_eq!(results[call]["ok"], true, "{call}: {results}");
    }
    let waiting = &results["list_waiting"];
    assert_eq!(waiting["status"], 200);
    assert_eq!(waiting["body"]["total"], 5, "{waiting}");
    assert_eq!(waiting["body"]["approvals"].as_array().unwrap().len(), 5);
    let first = &waiting["body"]["approvals"][0];
    assert_eq!(first["id"], tickets[4]);
    assert_eq!(first["status"], "WAITING_APPROVE");
    assert_eq!(first["detail"]["permissions"][0]["table_name"], "t5");
    assert_eq!(results["list_by_proposer"]["body"]["total"], 5);
    // By end time, none ended yet: equal, so the newest application first.
    assert_eq!(
        results["list_by_proposer"]["body"]["approvals"][0]["id"],
        tickets[4]
    );
    assert_eq!(results["list_one"]["body"]["total"], 1);
    assert_eq!(
        results["list_one"]["body"]["approvals"][0]["id"],
        tickets[0]
    );
    assert_eq!(results["accept"]["status"], 204);
    assert_eq!(results["decline"]["status"], 204);
    let outcome = |call: &str| -> Vec<(String, String)> {
        results[call]["body"]["body"]
            .as_array()
            .unwrap_or_else(|| panic!("{call}: {results}"))
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap().to_owned(),
                    r["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        outcome("batch_approve"),
        vec![
            (tickets[2].clone(), "SUCCESS".to_owned()),
            (tickets[3].clone(), "SUCCESS".to_owned()),
            (unknown.clone(), "FAIL".to_owned()),
        ]
    );
    assert_eq!(
        outcome("batch_reject"),
        vec![
            (tickets[4].clone(), "SUCCESS".to_owned()),
            (tickets[0].clone(), "FAIL".to_owned()),
        ]
    );
    assert_eq!(results["list_after"]["body"]["total"], 5);
    let wrong = &results["wrong_secret"];
    assert_eq!(wrong["ok"], false, "{wrong}");
    assert_eq!(wrong["status"], 401);
    assert_eq!(wrong["error_code"], "APIGW.0301");
    for (ticket, expected) in [
        (&tickets[0], "APPROVED"),
        (&tickets[1], "REJECT"),
        (&tickets[2], "APPROVED"),
        (&tickets[3], "APPROVED"),
        (&tickets[4], "REJECT"),
    ] {
        assert_eq!(fx.status_of(ticket).await, expected);
    }
}
