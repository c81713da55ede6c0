//! Schemathesis (from PyPI) fuzzes the served OpenAPI document with a fixed budget and seed:
//! no server error on any documented operation, every answer as the document says (its status,
//! media type and schema), and a method it does not list answered 405 with an `Allow` header.

use crate::app::{ADMIN_TOKEN, spawn_app_with};

/// Test cases per operation and phase; with the seed, the run is the same every time.
const EXAMPLES: &str = "12";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_undocumented_answer() {
    let app = spawn_app_with(&[
        ("TICKETD_RATE_LIMIT_PER_MINUTE", "0"),
        ("TICKETD_LOGIN_RATE_LIMIT_PER_MINUTE", "0"),
    ])
    .await;
    let schema = app.url("/api/v1/docs/openapi.json");
    let mut attempt = 0;
    let stdout = loop {
        attempt += 1;
        let (success, stdout, stderr) = run_schemathesis(&schema).await;
        let summary: Vec<&str> = stdout
            .lines()
            .skip_while(|line| !line.contains("SUMMARY"))
            .collect();
        eprintln!("{}", summary.join("\n"));
        if success {
            break stdout;
        }
        // Hypothesis occasionally fails inside itself ("Runtime Error", e.g. an AST recursion
        // mismatch); that says nothing about the server, so such a run is repeated once. A
        // server error is a failure at once.
        let internal_only = stdout.contains("Runtime Error") && !stdout.contains("Server error");
        assert!(
            internal_only && attempt < 2,
            "schemathesis found failures:\n{stdout}\n{stderr}"
        );
    };
    assert!(stdout.contains("passed"), "{stdout}");
}

/// One run of Schemathesis against `schema`; returns whether it passed, and what it printed.
async fn run_schemathesis(schema: &str) -> (bool, String, String) {
    let schema = schema.to_owned();
    let report = tempfile::tempdir().unwrap();
    let report_dir = report.path().display().to_string();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("schemathesis")
            // Its cache (`.schemathesis/`) is written to the working directory: keep it out of
            // the source tree.
            .current_dir(&report_dir)
            .args([
                "run",
                &schema,
                "--header",
                &format!("Authorization: Token {ADMIN_TOKEN}"),
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,\
                 response_schema_conformance,unsupported_method",
                "--max-examples",
                EXAMPLES,
                "--seed",
                "20261203",
                "--generation-database",
                "none",
                // One worker: Hypothesis is not thread-safe everywhere (see the retry above).
                "--workers",
                "1",
                "--request-timeout",
                "20",
                "--no-color",
                "--report-dir",
                &report_dir,
            ])
            .output()
    })
    .await
    .unwrap()
    .expect("schemathesis must be installed: python3 -m pip install schemathesis (see .ci/run)");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
