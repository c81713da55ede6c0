//! Scale-out: three `ticketd serve` processes over one PostgreSQL database, clients racing
//! decisions on the same tickets through different processes; every rule must still hold.

use crate::pg::TestDatabase;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TICKETS: usize = 60;

/// A `ticketd serve` child process, killed (SIGKILL) when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(database_url: &str) -> Server {
    start_at(database_url, free_port(), &[])
}

/// Starts `ticketd serve` on `port` over `database_url` with extra environment variables.
pub(crate) fn start_at(database_url: &str, port: u16, env: &[(&str, &str)]) -> Server {
    let dir = std::env::temp_dir();
    let child = Command::new(env!("CARGO_BIN_EXE_ticketd"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            database_url,
        ])
        .current_dir(dir)
        .env("TICKETD_ADMIN_TOKEN", "multi-admin")
        .env("TICKETD_ADMIN_PASSWORD", "multi-admin-password")
        .env("TICKETD_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// Creates alice, bob and carol (plain users, password `<name>-password`) and the asset `db01`
/// through `base` as `admin`; returns the users' ids by name and the asset.
pub(crate) async fn seed_users_and_asset(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
) -> (HashMap<&'static str, String>, Value) {
    let mut ids = HashMap::new();
    for name in ["alice", "bob", "carol"] {
        let body = json!({"username": name, "name": name, "email": format!("{name}@example.com"),
                          "password": format!("{name}-password"),
                          "system_roles": ["00000000-0000-0000-0000-000000000003"]});
        let (status, created) = call(
            client,
            base,
            "POST",
            "/api/v1/users/users/",
            admin,
            Some(body),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        ids.insert(name, created["id"].as_str().unwrap().to_owned());
    }
    let (status, asset) = call(
        client,
        base,
        "POST",
        "/api/v1/assets/assets/",
        admin,
        Some(json!({"name": "db01", "address": "10.0.0.5"})),
    )
    .await;
    assert_eq!(status, 201, "{asset}");
    (ids, asset)
}

pub(crate) async fn wait_healthy(client: &reqwest::Client, server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(response) = client.get(format!("{}/healthz", server.base)).send().await
            && response.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server {} did not become healthy", server.base);
}

pub(crate) async fn call(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{base}{path}"),
        )
        .header("Authorization", format!("Bearer {token}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn login(client: &reqwest::Client, base: &str, username: &str) -> String {
    let response = client
        .post(format!("{base}/api/v1/authentication/auth/"))
        .json(&json!({"username": username, "password": format!("{username}-password")}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn query(url: &str, sql: &str) -> Vec<tokio_postgres::Row> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(connection);
    let rows = client.query(sql, &[]).await.unwrap();
    drop(client);
    let _ = task.await;
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processes_over_one_postgres_keep_every_rule() {
    let Some(database) = TestDatabase::create_if_configured().await else {
        return;
    };
    // All three start at once on an empty database: migrations and bootstrap must not collide.
    let servers: Vec<Server> = (0..3).map(|_| start(&database.url)).collect();
    let client = reqwest::Client::new();
    for server in &servers {
        wait_healthy(&client, server).await;
    }
    let admin = "multi-admin";
    let first = servers[0].base.clone();
    let (ids, asset) = seed_users_and_asset(&client, &first, admin).await;
    let id_of = |name: &str| ids[name].clone();
    let flow = json!({"name": "race", "approval_level": 1, "rules": [{"users": {"type": "ids", "ids": [id_of("bob"), id_of("carol")]}}]});
    let (status, body) = call(
        &client,
        &servers[1].base,
        "POST",
        "/api/v1/tickets/flows/",
        admin,
        Some(flow),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let mut tokens = HashMap::new();
    for (i, name) in ["alice", "bob", "carol"].iter().enumerate() {
        tokens.insert(*name, login(&client, &servers[i].base, name).await);
    }

    // Open tickets concurrently through all three processes.
    let mut opens = Vec::new();
    for i in 0..TICKETS {
        let (client, base, token) = (
            client.clone(),
            servers[i % 3].base.clone(),
            tokens["alice"].clone(),
        );
        let asset_id = asset["id"].clone();
        opens.push(tokio::spawn(async move {
            let body = json!({"title": format!("race {i}"), "org_id": "Default", "apply_assets": [asset_id],
                              "apply_accounts": ["root"], "apply_date_start": "2026-01-01 00:00:00",
                              "apply_date_expired": "2027-01-01 00:00:00"});
            call(&client, &base, "POST", "/api/v1/tickets/apply-asset-tickets/open/", &token, Some(body)).await
        }));
    }
    let mut acknowledged = Vec::new();
    for open in opens {
        let (status, body) = open.await.unwrap();
        assert_eq!(status, 201, "{body}");
        acknowledged.push(body["id"].as_str().unwrap().to_owned());
    }

    // Race approve (bob), reject (carol) and close (alice) on every ticket, each through a
    // different process.
    let mut races = Vec::new();
    for (i, id) in acknowledged.iter().enumerate() {
        let actions = [
            ("bob", "approve/", (i) % 3),
            ("carol", "reject/", (i + 1) % 3),
            ("alice", "close/", (i + 2) % 3),
        ];
        for (user, action, server) in actions {
            let (client, base, token, id) = (
                client.clone(),
                servers[server].base.clone(),
                tokens[user].clone(),
                id.clone(),
            );
            races.push(tokio::spawn(async move {
                let path = format!("/api/v1/tickets/apply-asset-tickets/{id}/{action}");
                let (status, body) =
                    call(&client, &base, "PUT", &path, &token, Some(json!({}))).await;
                (id, action, status, body)
            }));
        }
    }
    let mut winners: HashMap<String, Vec<&str>> = HashMap::new();
    for race in races {
        let (id, action, status, body) = race.await.unwrap();
        assert!(
            status == 200 || status == 409,
            "{action} on {id}: {status} {body}"
        );
        if status == 200 {
            winners.entry(id).or_default().push(action);
        }
    }
    for id in &acknowledged {
        assert_eq!(
            winners.get(id).map(Vec::len),
            Some(1),
            "exactly one decision wins on {id}: {:?}",
            winners.get(id)
        );
    }

    // Check the database itself.
    let url = &database.url;
    let count = |rows: Vec<tokio_postgres::Row>| rows[0].get::<_, i64>(0);
    assert_eq!(
        count(query(url, "SELECT count(*) FROM tickets").await),
        TICKETS as i64,
        "every acknowledged ticket exists once"
    );
    let ids: Vec<String> = query(url, "SELECT id::text FROM tickets")
        .await
        .iter()
        .map(|r| r.get(0))
        .collect();
    for id in &acknowledged {
        assert!(ids.contains(id), "acknowledged ticket {id} is stored");
    }
    assert_eq!(
        count(query(url, "SELECT count(DISTINCT serial) FROM tickets").await),
        TICKETS as i64,
        "serials are unique"
    );
    let steps = query(url, "SELECT id::text, state, steps FROM tickets").await;
    let mut approved = 0;
    for row in &steps {
        let state: String = row.get(1);
        let steps: Value = row.get(2);
        let decided = steps[0]["assignees"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["decision"] != "pending")
            .count();
        let expected = usize::from(state != "closed");
        assert_eq!(
            decided, expected,
            "an any-mode step has exactly one decision unless closed: {row:?}"
        );
        let winner = winners[&row.get::<_, String>(0)][0];
        let expected_state = match winner {
            "approve/" => "approved",
            "reject/" => "rejected",
            _ => "closed",
        };
        assert_eq!(
            state, expected_state,
            "the stored state is the acknowledged winner's"
        );
        approved += usize::from(state == "approved");
    }
    let terminal = query(url, "SELECT ticket_id, count(*) FROM ticket_history WHERE to_state IN ('approved','rejected','closed') GROUP BY ticket_id").await;
    assert_eq!(terminal.len(), TICKETS);
    assert!(
        terminal.iter().all(|r| r.get::<_, i64>(1) == 1),
        "no ticket has two terminal transitions"
    );
    let grants = query(url, "SELECT t.id, count(g.id) FROM tickets t LEFT JOIN grants g ON g.ticket_id = t.id WHERE t.state = 'approved' GROUP BY t.id").await;
    assert_eq!(grants.len(), approved);
    assert!(
        grants.iter().all(|r| r.get::<_, i64>(1) == 1),
        "each approved ticket has exactly one grant"
    );
    assert_eq!(
        count(query(url, "SELECT count(*) FROM grants").await),
        approved as i64
    );
    let history = count(query(url, "SELECT count(*) FROM ticket_history").await);
    assert_eq!(
        history,
        2 * TICKETS as i64,
        "one submit and one decision per ticket"
    );
    let events = count(
        query(
            url,
            "SELECT count(*) FROM outbox_events WHERE kind <> 'grant.created'",
        )
        .await,
    );
    assert_eq!(events, history, "the outbox has one row per transition");
    drop(servers);
}
