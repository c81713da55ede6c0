//! Tidy checks: the architecture invariants of ARCHITECTURE.md and the one-line module docs.

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn dependencies(krate: &str) -> Vec<String> {
    let manifest = std::fs::read_to_string(
        workspace_root()
            .join("crates")
            .join(krate)
            .join("Cargo.toml"),
    )
    .unwrap();
    let table: toml::Table = manifest.parse().unwrap();
    table
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default()
}

fn crates() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace_root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn crate_dependencies_follow_the_architecture_invariants() {
    let core = dependencies("ticketd-core");
    for banned in [
        "rusqlite",
        "sqlx",
        "tokio-postgres",
        "axum",
        "tokio",
        "hyper",
        "reqwest",
    ] {
        assert!(
            !core.contains(&banned.to_owned()),
            "ticketd-core must not depend on {banned}"
        );
    }
    assert!(
        !core.iter().any(|d| d.starts_with("ticketd-")),
        "ticketd-core depends on no project crate"
    );
    for krate in crates() {
        let deps = dependencies(&krate);
        let project: Vec<&String> = deps.iter().filter(|d| d.starts_with("ticketd-")).collect();
        if krate.starts_with("ticketd-store-") && krate != "ticketd-store-tests" {
            assert!(
                project.iter().all(|d| *d == "ticketd-core"),
                "{krate} may depend only on ticketd-core: {project:?}"
            );
        }
        if krate.starts_with("ticketd-api-") || krate == "ticketd-http" || krate == "ticketd-web" {
            assert!(
                !project
                    .iter()
                    .any(|d| d.starts_with("ticketd-store-") || d.starts_with("ticketd-api-")),
                "{krate} must not depend on a store or another dialect: {project:?}"
            );
        }
        if krate != "ticketd-server" {
            assert!(
                !deps.contains(&"clap".to_owned()),
                "only ticketd-server knows the CLI ({krate})"
            );
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let mut files = Vec::new();
    for krate in crates() {
        rust_files(
            &workspace_root().join("crates").join(&krate).join("src"),
            &mut files,
        );
    }
    let missing: Vec<String> = files
        .iter()
        .filter(|path| !path.ends_with("tests.rs"))
        .filter(|path| !std::fs::read_to_string(path).unwrap().starts_with("//!"))
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading `//!` line: {missing:?}"
    );
}

#[test]
fn dialects_authenticate_only_through_the_rate_limited_entry_points() {
    // The engine's credential lookups skip the per-user rate limit; dialects go through
    // `ticketd_http::auth` (whose functions end in `admit`), or call `admit` themselves right
    // after verifying a signature of their own.
    let mut offenders = Vec::new();
    for krate in crates().iter().filter(|k| k.starts_with("ticketd-api-")) {
        let mut files = Vec::new();
        rust_files(
            &workspace_root().join("crates").join(krate).join("src"),
            &mut files,
        );
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let bypasses_tokens = text.contains("engine.authenticate_token(");
            let unadmitted_key =
                text.contains("engine.access_key(") && !text.contains("auth::admit(");
            if bypasses_tokens || unadmitted_key {
                offenders.push(file.display().to_string());
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "authentication that skips the rate limit: {offenders:?}"
    );
}
