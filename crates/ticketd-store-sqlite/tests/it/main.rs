//! Runs the Store contract suite against SQLite, one fresh database file per test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers panic on failure by design"
)]

use std::sync::Arc;
use ticketd_store_sqlite::{SqliteOptions, SqliteStore};
use ticketd_store_tests::TestStore;

async fn fresh_store() -> Option<TestStore> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (store, migrated) =
        SqliteStore::open(&SqliteOptions::new(dir.path().join("contract.db"))).expect("open store");
    assert!(migrated >= 2, "a fresh database gets every migration");
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
    assert!(migrated >= 2);
    drop(first);
    let (_second, migrated) = SqliteStore::open(&options).unwrap();
    assert_eq!(migrated, 0);
}

/// Why opening `options` failed, from the error's source.
fn open_refusal(options: &SqliteOptions) -> String {
    match SqliteStore::open(options) {
        Err(ticketd_core::StoreError::Other(source)) => source.to_string(),
        Err(other) => panic!("expected a refusal with a reason, got {other}"),
        Ok(_) => panic!("the store opened"),
    }
}

/// Members of the global and system organizations, which an earlier `ticketd user create
/// --org ROOT` made, are removed by migration 16; other memberships stay.
#[tokio::test]
async fn migration_16_removes_members_of_the_global_and_system_organizations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let options = SqliteOptions::new(&path);
    let (store, _) = SqliteStore::open(&options).unwrap();
    let engine = ticketd_store_tests::fixture::engine(Arc::new(store));
    engine
        .bootstrap(Default::default(), ticketd_store_tests::fixture::t0())
        .await
        .unwrap();
    drop(engine);
    let raw = rusqlite::Connection::open(&path).unwrap();
    let admin: Vec<u8> = raw
        .query_row("SELECT id FROM users WHERE username = 'admin'", [], |row| {
            row.get(0)
        })
        .unwrap();
    for org in [0u128, 4] {
        raw.execute(
            "INSERT INTO org_members (org_id, user_id, role_id) VALUES (?1, ?2, ?3)",
            rusqlite::params![
                uuid::Uuid::from_u128(org),
                admin,
                ticketd_core::identity::ROLE_ORG_ADMIN.0
            ],
        )
        .unwrap();
    }
    raw.execute("DELETE FROM schema_migrations WHERE version = 16", [])
        .unwrap();
    let members = |raw: &rusqlite::Connection| -> i64 {
        raw.query_row("SELECT count(*) FROM org_members", [], |row| row.get(0))
            .unwrap()
    };
    assert_eq!(members(&raw), 3);
    drop(SqliteStore::open(&options).unwrap());
    assert_eq!(
        members(&raw),
        1,
        "only admin's membership of Default is left"
    );
}

/// A finished ticket stored without an end (before migration 17, or by an older process during
/// an upgrade) reads its last change as its end; one not finished has none.
#[tokio::test]
async fn a_finished_ticket_stored_without_an_end_reads_its_last_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let options = SqliteOptions::new(&path);
    let (store, _) = SqliteStore::open(&options).unwrap();
    let (ended, waiting) =
        ticketd_store_tests::fixture::an_ended_and_a_waiting_ticket(Arc::new(store)).await;
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch(
        "ALTER TABLE tickets DROP COLUMN finished_at; \
         DELETE FROM schema_migrations WHERE version = 17;",
    )
    .unwrap();
    drop(raw);
    let (store, migrated) = SqliteStore::open(&options).unwrap();
    assert_eq!(migrated, 1);
    let store: Arc<dyn ticketd_core::store::Store> = Arc::new(store);
    let read = |id| {
        let store = store.clone();
        async move { store.get_ticket(id).await.unwrap().unwrap().finished_at }
    };
    assert_eq!(ended.finished_at, Some(ticketd_store_tests::fixture::at(1)));
    assert_eq!(read(ended.id).await, Some(ended.updated_at));
    assert_eq!(read(waiting.id).await, None);
}

#[tokio::test]
async fn a_file_migrated_by_a_newer_or_another_build_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    let options = SqliteOptions::new(&path);
    drop(SqliteStore::open(&options).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    let newest: i64 = raw
        .query_row("SELECT max(version) FROM schema_migrations", [], |row| {
            row.get(0)
        })
        .unwrap();
    raw.execute(
        "INSERT INTO schema_migrations (version, name) VALUES (?1, 'from_the_future')",
        [newest + 1],
    )
    .unwrap();
    let refusal = open_refusal(&options);
    assert!(refusal.contains("newer ticketd"), "{refusal}");
    assert!(
        refusal.contains(&format!("migration {} (from_the_future)", newest + 1)),
        "{refusal}"
    );
    raw.execute(
        "DELETE FROM schema_migrations WHERE version = ?1",
        [newest + 1],
    )
    .unwrap();
    raw.execute(
        "UPDATE schema_migrations SET name = 'renamed' WHERE version = ?1",
        [newest],
    )
    .unwrap();
    let refusal = open_refusal(&options);
    assert!(refusal.contains("another build"), "{refusal}");
    let recorded: i64 = raw
        .query_row("SELECT count(*) FROM schema_migrations", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(recorded, newest, "nothing was applied or removed");
}

/// The options of a store that serves the file at `path`.
fn serving_options(path: impl Into<std::path::PathBuf>) -> SqliteOptions {
    SqliteOptions {
        serving: true,
        ..SqliteOptions::new(path)
    }
}

/// Why a store refused to open with `options` (it must refuse, as unavailable).
fn refused_to_serve(options: &SqliteOptions) -> String {
    match SqliteStore::open(options) {
        Err(ticketd_core::StoreError::Unavailable(reason)) => reason,
        Err(other) => panic!("expected a refusal to serve, got {other}"),
        Ok(_) => panic!("the store served {}", options.path.display()),
    }
}

#[tokio::test]
async fn one_store_at_a_time_serves_a_file_and_commands_open_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let serving = serving_options(dir.path().join("served.db"));
    let (first, _) = SqliteStore::open(&serving).unwrap();
    let reason = refused_to_serve(&serving);
    assert!(
        reason.contains("another ticketd process is serving"),
        "{reason}"
    );
    let command = SqliteOptions::new(dir.path().join("served.db"));
    let (beside, _) = SqliteStore::open(&command).unwrap();
    // A command closing beside the server leaves the log to it (a copy would hold its writes
    // back): the migrations the server wrote stay in the log.
    ticketd_core::store::Store::shutdown(&beside).await.unwrap();
    let log = dir.path().join("served.db-wal");
    assert!(std::fs::metadata(&log).unwrap().len() > 0);
    drop(beside);
    drop(first);
    drop(SqliteStore::open(&serving).unwrap());
    // A symbolic link to the file takes the same lock as the file.
    let held = SqliteStore::open(&serving).unwrap();
    let symlink = dir.path().join("symlink.db");
    std::os::unix::fs::symlink(dir.path().join("served.db"), &symlink).unwrap();
    let through_link = serving_options(&symlink);
    let reason = refused_to_serve(&through_link);
    assert!(
        reason.contains("another ticketd process is serving"),
        "{reason}"
    );
    drop(held);
    // Served through the link, as a one-off command opens it, with the file's own log (SQLite
    // keeps it beside the real file); and a link to a file not made yet.
    let (served, _) = SqliteStore::open(&through_link).unwrap();
    ticketd_core::store::Store::ping(&served).await.unwrap();
    drop(served);
    drop(SqliteStore::open(&SqliteOptions::new(&symlink)).unwrap());
    assert!(!dir.path().join("symlink.db-wal").exists());
    // Served through a link to a file not made yet, it takes the file's own lock: the file
    // cannot be served a second time under its own name.
    let ahead = dir.path().join("ahead.db");
    std::os::unix::fs::symlink("later.db", &ahead).unwrap();
    let (served, _) = SqliteStore::open(&serving_options(&ahead)).unwrap();
    assert!(dir.path().join("later.db").exists());
    let reason = refused_to_serve(&serving_options(dir.path().join("later.db")));
    assert!(
        reason.contains("another ticketd process is serving"),
        "{reason}"
    );
    drop(served);
    // A second name of the file (a hard link) would escape the lock and the log, which are
    // named by the path: a file with more than one name is not opened, under either name, to
    // serve it or for a one-off command (whose writes went to a log of their own, and cost the
    // server's once replayed).
    let linked = dir.path().join("linked.db");
    std::fs::hard_link(dir.path().join("served.db"), &linked).unwrap();
    for path in [dir.path().join("served.db"), linked] {
        for serving in [true, false] {
            let options = SqliteOptions {
                serving,
                ..SqliteOptions::new(&path)
            };
            let reason = refused_to_serve(&options);
            assert!(reason.contains("has 2 hard links"), "{reason}");
        }
    }
}

#[test]
fn database_urls_map_to_paths() {
    use std::path::Path;
    use ticketd_store_sqlite::path_from_url;
    let path = |url: &str| path_from_url(url).map_err(|_why| ());
    assert_eq!(
        path("sqlite://ticketd.db").as_deref(),
        Ok(Path::new("ticketd.db"))
    );
    assert_eq!(
        path("sqlite:///var/lib/t.db").as_deref(),
        Ok(Path::new("/var/lib/t.db"))
    );
    assert_eq!(
        path("sqlite:data/t.db?mode=rwc").as_deref(),
        Ok(Path::new("data/t.db"))
    );
    assert_eq!(
        path("sqlite:///srv/my%20data/t%C3%A9.db%23").as_deref(),
        Ok(Path::new("/srv/my data/té.db#"))
    );
    // A bare path is a path: nothing in it is decoded or split.
    assert_eq!(
        path("my%20file?.db").as_deref(),
        Ok(Path::new("my%20file?.db"))
    );
    // What would have served another file than the one meant, or a new empty one.
    for refused in [
        "postgres://x@y/z",
        "sqlite://",
        "sqlite:///t.db?mode=ro",
        "sqlite:///t.db?mode=rw",
        "sqlite:///t.db?cache=shared",
        "sqlite://~/t.db",
        "sqlite:///t%2.db",
        "sqlite:///t%FF.db",
        "sqlite:///t.db#fragment",
        "sqlite:///t%+5.db",
        "sqlite:///t%0a.db",
    ] {
        let why = path_from_url(refused).unwrap_err();
        assert!(!why.is_empty(), "{refused}");
    }
    // A missing directory is not made: a mistyped one started an empty service.
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions::new(dir.path().join("no-such-dir").join("t.db"));
    assert!(refused_to_serve(&options).contains("does not exist"));
    assert!(!dir.path().join("no-such-dir").exists());
}

#[tokio::test]
async fn list_queries_never_scan_the_tickets_table() {
    use ticketd_core::store::{TicketQuery, Visibility};
    use ticketd_core::ticket::TicketState;
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = SqliteStore::open(&SqliteOptions::new(dir.path().join("plan.db"))).unwrap();
    let user = ticketd_core::UserId(uuid::Uuid::from_u128(7));
    let org = ticketd_core::identity::DEFAULT_ORG;
    let mut cases: Vec<(&str, TicketQuery)> = Vec::new();
    let base = TicketQuery::new(Visibility::All);
    cases.push(("all, newest first", base.clone()));
    cases.push((
        "awaiting me",
        TicketQuery {
            awaiting: Some(user),
            ..base.clone()
        },
    ));
    cases.push((
        "current assignee",
        TicketQuery {
            current_assignee: Some(user),
            ..base.clone()
        },
    ));
    cases.push((
        "visible to a user",
        TicketQuery::new(Visibility::Related {
            user,
            orgs: Vec::new(),
        }),
    ));
    cases.push((
        "visible to an org admin",
        TicketQuery::new(Visibility::Related {
            user,
            orgs: vec![org],
        }),
    ));
    cases.push((
        "state",
        TicketQuery {
            states: vec![TicketState::Pending],
            ..base.clone()
        },
    ));
    cases.push((
        "type",
        TicketQuery {
            kinds: vec!["apply_asset".into()],
            ..base.clone()
        },
    ));
    cases.push((
        "applicant",
        TicketQuery {
            applicant: Some(user),
            ..base.clone()
        },
    ));
    cases.push((
        "org",
        TicketQuery {
            org_ids: Some(vec![org]),
            ..base.clone()
        },
    ));
    cases.push((
        "serial",
        TicketQuery {
            serial: Some("202608210001".into()),
            ..base.clone()
        },
    ));
    cases.push((
        "title",
        TicketQuery {
            title: Some("x".into()),
            ..base.clone()
        },
    ));
    cases.push((
        "scope",
        TicketQuery {
            scope: Some("p1".into()),
            ..base.clone()
        },
    ));
    // The lists every approver and auditor pages through are read in index order: no sort.
    let listed = vec![
        TicketState::Pending,
        TicketState::Approved,
        TicketState::Rejected,
        TicketState::Closed,
    ];
    let unsorted: Vec<(&str, TicketQuery)> = vec![
        (
            "my current steps (JumpServer assignees__id)",
            TicketQuery {
                current_assignee: Some(user),
                states: listed.clone(),
                archived: Some(false),
                ..TicketQuery::new(Visibility::Related {
                    user,
                    orgs: Vec::new(),
                })
            },
        ),
        (
            "audit filter with a search",
            TicketQuery {
                states: vec![TicketState::Pending],
                kinds: vec!["apply_asset".into()],
                archived: Some(false),
                search: vec![vec![vec!["db".into()]]],
                ..base.clone()
            },
        ),
        (
            "audit filter of one organization with a search (JumpServer /audits/)",
            TicketQuery {
                org_ids: Some(vec![org]),
                states: vec![TicketState::Pending],
                kinds: vec!["apply_asset".into()],
                archived: Some(false),
                search: vec![vec![vec!["db".into()]]],
                ..base.clone()
            },
        ),
        (
            "my tickets",
            TicketQuery {
                states: listed,
                archived: Some(false),
                ..TicketQuery::new(Visibility::Related {
                    user,
                    orgs: Vec::new(),
                })
            },
        ),
    ];
    for (name, mut query) in cases.into_iter().chain(unsorted.clone()) {
        query.with_total = true;
        let plan = store.list_query_plan(query).await.unwrap();
        let full_scans: Vec<&String> = plan
            .iter()
            .filter(|line| line.starts_with("SCAN t") && !line.contains("USING"))
            .collect();
        assert!(full_scans.is_empty(), "{name}: {plan:?}");
        // A lookup of one ticket's steps or viewers goes by the ticket, not through all of
        // the user's rows (an index led by user_id ties with the primary key for SQLite).
        let by_user: Vec<&String> = plan
            .iter()
            .filter(|line| line.starts_with("SEARCH sa ") || line.starts_with("SEARCH vv "))
            .filter(|line| !line.contains("(ticket_id=?"))
            .collect();
        assert!(by_user.is_empty(), "{name}: {plan:?}");
    }
    // The audit filter's candidates are tested in its index, organization included: its count
    // reads no ticket row (a row read per candidate was most of a searched page's cost).
    let (name, audit) = &unsorted[2];
    let plan = store
        .list_query_plan(TicketQuery {
            with_total: true,
            ..audit.clone()
        })
        .await
        .unwrap();
    assert!(
        plan.iter()
            .any(|line| line.contains("USING COVERING INDEX tickets_state_kind_created")),
        "{name}: {plan:?}"
    );
    // "My current steps" reads the partial index of current steps (migration 0011).
    let (name, current) = unsorted
        .iter()
        .find(|(name, _)| name.starts_with("my current steps"))
        .unwrap();
    let plan = store.list_query_plan(current.clone()).await.unwrap();
    assert!(
        plan.iter()
            .any(|line| line.contains("INDEX ticket_assignees_current")),
        "{name}: {plan:?}"
    );
    for (name, query) in unsorted {
        let plan = store.list_query_plan(query.clone()).await.unwrap();
        assert!(
            !plan.iter().any(|line| line.contains("TEMP B-TREE")),
            "{name} sorts its matches: {plan:?}"
        );
        // A page that starts after a remembered row seeks to it in the same index.
        let after = ticketd_core::store::PagePosition {
            created_at: ticketd_store_tests::fixture::t0(),
            id: ticketd_core::TicketId(uuid::Uuid::nil()),
        };
        let plan = store
            .list_query_plan(TicketQuery {
                after: Some(after),
                ..query
            })
            .await
            .unwrap();
        assert!(
            !plan.iter().any(|line| line.contains("TEMP B-TREE")),
            "{name} sorts its matches after a position: {plan:?}"
        );
        assert!(
            plan[0].contains(")<(?,?)"),
            "{name} walks to the position instead of seeking: {plan:?}"
        );
    }
}

#[tokio::test]
async fn the_identity_version_moves_with_credentials_and_directory_but_not_tickets() {
    use ticketd_core::engine::TicketCommand;
    use ticketd_core::flow::LevelMode;
    use ticketd_core::identity::{Membership, TokenKind};
    use ticketd_core::store::Store;
    use ticketd_store_tests::fixture::{World, at};
    let dir = tempfile::tempdir().unwrap();
    let (store, _) =
        SqliteStore::open(&SqliteOptions::new(dir.path().join("identity.db"))).unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let w = World::new(store.clone()).await;
    w.flow("general", vec![(vec![&w.bob], LevelMode::Any)])
        .await;
    let versions = || {
        (
            store.local_data_version().unwrap(),
            store.local_identity_version().unwrap(),
        )
    };
    // Ticket writes (an opening, a decision, a comment) leave token lookups exact.
    let (data, identity) = versions();
    let ticket = w.open(&w.alice, "general", "one", at(1)).await;
    let ticket = w
        .engine
        .act(
            &w.bob,
            ticket.id,
            TicketCommand::Approve {
                reason: "ok".into(),
                payload: None,
                changes: None,
            },
            at(2),
        )
        .await
        .unwrap();
    w.engine
        .add_comment(&w.alice, ticket.id, "thanks", at(3))
        .await
        .unwrap();
    let (data_after, identity_after) = versions();
    assert!(data_after >= data + 3, "{data} -> {data_after}");
    assert_eq!(identity_after, identity);
    // Every write a token lookup reads moves it.
    w.engine
        .install_token(w.bob.id(), "a-token", TokenKind::Api, None, at(4))
        .await
        .unwrap();
    let installed = versions().1;
    assert!(installed > identity);
    store
        .delete_token(ticketd_core::credentials::token_digest("a-token"))
        .await
        .unwrap();
    let revoked = versions().1;
    assert!(revoked > installed);
    store
        .add_membership(Membership {
            org_id: w.other_org,
            user_id: w.bob.id(),
            role_id: ticketd_core::identity::ROLE_ORG_USER,
        })
        .await
        .unwrap();
    let joined = versions().1;
    assert!(joined > revoked);
    let mut deactivated = store.get_user(w.bob.id()).await.unwrap().unwrap();
    deactivated.is_active = false;
    store.update_user(deactivated).await.unwrap();
    assert!(versions().1 > joined);
}

#[tokio::test]
async fn after_insertions_only_the_new_tickets_are_counted() {
    use ticketd_core::engine::TicketCommand;
    use ticketd_core::flow::LevelMode;
    use ticketd_core::store::{Inserted, Store, TicketQuery, Visibility};
    use ticketd_store_tests::fixture::{World, at};
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = SqliteStore::open(&SqliteOptions::new(dir.path().join("marks.db"))).unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let w = World::new(store.clone()).await;
    w.flow("general", vec![(vec![&w.bob], LevelMode::Any)])
        .await;
    let awaiting_bob = TicketQuery {
        awaiting: Some(w.bob.id()),
        with_total: true,
        limit: 1,
        ..TicketQuery::new(Visibility::Related {
            user: w.bob.id(),
            orgs: Vec::new(),
        })
    };
    let first = w.open(&w.alice, "general", "one", at(1)).await;
    w.open(&w.alice, "general", "two", at(2)).await;
    let page = store.list_tickets(awaiting_bob.clone()).await.unwrap();
    assert_eq!(page.total, Some(2));
    let mark = page.mark.expect("a SQLite count says where it was taken");
    // The page was read in the same snapshot, and says so (in creation-time order).
    assert_eq!(page.snapshot, Some(mark));
    // Nothing since: nothing to add, and no ticket created before any time.
    assert_eq!(
        store
            .count_inserted_since(awaiting_bob.clone(), mark)
            .await
            .unwrap(),
        Some(Inserted {
            count: 0,
            mark,
            created_from: Some(chrono::DateTime::<chrono::Utc>::MAX_UTC),
        })
    );
    // Both step filters: the full list follows `awaiting`, and so must the count of new tickets.
    let both = TicketQuery {
        current_assignee: Some(w.carol.id()),
        ..awaiting_bob.clone()
    };
    let both_page = store.list_tickets(both.clone()).await.unwrap();
    assert_eq!(both_page.total, Some(2));
    w.open(&w.olga, "general", "three", at(3)).await;
    w.open(&w.carol, "general", "four", at(4)).await;
    let Inserted {
        count: added,
        mark: later,
        created_from,
    } = store
        .count_inserted_since(awaiting_bob.clone(), mark)
        .await
        .unwrap()
        .expect("only insertions since the mark");
    assert_eq!(added, 2);
    // The oldest of the new tickets, matching or not.
    assert_eq!(created_from, Some(at(3)));
    let added_both = store
        .count_inserted_since(both.clone(), both_page.mark.unwrap())
        .await
        .unwrap()
        .unwrap()
        .count;
    assert_eq!(
        Some(2 + added_both),
        store.list_tickets(both).await.unwrap().total
    );
    assert_eq!(later.changes, mark.changes);
    assert_eq!(later.last_insert, mark.last_insert + 2);
    // A decision changes a ticket that was already counted: the caller must count again.
    w.engine
        .act(
            &w.bob,
            first.id,
            TicketCommand::Approve {
                reason: String::new(),
                payload: None,
                changes: None,
            },
            at(5),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .count_inserted_since(awaiting_bob.clone(), later)
            .await
            .unwrap(),
        None
    );
    let page = store.list_tickets(awaiting_bob).await.unwrap();
    assert_eq!(page.total, Some(3));
    assert!(page.mark.unwrap().changes > later.changes);
}

/// An organization for a test's last write (one row, in the log until a checkpoint).
fn org(id: u128, name: &str) -> ticketd_core::identity::Org {
    ticketd_core::identity::Org {
        id: ticketd_core::OrgId(uuid::Uuid::from_u128(id)),
        name: name.into(),
        builtin: false,
        comment: String::new(),
        created_at: chrono::DateTime::UNIX_EPOCH,
    }
}

/// A checkpoint already running when the store shuts down (the checkpointer thread's passes
/// under load, or another process's) is waited for: SQLite refuses a second one at once,
/// without its busy handler, which once left a bench's preloaded log unemptied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_a_checkpoint_already_running() {
    use ticketd_core::store::Store as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let (store, _) = SqliteStore::open(&SqliteOptions::new(&path)).unwrap();
    store.create_org(org(7, "in-the-log")).await.unwrap();
    // Another connection holds the write lock, so a `FULL` checkpoint started on a third one
    // takes the checkpoint lock and keeps it while its busy handler waits for the writer.
    let writer = rusqlite::Connection::open(&path).unwrap();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    let checkpoint_path = path.clone();
    let running = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&checkpoint_path).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        conn.query_row("PRAGMA wal_checkpoint(FULL)", [], |row| {
            row.get::<_, i64>(0)
        })
        .unwrap()
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let shutdown = tokio::spawn({
        let store = store.clone();
        async move { store.shutdown().await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!shutdown.is_finished(), "gave up while a checkpoint ran");
    writer.execute_batch("ROLLBACK").unwrap();
    // Whichever of the two checkpoints then goes first, the other waits or gives up: only the
    // shutdown's outcome matters here.
    running.join().unwrap();
    shutdown.await.unwrap().unwrap();
    let log = path.with_file_name("busy.db-wal");
    assert_eq!(std::fs::metadata(&log).unwrap().len(), 0);
}

/// A database file moved away while served is not taken for another at shutdown: the log is not
/// emptied through its old path (which created an empty file there and lost every commit), and
/// the commits are in the file once it is back.
#[tokio::test]
async fn shutdown_leaves_a_file_moved_while_served_whole() {
    use ticketd_core::store::Store as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("served.db");
    let moved = dir.path().join("moved.db");
    let options = serving_options(&path);
    let (store, _) = SqliteStore::open(&options).unwrap();
    store.create_org(org(43, "precious")).await.unwrap();
    std::fs::rename(&path, &moved).unwrap();
    let error = store.shutdown().await.unwrap_err();
    assert!(error.to_string().contains("no longer names"), "{error}");
    assert!(!path.exists(), "no empty file was made in its place");
    drop(store);
    // Without the file, its log is not taken for a new database's: a start then made a new
    // file and started the log over, losing the commits it held.
    let log = path.with_file_name("served.db-wal");
    let log_before = std::fs::read(&log).unwrap();
    assert!(!log_before.is_empty());
    for serving in [true, false] {
        let mut options = SqliteOptions::new(&path);
        options.serving = serving;
        let refused = SqliteStore::open(&options).err().unwrap();
        assert!(refused.to_string().contains("write-ahead log"), "{refused}");
        assert!(!path.exists());
        assert_eq!(std::fs::read(&log).unwrap(), log_before);
    }
    std::fs::rename(&moved, &path).unwrap();
    let (store, _) = SqliteStore::open(&SqliteOptions::new(&path)).unwrap();
    assert!(
        store
            .get_org(ticketd_core::OrgId(uuid::Uuid::from_u128(43)))
            .await
            .unwrap()
            .is_some()
    );
}

/// At shutdown the log is copied into the database file and emptied: a copy of the file alone
/// holds the last commits, which until then lived only in the log.
#[tokio::test]
async fn shutdown_leaves_every_commit_in_the_database_file_and_the_log_empty() {
    use ticketd_core::store::Store as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("served.db");
    let options = serving_options(&path);
    let (store, _) = SqliteStore::open(&options).unwrap();
    store.create_org(org(42, "written-last")).await.unwrap();
    // `None` while even the schema is only in the log.
    let orgs_in_a_copy_of_the_file_alone = || {
        let copy = dir.path().join("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        let conn = rusqlite::Connection::open(&copy).unwrap();
        let found: Option<i64> = conn
            .query_row(
                "SELECT count(*) FROM orgs WHERE name = 'written-last'",
                [],
                |row| row.get(0),
            )
            .ok();
        drop(conn);
        std::fs::remove_file(&copy).unwrap();
        found
    };
    let log = path.with_file_name("served.db-wal");
    assert!(std::fs::metadata(&log).unwrap().len() > 0);
    assert_ne!(
        orgs_in_a_copy_of_the_file_alone(),
        Some(1),
        "still only in the log"
    );
    store.shutdown().await.unwrap();
    assert_eq!(std::fs::metadata(&log).unwrap().len(), 0);
    assert_eq!(orgs_in_a_copy_of_the_file_alone(), Some(1));
    // The store still works after it (a request cut off by the drain timeout may yet write).
    assert!(
        store
            .get_org(ticketd_core::OrgId(uuid::Uuid::from_u128(42)))
            .await
            .unwrap()
            .is_some()
    );
}

/// A serving store sees what one-off commands commit beside it (a token revoked, a member
/// added), and only those: it reads its token lookups and directory again, within 50 ms while
/// its writer is idle, and before its writer's next batch while it writes. Until 2026-12-07 it
/// kept serving a token such a command had revoked until its own next write of users or tokens.
#[tokio::test]
async fn a_serving_store_sees_the_commits_of_commands_beside_it() {
    use ticketd_core::identity::Org;
    use ticketd_core::store::Store;
    use ticketd_store_tests::fixture::{World, at};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("watched.db");
    let (served, _) = SqliteStore::open(&serving_options(&path)).unwrap();
    let served: Arc<dyn Store> = Arc::new(served);
    let w = World::new(served.clone()).await;
    let (beside, _) = SqliteStore::open(&SqliteOptions::new(&path)).unwrap();
    let org = |n: u128| Org {
        id: ticketd_core::OrgId(uuid::Uuid::from_u128(n)),
        name: format!("beside {n}"),
        builtin: false,
        comment: String::new(),
        created_at: at(0),
    };
    let identity = || served.local_identity_version().unwrap();
    let data = || served.local_data_version().unwrap();
    let settle = || tokio::time::sleep(std::time::Duration::from_millis(400));
    w.flow(
        "general",
        vec![(vec![&w.bob], ticketd_core::flow::LevelMode::Any)],
    )
    .await;
    // The store's own writes are no commit beside it: an opening moves the data version once
    // (its commit) and the identity version not at all, also once the writer has looked again
    // while idle (a watch on a connection of its own took the writer's commits for others').
    let (identity_before, data_before) = (identity(), data());
    w.open(&w.alice, "general", "own", at(1)).await;
    settle().await;
    assert_eq!((identity(), data()), (identity_before, data_before + 1));
    // Idle: seen by the store's watch.
    let before = identity();
    beside.create_org(org(0x00be_51de_0001)).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while identity() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "a commit beside the server was never seen"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Writing: seen by the writer before its next batch, here an opening, which alone moves no
    // identity version.
    settle().await;
    let before = identity();
    beside.create_org(org(0x00be_51de_0002)).await.unwrap();
    w.open(&w.alice, "general", "after the command", at(1))
        .await;
    assert_ne!(
        identity(),
        before,
        "the writer did not see the commit beside it"
    );
}

/// Another application's database is refused, and nothing is written to it (until 2026-12-07
/// the first migration failed half-way on a table name both use and left `schema_migrations`
/// behind, or, with no name in common, created ticketd's tables among the others').
#[test]
fn another_application_s_database_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    for (file, table) in [("clash.db", "users"), ("apart.db", "invoices")] {
        let path = dir.path().join(file);
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch(&format!("CREATE TABLE {table} (x INTEGER)"))
            .unwrap();
        drop(raw);
        let reason = open_refusal(&SqliteOptions::new(&path));
        assert!(
            reason.contains("another application") && reason.contains(table),
            "{reason}"
        );
        let tables: Vec<String> = rusqlite::Connection::open(&path)
            .unwrap()
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(tables, vec![table.to_owned()], "{file}");
    }
}

/// A serving store whose log is deleted copies the deleted log's commits into the file through
/// the connection that still holds it, and refuses writes from then on (`/healthz`'s ping
/// fails), so nothing acknowledged is lost: the acknowledged writes went with the log, and
/// `/healthz` answered ok. One whose file is deleted refuses writes too, and its log is kept
/// for the file (a start beside it is refused).
#[tokio::test]
async fn a_file_or_log_deleted_while_served_refuses_writes_and_keeps_every_commit() {
    use ticketd_core::store::Store as _;
    let dir = tempfile::tempdir().unwrap();
    let org_id = |id| ticketd_core::OrgId(uuid::Uuid::from_u128(id));
    let path = dir.path().join("served.db");
    let options = serving_options(&path);
    let (store, _) = SqliteStore::open(&options).unwrap();
    store.create_org(org(51, "before")).await.unwrap();
    store.ping().await.unwrap();
    std::fs::remove_file(path.with_file_name("served.db-wal")).unwrap();
    // The writer looks at its files every 10 ms at most while it writes.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let refused = store.create_org(org(52, "after")).await.unwrap_err();
    assert!(refused.to_string().contains("write-ahead log"), "{refused}");
    let unhealthy = store.ping().await.unwrap_err();
    assert!(
        unhealthy.to_string().contains("write-ahead log"),
        "{unhealthy}"
    );
    store.shutdown().await.unwrap();
    drop(store);
    let (store, _) = SqliteStore::open(&SqliteOptions::new(&path)).unwrap();
    assert!(store.get_org(org_id(51)).await.unwrap().is_some());
    assert!(store.get_org(org_id(52)).await.unwrap().is_none());
    drop(store);

    let path = dir.path().join("deleted.db");
    let options = serving_options(&path);
    let (store, _) = SqliteStore::open(&options).unwrap();
    store.create_org(org(53, "before")).await.unwrap();
    std::fs::remove_file(&path).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let refused = store.create_org(org(54, "after")).await.unwrap_err();
    assert!(refused.to_string().contains("no longer names"), "{refused}");
    assert!(store.ping().await.is_err());
    assert!(store.shutdown().await.is_err());
    drop(store);
    assert!(
        SqliteStore::open(&options).is_err(),
        "the log waits for its file"
    );
    // The writer copied every commit into a file beside it, which opens as the database once
    // the old log is moved away (it went with the process).
    let rescued: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("deleted.db.rescued-"))
        .collect();
    assert_eq!(rescued.len(), 1, "{rescued:?}");
    std::fs::rename(
        path.with_file_name("deleted.db-wal"),
        dir.path().join("old-wal"),
    )
    .unwrap();
    // Without the log, the copy still keeps a new database from starting beside it.
    let refused = SqliteStore::open(&options).err().unwrap();
    assert!(refused.to_string().contains("rescued"), "{refused}");
    assert!(refused.to_string().contains("deleted.db-wal"), "{refused}");
    let _ = std::fs::rename(
        path.with_file_name("deleted.db-shm"),
        dir.path().join("old-shm"),
    );
    std::fs::rename(&rescued[0], &path).unwrap();
    let (store, _) = SqliteStore::open(&SqliteOptions::new(&path)).unwrap();
    assert!(store.get_org(org_id(53)).await.unwrap().is_some());
    assert!(store.get_org(org_id(54)).await.unwrap().is_none());
    drop(store);

    // Served through a symbolic link, the log beside the real file is the one watched (the one
    // beside the link, which never exists, was).
    let real = dir.path().join("real.db");
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let options = serving_options(&link);
    let (store, _) = SqliteStore::open(&options).unwrap();
    store.create_org(org(55, "before")).await.unwrap();
    std::fs::remove_file(dir.path().join("real.db-wal")).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let refused = store.create_org(org(56, "after")).await.unwrap_err();
    assert!(refused.to_string().contains("write-ahead log"), "{refused}");
    drop(store);

    // A file moved away and back is served again: writes refused meanwhile, taken after.
    let path = dir.path().join("moved.db");
    let options = serving_options(&path);
    let (store, _) = SqliteStore::open(&options).unwrap();
    store.create_org(org(57, "before")).await.unwrap();
    std::fs::rename(&path, dir.path().join("away.db")).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(store.create_org(org(58, "away")).await.is_err());
    assert!(store.ping().await.is_err());
    std::fs::rename(dir.path().join("away.db"), &path).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    store.create_org(org(59, "back")).await.unwrap();
    store.ping().await.unwrap();
    // Lost again after coming back, it is copied again, with what was written since (the first
    // copy lacked it, and no second one was made).
    std::fs::remove_file(&path).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert!(store.create_org(org(60, "gone")).await.is_err());
    let mut copies: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("moved.db.rescued-"))
        .collect();
    copies.sort();
    assert!(!copies.is_empty());
    let newest = copies.last().unwrap();
    let copy = rusqlite::Connection::open(newest).unwrap();
    let back: i64 = copy
        .query_row(
            "SELECT count(*) FROM orgs WHERE id = ?1",
            [uuid::Uuid::from_u128(59)],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(back, 1, "{copies:?}");
}
