//! The JumpServer seed documents (000, 001): every curl and python example, run as written.

use crate::app::spawn_app;
use serde_json::{Value, json};
use std::path::PathBuf;
use ticketd_core::catalog::Asset;
use ticketd_core::engine::{FlowChoice, NewTicket};
use ticketd_core::identity::{DEFAULT_ORG, TokenKind};
use ticketd_core::{AssetId, TicketId};

const SEED_TOKEN: &str = "b96810faac725563304dada8c323c4fa061863d4";
const SEED_ASSET: &str = "b4f205af-4353-49ef-befa-ff9095d52a27";
const SEED_TICKET: &str = "41b36621-dd4d-492e-a72c-be20b2daeea8";

fn seed_file(prefix: &str) -> PathBuf {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/seeds"
    ));
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the seeds live in {}: {e}", dir.display()));
    entries
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap()
}

/// A deployment holding what the seeds name: admin's token, the asset and a pending ticket.
async fn run_seed(prefix: &str) -> Vec<Value> {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let now = ticketd_http::now();
    app.engine
        .install_token(admin.id(), SEED_TOKEN, TokenKind::Api, None, now)
        .await
        .unwrap();
    let asset_id = AssetId::parse(SEED_ASSET).unwrap();
    let asset = Asset {
        id: asset_id,
        org_id: DEFAULT_ORG,
        name: "peer-host-1".into(),
        address: "127.0.0.2".into(),
        platform: "Linux".into(),
        is_active: true,
        node_ids: vec![],
        comment: String::new(),
        created_at: now,
        updated_at: now,
    };
    app.engine.create_asset(&admin, asset).await.unwrap();
    let payload = json!({
        "assets": [SEED_ASSET], "nodes": [], "accounts": ["@ALL"], "actions": 127,
        "date_start": "2023-03-28T02:10:23Z", "date_expired": "2023-04-04T02:10:23Z"
    });
    let ticket = NewTicket {
        id: Some(TicketId::parse(SEED_TICKET).unwrap()),
        org_id: DEFAULT_ORG,
        kind: "apply_asset".into(),
        title: "seed ticket".into(),
        payload,
        comment: String::new(),
        scope: String::new(),
        flow: FlowChoice::Auto,
        submit: true,
        applicant: None,
        cc_users: vec![],
    };
    app.engine.open_ticket(&admin, ticket, now).await.unwrap();
    let key = app.engine.create_access_key(admin.id(), now).await.unwrap();
    let flow = app
        .engine
        .list_flows(&admin, DEFAULT_ORG)
        .await
        .unwrap()
        .remove(0);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/seeds_runner.py");
    let args = [
        script.to_owned(),
        seed_file(prefix).display().to_string(),
        format!("http://{}", app.addr),
        key.id.to_string(),
        key.secret.clone(),
        flow.id.to_string(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3").args(&args).output()
    })
    .await
    .unwrap()
    .expect("python3 runs the seed examples (see .ci/run)");
    assert!(
        output.status.success(),
        "seed runner failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn check(results: &[Value], curl_statuses: &[u16], python_functions: &[&str]) {
    let curls: Vec<&Value> = results.iter().filter(|r| r["kind"] == "curl").collect();
    let statuses: Vec<u64> = curls
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = curl_statuses.iter().map(|s| u64::from(*s)).collect();
    assert_eq!(statuses, expected, "curl results: {curls:#?}");
    let pythons: Vec<&Value> = results.iter().filter(|r| r["kind"] == "python").collect();
    let names: Vec<&str> = pythons
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, python_functions);
    for run in pythons {
        let output = run["output"].as_str().unwrap();
        assert_eq!(run["exit"], 0, "{run:#}");
        assert!(
            !output.contains("错误"),
            "the example reported an error: {run:#}"
        );
        assert!(
            !output.contains("未找到"),
            "the example found nothing: {run:#}"
        );
    }
}

#[tokio::test]
async fn seed_000_curl_examples_run_as_written() {
    let results = run_seed("000_").await;
    // open, list, approve, list flows, "update" flows (a GET with a body)
    check(&results, &[201, 200, 200, 200, 200], &[]);
    let approve = &results[2];
    assert!(
        approve["body"].as_str().unwrap().contains("ok"),
        "{approve:#}"
    );
}

#[tokio::test]
async fn seed_001_curl_and_python_examples_run_as_written() {
    let results = run_seed("001_").await;
    // curl: open, list, approve, list flows, PATCH flows/ (no id, legacy rule form)
    check(
        &results,
        &[201, 200, 200, 200, 200],
        &[
            "apply_asset_tickets",
            "search_tickets",
            "approve_tickets",
            "search_flows",
            "update_tickets_flows",
        ],
    );
}
