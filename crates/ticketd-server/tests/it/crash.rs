//! Crash safety: a write load (open, approve at two levels) against `ticketd serve`, killed with
//! SIGKILL at random moments and restarted on the same store; every write a client saw
//! acknowledged must be there, and steps, history, grants and outbox must agree.

use crate::multiprocess::{
    Server, call, free_port, login, seed_users_and_asset, start_at, wait_healthy,
};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use ticketd_core::TicketId;
use ticketd_core::store::{GrantQuery, Store, TicketQuery, Visibility};
use ticketd_core::ticket::{Decision, HistoryAction, TicketState};
use ticketd_server::config::{Config, Overrides};

const ADMIN: &str = "multi-admin";
const CYCLES: usize = 5;
const CLIENTS: usize = 8;

/// What clients saw acknowledged, and what they know of each ticket's progress.
#[derive(Default)]
struct Acknowledged {
    opened: HashSet<String>,
    /// Ticket id → the highest level whose approval the server acknowledged (200).
    approved: HashMap<String, u32>,
    /// Ticket id → the highest level known approved (acknowledged, or learned after a kill
    /// cut an answer off): decides what to do next, never what is verified.
    progress: HashMap<String, u32>,
    requests: u64,
}

/// A request that may meet a dead server: `None` when the connection failed.
async fn try_call(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Option<(u16, Value)> {
    let mut request = client
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{base}{path}"),
        )
        .header("Authorization", format!("Bearer {token}"))
        .timeout(Duration::from_secs(5));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    let body = response.json().await.ok()?;
    Some((status, body))
}

/// A tiny xorshift generator: the kill moments vary from run to run (seeded from the clock) and
/// the seed is printed, so a failing schedule can be replayed with `TICKETD_CRASH_SEED`.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// One client: opens tickets as alice, and approves open ones as bob (level 1) and carol
/// (level 2), recording what the server acknowledged.
async fn client_loop(
    base: String,
    tokens: Arc<HashMap<&'static str, String>>,
    asset: String,
    index: usize,
    running: Arc<AtomicBool>,
    acked: Arc<Mutex<Acknowledged>>,
) {
    let client = reqwest::Client::new();
    let mut n = 0usize;
    while running.load(Ordering::Relaxed) {
        n += 1;
        let work = {
            let known = acked.lock().unwrap();
            // Advance a ticket that waits at some level (clients spread over them), or open one.
            let waiting: Vec<(&String, u32)> = known
                .opened
                .iter()
                .map(|id| (id, known.progress.get(id).copied().unwrap_or(0)))
                .filter(|(_, level)| *level < 2)
                .collect();
            (!n.is_multiple_of(3) && !waiting.is_empty()).then(|| {
                let (id, level) = waiting[(index + n) % waiting.len()];
                (id.clone(), level + 1)
            })
        };
        let Some((id, level)) = work else {
            let body = json!({"title": format!("crash {index}-{n}"), "org_id": "Default",
                              "apply_assets": [asset], "apply_accounts": ["root"],
                              "apply_date_start": "2026-01-01 00:00:00",
                              "apply_date_expired": "2027-01-01 00:00:00"});
            let path = "/api/v1/tickets/apply-asset-tickets/open/";
            let answer = try_call(&client, &base, "POST", path, &tokens["alice"], Some(body)).await;
            acked.lock().unwrap().requests += 1;
            match answer {
                Some((201, body)) => {
                    let id = body["id"].as_str().unwrap().to_owned();
                    acked.lock().unwrap().opened.insert(id);
                }
                Some((status, body)) => panic!("open answered {status}: {body}"),
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
            continue;
        };
        let approver = if level == 1 { "bob" } else { "carol" };
        let path = format!("/api/v1/tickets/apply-asset-tickets/{id}/approve/");
        let answer = try_call(
            &client,
            &base,
            "PUT",
            &path,
            &tokens[approver],
            Some(json!({})),
        )
        .await;
        acked.lock().unwrap().requests += 1;
        match answer {
            Some((200, _)) => {
                let mut acked = acked.lock().unwrap();
                acked.approved.insert(id.clone(), level);
                acked.progress.insert(id, level);
            }
            // Another client got there first, or this approval committed before a kill cut
            // the answer off: ask the server where the ticket is.
            Some((403 | 409, _)) => {
                let read = format!("/api/v1/tickets/tickets/{id}/");
                if let Some((200, ticket)) =
                    try_call(&client, &base, "GET", &read, &tokens["alice"], None).await
                {
                    let reached = match (
                        ticket["state"]["value"].as_str(),
                        ticket["approval_step"]["value"].as_u64(),
                    ) {
                        (Some("approved"), _) => 2,
                        (Some("pending"), Some(step)) => u32::try_from(step).unwrap() - 1,
                        _ => 0,
                    };
                    let mut acked = acked.lock().unwrap();
                    let known = acked.progress.entry(id).or_default();
                    *known = (*known).max(reached);
                }
            }
            Some((status, body)) => panic!("PUT {path} answered {status}: {body}"),
            None => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

async fn open_store(url: &str) -> Arc<dyn Store> {
    let (config, _) = Config::load(
        None,
        &std::collections::BTreeMap::new(),
        &Overrides {
            listen: None,
            database_url: Some(url.to_owned()),
        },
    )
    .unwrap();
    ticketd_server::open_store(&config).await.unwrap().0
}

/// Checks every acknowledged write is stored and every ticket's records agree.
async fn verify(store: &Arc<dyn Store>, acked: &Acknowledged) -> usize {
    let tickets = store
        .list_tickets(TicketQuery {
            limit: 100_000,
            ..TicketQuery::new(Visibility::All)
        })
        .await
        .unwrap()
        .items;
    let by_id: HashMap<String, _> = tickets.iter().map(|t| (t.id.to_string(), t)).collect();
    for id in &acked.opened {
        assert!(by_id.contains_key(id), "acknowledged open {id} was lost");
    }
    for (id, level) in &acked.approved {
        let ticket = by_id[id];
        match level {
            1 => assert!(
                ticket.state == TicketState::Approved || ticket.approval_step == 2,
                "acknowledged level-1 approval of {id} was lost: {:?} at {}",
                ticket.state,
                ticket.approval_step
            ),
            _ => assert_eq!(
                ticket.state,
                TicketState::Approved,
                "acknowledged final approval of {id} was lost"
            ),
        }
    }
    let events = store.events_after(0, 1_000_000).await.unwrap();
    let mut events_of: HashMap<TicketId, Vec<&str>> = HashMap::new();
    for (_, event) in &events {
        events_of
            .entry(event.ticket_id)
            .or_default()
            .push(event.kind.as_str());
    }
    for ticket in tickets.iter() {
        let history = store.ticket_history(ticket.id).await.unwrap();
        let grants = store
            .list_grants(GrantQuery {
                ticket: Some(ticket.id),
                ..GrantQuery::default()
            })
            .await
            .unwrap();
        let approvals: Vec<u32> = history
            .iter()
            .filter(|h| h.action == HistoryAction::Approve)
            .map(|h| h.level)
            .collect();
        let kinds = events_of.get(&ticket.id).cloned().unwrap_or_default();
        let transition_events = kinds.iter().filter(|k| k.starts_with("ticket.")).count();
        let grant_events = kinds.iter().filter(|k| k.starts_with("grant.")).count();
        let context = format!(
            "{} {:?} step {}: history {approvals:?}, events {kinds:?}, {} grants",
            ticket.id,
            ticket.state,
            ticket.approval_step,
            grants.len()
        );
        assert_eq!(history[0].action, HistoryAction::Submit, "{context}");
        // Every level passed shows its approval in the steps as in the history.
        let decided = ticket
            .steps
            .iter()
            .filter(|step| {
                step.assignees
                    .iter()
                    .any(|a| a.decision == Decision::Approved)
            })
            .count();
        assert_eq!(
            decided,
            approvals.len(),
            "{context}: steps disagree with the history"
        );
        assert_eq!(transition_events, history.len(), "{context}");
        assert_eq!(grant_events, grants.len(), "{context}");
        match ticket.state {
            TicketState::Approved => {
                assert_eq!(approvals, vec![1, 2], "{context}");
                assert_eq!(grants.len(), 1, "{context}");
            }
            TicketState::Pending => {
                assert_eq!(
                    approvals.len() + 1,
                    ticket.approval_step as usize,
                    "{context}"
                );
                assert!(grants.is_empty(), "{context}");
                let step = &ticket.steps[ticket.approval_step as usize - 1];
                assert!(
                    step.assignees
                        .iter()
                        .all(|a| a.decision == Decision::Pending),
                    "{context}: the current step has a decision the state does not show"
                );
            }
            other => panic!("{context}: unexpected state {other:?}"),
        }
    }
    tickets.len()
}

async fn crash_and_restart(database_url: &str) {
    let seed = std::env::var("TICKETD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(88_172_645_463_325_252, |d| d.as_nanos() as u64 | 1)
        });
    let mut rng = seed;
    let port = free_port();
    let env = [("TICKETD_RATE_LIMIT_PER_MINUTE", "0")];
    let client = reqwest::Client::new();
    let mut server: Server = start_at(database_url, port, &env);
    wait_healthy(&client, &server).await;
    let base = server.base.clone();
    let (ids, asset) = seed_users_and_asset(&client, &base, ADMIN).await;
    let flow = json!({"name": "crash", "type": "apply_asset", "approval_level": 2, "rules": [
        {"users": {"type": "ids", "ids": [ids["bob"]]}},
        {"users": {"type": "ids", "ids": [ids["carol"]]}},
    ]});
    let (status, body) = call(
        &client,
        &base,
        "PATCH",
        "/api/v1/tickets/flows/",
        ADMIN,
        Some(flow),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut tokens = HashMap::new();
    for name in ["alice", "bob", "carol"] {
        tokens.insert(name, login(&client, &base, name).await);
    }
    let tokens = Arc::new(tokens);
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let running = Arc::new(AtomicBool::new(true));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            tokio::spawn(client_loop(
                base.clone(),
                Arc::clone(&tokens),
                asset["id"].as_str().unwrap().to_owned(),
                i,
                Arc::clone(&running),
                Arc::clone(&acked),
            ))
        })
        .collect();
    for _ in 0..CYCLES {
        tokio::time::sleep(Duration::from_millis(300 + next(&mut rng) % 900)).await;
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        server = start_at(database_url, port, &env);
        wait_healthy(&client, &server).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.store(false, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let store = open_store(database_url).await;
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let stored = verify(&store, &acked).await;
    let finals = acked.approved.values().filter(|l| **l == 2).count();
    eprintln!(
        "crash safety ({}): {CYCLES} SIGKILL/restart cycles (seed {seed}), {} requests, \
         {} opens and {} approvals acknowledged ({finals} final), {stored} tickets consistent",
        database_url.split(':').next().unwrap_or_default(),
        acked.requests,
        acked.opened.len(),
        acked.approved.len(),
    );
    assert!(acked.opened.len() >= CYCLES, "the load barely ran");
    assert!(finals > 0, "no ticket was approved to the end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    crash_and_restart(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_on_postgres() {
    let Some(database) = crate::pg::TestDatabase::create_if_configured().await else {
        return;
    };
    crash_and_restart(&database.url).await;
}
