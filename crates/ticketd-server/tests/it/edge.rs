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
