//! Schemathesis (from PyPI) fuzzes the served OpenAPI document with a fixed budget and seed:
//! no server error on any documented operation.

use crate::app::{ADMIN_TOKEN, spawn_app_with};

/// Test cases per operation and phase; with the seed, the run is the same every time.
const EXAMPLES: &str = "12";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_in_the_published_api() {
    let app = spawn_app_with(&[
        ("TICKETD_RATE_LIMIT_PER_MINUTE", "0"),
        ("TICKETD_LOGIN_RATE_LIMIT_PER_MINUTE", "0"),
    ])
    .await;
    let schema = app.url("/api/v1/docs/openapi.json");
    let report = tempfile::tempdir().unwrap();
    let report_dir = report.path().display().to_string();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("schemathesis")
            .args([
                "run",
                &schema,
                "--header",
                &format!("Authorization: Token {ADMIN_TOKEN}"),
                "--checks",
                "not_a_server_error",
                "--max-examples",
                EXAMPLES,
                "--seed",
                "20261203",
                "--generation-database",
                "none",
                "--workers",
                "2",
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
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Vec<&str> = stdout
        .lines()
        .skip_while(|line| !line.contains("SUMMARY"))
        .collect();
    eprintln!("{}", summary.join("\n"));
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("passed"), "{stdout}");
}
