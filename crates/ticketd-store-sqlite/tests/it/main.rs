//! Runs the Store contract suite against SQLite, one fresh database file per test.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers panic on failure by design")]

use std::sync::Arc;
use ticketd_store_sqlite::{SqliteOptions, SqliteStore};
use ticketd_store_tests::TestStore;

async fn fresh_store() -> Option<TestStore> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (store, migrated) =
        SqliteStore::open(&SqliteOptions::new(dir.path().join("contract.db"))).expect("open store");
    assert_eq!(migrated, 1);
    Some(TestStore {
        store: Arc::new(store),
        guard: Box::new(dir),
    })
}

ticketd_store_tests::contract_suite!(fresh_store);

#[tokio::test]
async fn reopening_an_existing_file_runs_no_migration() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions::new(dir.path().join("again.db"));
    let (first, migrated) = SqliteStore::open(&options).unwrap();
    assert_eq!(migrated, 1);
    drop(first);
    let (_second, migrated) = SqliteStore::open(&options).unwrap();
    assert_eq!(migrated, 0);
}

#[test]
fn database_urls_map_to_paths() {
    use std::path::Path;
    use ticketd_store_sqlite::path_from_url;
    assert_eq!(
        path_from_url("sqlite://ticketd.db").as_deref(),
        Some(Path::new("ticketd.db"))
    );
    assert_eq!(
        path_from_url("sqlite:///var/lib/t.db").as_deref(),
        Some(Path::new("/var/lib/t.db"))
    );
    assert_eq!(
        path_from_url("sqlite:data/t.db?mode=rwc").as_deref(),
        Some(Path::new("data/t.db"))
    );
    assert_eq!(path_from_url("postgres://x@y/z"), None);
}
