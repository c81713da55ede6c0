//! Authentication: tokens, login sessions and HTTP Signatures (including python's `httpsig`).

use crate::app::{ADMIN_TOKEN, spawn_app};
use base64::Engine as _;
use serde_json::{Value, json};
use ticketd_core::engine::NewUserInput;
use ticketd_core::identity::SystemRole;

#[tokio::test]
async fn profile_with_the_admin_token_returns_the_caller() {
    let app = spawn_app().await;
    for scheme in ["Token", "Bearer"] {
        let response = app
            .client
            .get(app.url("/api/v1/users/profile/"))
            .header("Authorization", format!("{scheme} {ADMIN_TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["username"], "admin");
        assert_eq!(body["name"], "Administrator");
        assert_eq!(body["email"], "admin@example.com");
        assert!(body["id"].as_str().unwrap().len() == 36);
        assert_eq!(
            body["system_roles"][0]["id"],
            "00000000-0000-0000-0000-000000000001"
        );
        assert_eq!(body["system_roles"][0]["display_name"], "SystemAdmin");
    }
}

#[tokio::test]
async fn password_login_returns_a_bearer_token_that_authenticates() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/v1/authentication/auth/"))
        .json(&serde_json::json!({"username": "admin", "password": "admin-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // An answer carrying a session is kept by no cache, and read as the type it says.
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["keyword"], "Bearer");
    assert_eq!(body["user"]["username"], "admin");
    let token = body["token"].as_str().unwrap();
    let profile = app
        .client
        .get(app.url("/api/v1/users/profile/"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(profile.status(), 200);
    let wrong = app
        .client
        .post(app.url("/api/v1/authentication/auth/"))
        .json(&serde_json::json!({"username": "admin", "password": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400);
    assert_eq!(wrong.headers()["cache-control"], "no-store");
    // So is every dialect's.
    for path in [
        "/v1/authentication/login",
        "/zstack/v1/accounts/login",
        "/zstack/api/",
    ] {
        let answer = app
            .client
            .post(app.url(path))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.headers()["cache-control"], "no-store", "{path}");
    }
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["code"],
        "password_failed"
    );
    // A login form (`requests.post(url, data={...})`) is read as DRF reads it.
    let (status, body) = app
        .call_raw(
            "POST",
            "/api/v1/authentication/auth/",
            "",
            "application/x-www-form-urlencoded",
            "username=admin&password=admin-password",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["username"], "admin");
    // A body that is no object is named in DRF's words, as on every other route.
    for (sent, got) in [("null", "NoneType"), ("[]", "list"), ("\"admin\"", "str")] {
        let (status, body) = app
            .call_raw(
                "POST",
                "/api/v1/authentication/auth/",
                "",
                "application/json",
                sent,
            )
            .await;
        assert_eq!(status, 400, "{sent}: {body}");
        assert_eq!(
            body["non_field_errors"],
            json!([format!(
                "Invalid data. Expected a dictionary, but got {got}."
            )]),
            "{sent}"
        );
    }
}

/// Two `Authorization` headers are refused in every dialect, even with a good one first: the
/// first was taken, where a proxy may have checked (or added) the other.
#[tokio::test]
async fn several_authorization_headers_are_refused_in_every_dialect() {
    let app = spawn_app().await;
    for (path, scheme) in [
        ("/api/v1/users/profile/", "Token"),
        ("/v1/ticket/list", "Bearer"),
        ("/zstack/v1/tickets", "OAuth"),
    ] {
        let good = format!("{scheme} {ADMIN_TOKEN}");
        let answer = app
            .client
            .get(app.url(path))
            .header("Authorization", &good)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{path}: one header is accepted");
        let answer = app
            .client
            .get(app.url(path))
            .header("Authorization", &good)
            .header("Authorization", format!("{scheme} someone-else"))
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        // JumpServer says it in DRF's words for a malformed header; the others say why.
        let said = body.to_string();
        assert!(
            said.contains("several Authorization headers") || said.contains("Invalid token header"),
            "{path}: {status} {body}"
        );
        assert!(
            status >= 400 || body["scode"] != 0,
            "{path}: {status} {body}"
        );
    }
    // DataArts (a token comes in X-Auth-Token there; signatures in Authorization).
    let answer = app
        .client
        .get(app.url(
            "/v1/0a1b2c3d4e5f60718293a4b5c6d7e8f9/security/openapi/permission-approve/approvals",
        ))
        .header(
            "Authorization",
            "SDK-HMAC-SHA256 Access=a, SignedHeaders=host, Signature=00",
        )
        .header(
            "Authorization",
            "SDK-HMAC-SHA256 Access=b, SignedHeaders=host, Signature=00",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let body: Value = answer.json().await.unwrap();
    assert!(
        body.to_string().contains("several Authorization headers"),
        "{body}"
    );
    // Its tokens alike, and signatures beside a token are read too (they were let through).
    let approvals =
        "/v1/0a1b2c3d4e5f60718293a4b5c6d7e8f9/security/openapi/permission-approve/approvals";
    let single = app
        .client
        .get(app.url(approvals))
        .header("X-Auth-Token", ADMIN_TOKEN)
        .header("workspace", "00000000-0000-0000-0000-000000000002")
        .send()
        .await
        .unwrap();
    assert_eq!(single.status(), 200);
    for (second, value) in [
        ("X-Auth-Token", "someone-else"),
        (
            "Authorization",
            "SDK-HMAC-SHA256 Access=a, SignedHeaders=host, Signature=00",
        ),
    ] {
        let answer = app
            .client
            .get(app.url(approvals))
            .header("X-Auth-Token", ADMIN_TOKEN)
            .header("workspace", "00000000-0000-0000-0000-000000000002")
            .header(second, value)
            .header(second, value)
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 401, "{second}: {body}");
        assert!(body.to_string().contains("several"), "{second}: {body}");
    }
}

#[tokio::test]
async fn missing_or_bad_credentials_get_401_in_jumpserver_shape() {
    let app = spawn_app().await;
    let cases: [(Option<&str>, &str, &str); 5] = [
        (
            None,
            "not_authenticated",
            "Authentication credentials were not provided.",
        ),
        (
            Some("Token wrong-token"),
            "authentication_failed",
            "Invalid token.",
        ),
        (
            Some("Bearer"),
            "authentication_failed",
            "Invalid token header. No credentials provided.",
        ),
        (
            Some("Bearer a b"),
            "authentication_failed",
            "Invalid token header. No credentials provided.",
        ),
        (
            Some("Signature keyId=\"x\""),
            "authentication_failed",
            "Invalid signature.",
        ),
    ];
    for (header, code, detail) in cases {
        let mut request = app.client.get(app.url("/api/v1/users/profile/"));
        if let Some(header) = header {
            request = request.header("Authorization", header);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{header:?}");
        assert!(response.headers().get("www-authenticate").is_some());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code, "{header:?}");
        assert_eq!(body["detail"], detail, "{header:?}");
    }
}

/// An HTTP Signature over `(request-target) accept date` as python `httpsig` makes it; `method`
/// lowercase, `path` with its query.
pub(crate) fn rust_signature(secret: &str, method: &str, path: &str, date: &str) -> String {
    let message =
        format!("(request-target): {method} {path}\naccept: application/json\ndate: {date}");
    base64::engine::general_purpose::STANDARD.encode(ticketd_core::credentials::hmac_sha256(
        secret.as_bytes(),
        message.as_bytes(),
    ))
}

#[tokio::test]
async fn inactive_users_and_unknown_keys_cannot_sign() {
    let app = spawn_app().await;
    let now = ticketd_http::now();
    let user = app
        .engine
        .create_user(
            None,
            NewUserInput {
                username: "signer".into(),
                name: String::new(),
                email: String::new(),
                system_role: SystemRole::User,
                password: None,
                orgs: Vec::new(),
            },
            now,
        )
        .await
        .unwrap();
    let key = app.engine.create_access_key(user.id, now).await.unwrap();
    let date = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let send = |key_id: String, secret: String| {
        let signature = rust_signature(&secret, "get", "/api/v1/users/profile/", &date);
        app.client
            .get(app.url("/api/v1/users/profile/"))
            .header("Accept", "application/json")
            .header("Date", date.clone())
            .header(
                "Authorization",
                format!(r#"Signature keyId="{key_id}",algorithm="hmac-sha256",headers="(request-target) accept date",signature="{signature}""#),
            )
            .send()
    };
    assert_eq!(
        send(key.id.to_string(), key.secret.clone())
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        send(uuid::Uuid::nil().to_string(), key.secret.clone())
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        send("not-a-uuid".into(), key.secret.clone())
            .await
            .unwrap()
            .status(),
        401
    );
    let mut inactive = user.clone();
    inactive.is_active = false;
    app.engine.store().update_user(inactive).await.unwrap();
    assert_eq!(
        send(key.id.to_string(), key.secret.clone())
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn python_httpsig_signatures_are_accepted_and_tampering_is_refused() {
    let app = spawn_app().await;
    let alice = app
        .engine
        .create_user(
            None,
            NewUserInput {
                username: "alice".into(),
                name: "Alice".into(),
                email: "alice@example.com".into(),
                system_role: SystemRole::User,
                password: None,
                orgs: Vec::new(),
            },
            ticketd_http::now(),
        )
        .await
        .unwrap();
    let key = app
        .engine
        .create_access_key(alice.id, ticketd_http::now())
        .await
        .unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/httpsig_client.py");
    let base = format!("http://{}", app.addr);
    let key_id = key.id.to_string();
    let secret = key.secret.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args([script, &base, &key_id, &secret])
            .output()
    })
    .await
    .unwrap()
    .expect("python3 must be installed (see .ci/run)");
    assert!(
        output.status.success(),
        "the httpsig client failed (is `pip install httpsig requests` done? .ci/run does it):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(results["seed_style_get"], 200, "{results}");
    assert_eq!(results["username"], "alice");
    assert_eq!(results["get_with_query"], 200, "{results}");
    assert_eq!(results["baseline"], 200, "{results}");
    assert_eq!(
        results["tophc_list"],
        serde_json::json!([200, 0]),
        "{results}"
    );
    for case in [
        "changed_method",
        "changed_path",
        "changed_date",
        "changed_header",
        "changed_signature",
        "stale_date",
        "wrong_secret",
    ] {
        assert_eq!(results[case], 401, "{case}: {results}");
    }
}

#[tokio::test]
async fn the_profile_answers_a_user_of_another_organization_without_an_org_header() {
    let app = spawn_app().await;
    let now = ticketd_http::now();
    let elsewhere = app.engine.create_org(None, "Elsewhere", now).await.unwrap();
    app.user(
        "outsider",
        SystemRole::User,
        vec![(elsewhere.id, ticketd_core::identity::ROLE_ORG_USER)],
    )
    .await;
    let (status, profile) = app
        .call("GET", "/api/v1/users/profile/", "outsider", None)
        .await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(profile["username"], "outsider");
    assert_eq!(profile["org_roles"][0]["org_id"], elsewhere.id.to_string());
    // Naming one's own organization works; naming one the user is not a member of is refused.
    for (org, expected) in [(elsewhere.id.to_string(), 200), ("Default".to_owned(), 403)] {
        let (status, body) = app
            .call_with(
                "GET",
                "/api/v1/users/profile/",
                "outsider",
                None,
                &[("X-JMS-ORG", &org)],
            )
            .await;
        assert_eq!(status, expected, "{org}: {body}");
    }
}
