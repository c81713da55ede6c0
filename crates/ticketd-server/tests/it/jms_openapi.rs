//! The served OpenAPI document: valid shape, and every documented operation is really routed.

use crate::app::{ADMIN_TOKEN, TestApp, spawn_app};
use serde_json::{Value, json};

/// A fresh app and the OpenAPI document it serves to its administrator.
async fn app_and_document() -> (TestApp, Value) {
    let app = spawn_app().await;
    let (_, doc) = app
        .call("GET", "/api/v1/docs/openapi.json", ADMIN_TOKEN, None)
        .await;
    (app, doc)
}

#[tokio::test]
async fn the_openapi_document_is_served_to_authenticated_callers() {
    let app = spawn_app().await;
    let (status, _) = app
        .call("GET", "/api/v1/docs/openapi.json", "nobody", None)
        .await;
    assert_eq!(status, 401);
    let (status, doc) = app
        .call("GET", "/api/v1/docs/openapi.json", ADMIN_TOKEN, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(
        doc["paths"]["/api/v1/tickets/apply-asset-tickets/open/"]["post"]["requestBody"]
            .is_object()
    );
    assert!(doc["components"]["schemas"]["Ticket"].is_object());
}

#[tokio::test]
async fn every_documented_operation_reaches_a_route() {
    let (app, doc) = app_and_document().await;
    let paths = doc["paths"].as_object().unwrap();
    let mut checked = 0;
    for (path, operations) in paths {
        for method in operations.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", "00000000-0000-0000-0000-00000000abcd");
            let body = (method != "get" && method != "delete").then(|| json!({}));
            let (status, answer) = app
                .call(&method.to_uppercase(), &concrete, ADMIN_TOKEN, body)
                .await;
            let fallback_404 = status == 404 && answer["code"] == "not_found";
            assert!(
                !fallback_404,
                "{method} {path} is documented but not routed"
            );
            assert_ne!(
                status, 405,
                "{method} {path} is documented but the route refuses the method: {answer}"
            );
            assert!(status < 500, "{method} {path} answered {status}: {answer}");
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} operations documented");
    let _ = Value::Null;
}

#[tokio::test]
async fn every_route_path_in_the_source_is_documented() {
    let (_app, doc) = app_and_document().await;
    let documented: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    let src =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ticketd-api-jumpserver/src");
    let mut files = vec![];
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut missing = vec![];
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, _) in text.match_indices("\"/api/v1/") {
            let literal: String = text[i + 1..].chars().take_while(|c| *c != '"').collect();
            let is_route = literal.ends_with('/') || literal.ends_with(".json");
            if is_route && !literal.contains("{base}") && !documented.iter().any(|d| **d == literal)
            {
                missing.push(format!("{} in {}", literal, file.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document: {missing:#?}"
    );
}

/// Every filter the document lists for the ticket lists is one the server reads: given a value
/// that names nothing, the list comes back empty, where a parameter the server ignored would
/// leave the ticket in it. The comment routes document the ticket they need.
#[tokio::test]
async fn every_documented_ticket_filter_is_read_by_the_server() {
    let app = spawn_app().await;
    let reviewer = app
        .user("reviewer", ticketd_core::identity::SystemRole::User, vec![])
        .await;
    let (status, opened) = app
        .call(
            "POST",
            "/api/v1/tickets/apply-login-tickets/open/",
            ADMIN_TOKEN,
            Some(json!({"title": "filtered", "assignees": [reviewer.id().to_string()]})),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    let (_, doc) = app
        .call("GET", "/api/v1/docs/openapi.json", ADMIN_TOKEN, None)
        .await;
    let nobody = "00000000-0000-0000-0000-00000000abcd";
    let serial = opened["serial_num"].as_str().unwrap().to_owned();
    let naming_nothing = |name: &str| -> Option<&str> {
        match name {
            "serial_num__icontains"
            | "serial_num__startswith"
            | "serial_num__icontains_any"
            | "serial_num__icontains_all" => Some("zz-no-such-words"),
            "serial_num__icontains!" => Some(serial.as_str()),
            "state" | "status" | "type" => Some("no-such-value"),
            "search"
            | "title"
            | "title__icontains"
            | "title__startswith"
            | "title__icontains_any"
            | "title__icontains_all"
            | "serial_num" => Some("zz-no-such-words"),
            "title__icontains!" => Some("FILTERED"),
            "days__lt" => Some("1"),
            "assignees__id" | "applicant" | "org_id" | "id" => Some(nobody),
            // Pages and order: they narrow nothing.
            "limit" | "offset" | "order" => None,
            "days" => Some("-1"),
            other => panic!("documented filter {other} has no value in this test"),
        }
    };
    let parameters = doc["paths"]["/api/v1/tickets/tickets/"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let mut filters = 0;
    for parameter in parameters {
        let name = parameter["name"].as_str().unwrap();
        let Some(value) = naming_nothing(name) else {
            continue;
        };
        let (status, all) = app
            .call(
                "GET",
                "/api/v1/tickets/tickets/?limit=10",
                ADMIN_TOKEN,
                None,
            )
            .await;
        assert_eq!((status, all["count"].as_u64()), (200, Some(1)), "{all}");
        let (status, none) = app
            .call(
                "GET",
                &format!("/api/v1/tickets/tickets/?limit=10&{name}={value}"),
                ADMIN_TOKEN,
                None,
            )
            .await;
        assert_eq!(status, 200, "{name}: {none}");
        assert_eq!(none["count"], 0, "{name}={value} did not narrow: {none}");
        filters += 1;
    }
    assert!(filters >= 10, "only {filters} ticket filters documented");
    for method in ["get", "post"] {
        let ticket_id = &doc["paths"]["/api/v1/tickets/comments/"][method]["parameters"][0];
        assert_eq!(ticket_id["name"], "ticket_id");
        assert_eq!(ticket_id["required"], true);
    }
}

/// The fields the document marks required on the admin routes' bodies are the ones the server
/// requires: a body of just those fields is created, and one without any of them is refused
/// with an error on that field.
#[tokio::test]
async fn documented_required_body_fields_are_the_server_s() {
    let (app, doc) = app_and_document().await;
    for (path, sample) in [
        (
            "/api/v1/users/users/",
            json!({"username": "documented", "name": "Documented", "email": "doc@example.com"}),
        ),
        ("/api/v1/orgs/orgs/", json!({"name": "Documented"})),
        (
            "/api/v1/assets/assets/",
            json!({"name": "documented", "address": "10.0.0.9"}),
        ),
    ] {
        let reference = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["$ref"]
            .as_str()
            .unwrap();
        let schema = &doc["components"]["schemas"][reference.rsplit('/').next().unwrap()];
        let mut required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|field| field.as_str().unwrap())
            .collect();
        required.sort_unstable();
        let mut given: Vec<&str> = sample
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        given.sort_unstable();
        assert_eq!(
            required, given,
            "{path}: the sample gives exactly the required fields"
        );
        for field in &required {
            let mut without = sample.clone();
            without.as_object_mut().unwrap().remove(*field);
            let (status, refused) = app.call("POST", path, ADMIN_TOKEN, Some(without)).await;
            assert_eq!(status, 400, "{path} without {field}: {refused}");
            assert!(
                refused.get(*field).is_some(),
                "{path} without {field}: {refused}"
            );
        }
        let (status, created) = app.call("POST", path, ADMIN_TOKEN, Some(sample)).await;
        assert_eq!(status, 201, "{path}: {created}");
    }
}

/// Every operation lists the answers any route may give besides its own (429 and 503 with
/// `Retry-After`, 431), and one that may carry a body 413 too: a login over its rate limit answered 429,
/// which the document did not list.
#[tokio::test]
async fn every_operation_lists_the_limits_answers() {
    let (_app, doc) = app_and_document().await;
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let responses = &operation["responses"];
            for status in ["429", "431", "503"] {
                assert!(responses[status].is_object(), "{method} {path}: {status}");
            }
            assert_eq!(
                responses["413"].is_object(),
                ["post", "put", "patch"].contains(&method.as_str()),
                "{method} {path}: 413"
            );
        }
    }
}
