//! Bad input at the HTTP edge: always a clear 4xx in the dialect's format, never a 5xx.

use crate::app::{ADMIN_TOKEN, spawn_app, spawn_app_with};
use serde_json::Value;

async fn post_login(app: &crate::app::TestApp, body: Vec<u8>) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/api/v1/authentication/auth/"))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn malformed_json_wrong_types_and_deep_nesting_get_400() {
    let app = spawn_app().await;
    let (status, body) = post_login(&app, b"{'username': 1}".to_vec()).await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "parse_error");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error")
    );
    let (status, body) = post_login(&app, br#"{"username": 42, "password": ["x"]}"#.to_vec()).await;
    assert_eq!(status, 400);
    assert_eq!(body["username"][0], "Not a valid string.");
    assert_eq!(body["password"][0], "Not a valid string.");
    let (status, body) = post_login(&app, br#"{}"#.to_vec()).await;
    assert_eq!(status, 400);
    assert_eq!(body["username"][0], "This field is required.");
    let (status, body) = post_login(&app, br#"[1, 2]"#.to_vec()).await;
    assert_eq!(status, 400);
    assert!(body["non_field_errors"].is_array());
    let (status, body) = post_login(&app, "[".repeat(10_000).into_bytes()).await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("nesting"));
    let (status, _) = post_login(&app, vec![0xff, 0xfe, 0x00]).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_body_over_the_configured_limit_gets_413() {
    let app = spawn_app_with(&[("TICKETD_BODY_LIMIT_BYTES", "1024")]).await;
    let big = format!(
        r#"{{"username":"admin","password":"{}"}}"#,
        "x".repeat(4096)
    );
    let (status, body) = post_login(&app, big.into_bytes()).await;
    assert_eq!(status, 413);
    assert_eq!(body["code"], "request_too_large");
}

#[tokio::test]
async fn unknown_and_foreign_organizations_are_refused() {
    let app = spawn_app().await;
    let get = |org: &'static str, token: String| {
        app.client
            .get(app.url("/api/v1/users/profile/"))
            .header("Authorization", format!("Token {token}"))
            .header("X-JMS-ORG", org)
            .send()
    };
    let response = get("no-such-org", ADMIN_TOKEN.into()).await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "org_not_found"
    );
    for alias in [
        "DEFAULT",
        "ROOT",
        "SYSTEM",
        "Default",
        "00000000-0000-0000-0000-000000000002",
        "",
    ] {
        assert_eq!(
            get(alias, ADMIN_TOKEN.into()).await.unwrap().status(),
            200,
            "{alias}"
        );
    }
    let now = ticketd_http::now();
    let admin = app
        .engine
        .store()
        .find_user_by_username("admin")
        .await
        .unwrap()
        .unwrap();
    let admin = app.engine.actor(admin.id).await.unwrap();
    let other = app
        .engine
        .create_org(Some(&admin), "Other", now)
        .await
        .unwrap();
    let user = app
        .engine
        .create_user(
            None,
            ticketd_core::engine::NewUserInput {
                username: "dora".into(),
                name: String::new(),
                email: String::new(),
                system_role: ticketd_core::identity::SystemRole::User,
                password: None,
                orgs: Vec::new(),
            },
            now,
        )
        .await
        .unwrap();
    let token = app
        .engine
        .issue_token(user.id, ticketd_core::identity::TokenKind::Api, None, now)
        .await
        .unwrap();
    assert_eq!(get("Default", token.clone()).await.unwrap().status(), 200);
    let response = app
        .client
        .get(app.url(&format!("/api/v1/users/profile/?oid={}", other.id)))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "permission_denied"
    );
}

#[tokio::test]
async fn health_is_public_and_unknown_routes_are_json_404() {
    let app = spawn_app().await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");
    let missing = app
        .client
        .get(app.url("/api/v1/nothing/here/"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().await.unwrap()["code"], "not_found");
}

/// Copies bytes from `from` to `to`, holding them while `stalled` is set.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while stalled.load(std::sync::atomic::Ordering::Relaxed) {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// A TCP relay to `target` that stops passing bytes while `stalled` is set, as a database that
/// hangs (a network partition, a frozen server) looks to its clients.
async fn stallable_relay(
    target: &str,
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let target = target.to_owned();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(&target).await else {
                continue;
            };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::spawn(pipe(client_read, server_write, stalled.clone()));
            tokio::spawn(pipe(server_read, client_write, stalled.clone()));
        }
    });
    addr
}

/// A store that stops answering makes `/healthz` answer 503 within its few seconds, where it
/// waited for ever (the API routes got 503 after the request timeout, the health check none).
#[tokio::test]
async fn health_answers_503_when_the_database_hangs() {
    let Some(database) = crate::pg::TestDatabase::create_if_configured().await else {
        return;
    };
    // The test database's URL, its host and port replaced by the relay's.
    let (scheme, rest) = database.url.split_once("://").unwrap();
    let (userinfo, rest) = rest.rsplit_once('@').map_or(("", rest), |(u, r)| (u, r));
    let (host_port, path) = rest.split_once('/').unwrap();
    let stalled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let relay = stallable_relay(host_port, stalled.clone()).await;
    let at = if userinfo.is_empty() {
        String::new()
    } else {
        format!("{userinfo}@")
    };
    let url = format!("{scheme}://{at}{relay}/{path}");
    let env = std::collections::BTreeMap::from([(
        "TICKETD_REQUEST_TIMEOUT_SECS".to_owned(),
        "30".to_owned(),
    )]);
    let (config, _) = ticketd_server::config::Config::load(
        None,
        &env,
        &ticketd_server::config::Overrides {
            listen: None,
            database_url: Some(url),
        },
    )
    .unwrap();
    let (store, _) = ticketd_server::open_serving_store(&config).await.unwrap();
    let engine = ticketd_server::engine(&config, store).unwrap();
    ticketd_server::bootstrap(&config, &engine).await.unwrap();
    let router = ticketd_server::router(ticketd_server::app_state(&config, engine).unwrap());
    let health = || async {
        use tower::ServiceExt as _;
        let request = axum::http::Request::get("/healthz")
            .body(axum::body::Body::empty())
            .unwrap();
        router.clone().oneshot(request).await.unwrap().status()
    };
    assert_eq!(health().await, 200);
    stalled.store(true, std::sync::atomic::Ordering::Relaxed);
    let started = std::time::Instant::now();
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), health())
        .await
        .expect("/healthz answered nothing while the database hung");
    assert_eq!(status, 503);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    stalled.store(false, std::sync::atomic::Ordering::Relaxed);
}
