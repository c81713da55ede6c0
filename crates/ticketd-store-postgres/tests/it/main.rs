//! Runs the Store contract suite against PostgreSQL, one fresh database per test.
//!
//! Set `TICKETD_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`) to an
//! account that may create databases; without it every test that needs a server is skipped.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers panic on failure by design"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};
use ticketd_core::StoreError;
use ticketd_core::store::Store;
use ticketd_store_postgres::{PostgresOptions, PostgresStore};
use ticketd_store_tests::TestStore;

const URL_VARIABLE: &str = "TICKETD_TEST_POSTGRES_URL";

fn admin_url() -> Option<String> {
    match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!("skipped: {URL_VARIABLE} is not set");
            None
        }
    }
}

/// `url` pointing at database `name` instead (URL form: the path; `key=value` form: `dbname`).
fn with_database(url: &str, name: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let query_start = rest.find('?').unwrap_or(rest.len());
        let (before_query, query) = rest.split_at(query_start);
        let authority = before_query.split('/').next().unwrap_or(before_query);
        return format!("{scheme}://{authority}/{name}{query}");
    }
    let kept: Vec<&str> = url
        .split_whitespace()
        .filter(|pair| !pair.starts_with("dbname="))
        .collect();
    format!("{} dbname={name}", kept.join(" "))
}

async fn admin_client(admin_url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .expect("connect to the admin database");
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            eprintln!("admin connection ended: {error}");
        }
    });
    client
}

/// A uniquely named database, dropped (with its open connections) when the guard is dropped.
struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    async fn create(admin_url: String) -> TestDatabase {
        let name = format!("ticketd_test_{}", uuid::Uuid::new_v4().simple());
        let admin = admin_client(&admin_url).await;
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create the test database");
        let url = with_database(&admin_url, &name);
        TestDatabase {
            admin_url,
            name,
            url,
        }
    }
}

impl Drop for TestDatabase {
    /// Drops the database from a separate admin connection. `Drop` cannot await and may run on
    /// a tokio worker, where starting another runtime panics, so the drop runs on its own thread
    /// with its own single-threaded runtime, and this waits for it.
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("could not drop test database {name}: {error}");
                    return;
                }
            };
            runtime.block_on(async {
                match tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await {
                    Ok((client, connection)) => {
                        tokio::spawn(connection);
                        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                        if let Err(error) = client.batch_execute(&sql).await {
                            eprintln!("could not drop test database {name}: {error}");
                        }
                    }
                    Err(error) => eprintln!("could not drop test database {name}: {error}"),
                }
            });
        });
        // A panic here would abort a test that is already unwinding; report instead.
        if dropper.join().is_err() {
            eprintln!("the thread dropping test database {} panicked", self.name);
        }
    }
}

/// The migration files of a backend crate, sorted.
fn migration_files(crate_dir: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(crate_dir)
        .join("migrations");
    let mut names: Vec<String> = std::fs::read_dir(path)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn migration_count() -> usize {
    migration_files(".").len()
}

fn options(url: &str) -> PostgresOptions {
    PostgresOptions {
        pool_size: 8,
        ..PostgresOptions::new(url)
    }
}

async fn fresh_store() -> Option<TestStore> {
    let database = TestDatabase::create(admin_url()?).await;
    let (store, migrated) = PostgresStore::connect(&options(&database.url))
        .await
        .expect("connect to the test database");
    assert_eq!(
        migrated,
        migration_count(),
        "a fresh database gets every migration"
    );
    Some(TestStore {
        store: Arc::new(store),
        guard: Box::new(database),
    })
}

ticketd_store_tests::contract_suite!(fresh_store);

#[tokio::test]
async fn reopening_an_existing_database_runs_no_migration() {
    let Some(admin) = admin_url() else { return };
    let database = TestDatabase::create(admin).await;
    let (first, migrated) = PostgresStore::connect(&options(&database.url))
        .await
        .unwrap();
    assert_eq!(migrated, migration_count());
    drop(first);
    let (second, migrated) = PostgresStore::connect(&options(&database.url))
        .await
        .unwrap();
    assert_eq!(migrated, 0);
    second.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_connects_to_an_empty_database_migrate_once() {
    let Some(admin) = admin_url() else { return };
    let database = TestDatabase::create(admin).await;
    let connects: Vec<_> = (0..4)
        .map(|_| {
            let options = options(&database.url);
            tokio::spawn(async move { PostgresStore::connect(&options).await })
        })
        .collect();
    let mut applied = Vec::new();
    for connect in connects {
        let (store, migrated) = connect.await.unwrap().expect("every connect succeeds");
        store.ping().await.unwrap();
        applied.push(migrated);
    }
    applied.sort_unstable();
    assert_eq!(
        applied,
        vec![0, 0, 0, migration_count()],
        "exactly one process migrates"
    );
    let admin = admin_client(&database.url).await;
    let recorded: i64 = admin
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(usize::try_from(recorded).unwrap(), migration_count());
}

/// A finished ticket stored without an end (before migration 17, or by an older process during
/// an upgrade) reads its last change as its end; one not finished has none.
#[tokio::test]
async fn a_finished_ticket_stored_without_an_end_reads_its_last_change() {
    let Some(admin) = admin_url() else { return };
    let database = TestDatabase::create(admin).await;
    let (store, _) = PostgresStore::connect(&options(&database.url))
        .await
        .unwrap();
    let (ended, waiting) =
        ticketd_store_tests::fixture::an_ended_and_a_waiting_ticket(Arc::new(store)).await;
    let raw = admin_client(&database.url).await;
    raw.batch_execute(
        "ALTER TABLE tickets DROP COLUMN finished_at; \
         DELETE FROM schema_migrations WHERE version = 17;",
    )
    .await
    .unwrap();
    let (store, migrated) = PostgresStore::connect(&options(&database.url))
        .await
        .unwrap();
    assert_eq!(migrated, 1);
    let store: Arc<dyn Store> = Arc::new(store);
    let read = |id| {
        let store = store.clone();
        async move { store.get_ticket(id).await.unwrap().unwrap().finished_at }
    };
    assert_eq!(ended.finished_at, Some(ticketd_store_tests::fixture::at(1)));
    assert_eq!(read(ended.id).await, Some(ended.updated_at));
    assert_eq!(read(waiting.id).await, None);
}

/// Why connecting to `url` failed, from the error's source.
async fn connect_refusal(url: &str) -> String {
    match PostgresStore::connect(&options(url)).await {
        Err(StoreError::Other(source)) => source.to_string(),
        Err(other) => panic!("expected a refusal with a reason, got {other}"),
        Ok(_) => panic!("the store connected"),
    }
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_or_another_build_is_refused_and_left_as_it_was() {
    let Some(admin) = admin_url() else { return };
    let database = TestDatabase::create(admin).await;
    drop(
        PostgresStore::connect(&options(&database.url))
            .await
            .unwrap(),
    );
    let raw = admin_client(&database.url).await;
    let newest = i64::try_from(migration_count()).unwrap();
    raw.execute(
        "INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_the_future')",
        &[&(newest + 1)],
    )
    .await
    .unwrap();
    let refusal = connect_refusal(&database.url).await;
    assert!(refusal.contains("newer ticketd"), "{refusal}");
    assert!(
        refusal.contains(&format!("migration {} (from_the_future)", newest + 1)),
        "{refusal}"
    );
    raw.execute(
        "DELETE FROM schema_migrations WHERE version = $1",
        &[&(newest + 1)],
    )
    .await
    .unwrap();
    raw.execute(
        "UPDATE schema_migrations SET name = 'renamed' WHERE version = $1",
        &[&newest],
    )
    .await
    .unwrap();
    let refusal = connect_refusal(&database.url).await;
    assert!(refusal.contains("another build"), "{refusal}");
    let recorded: i64 = raw
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, newest, "nothing was applied or removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_answers_unavailable_quickly() {
    let Some(admin) = admin_url() else { return };
    let database = TestDatabase::create(admin).await;
    let (store, _) = PostgresStore::connect(&PostgresOptions {
        pool_size: 1,
        acquire_timeout: Duration::from_millis(200),
        ..PostgresOptions::new(&database.url)
    })
    .await
    .unwrap();
    // Another session locks `orgs`, so a read through the store's only connection blocks.
    let mut locker = admin_client(&database.url).await;
    let lock = locker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE orgs IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let store = Arc::new(store);
    let blocked = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.list_orgs().await })
    };
    // Wait until the blocked read holds the connection (no sleep: poll the server's view).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = lock
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the read never blocked");
        tokio::task::yield_now().await;
    }
    let started = Instant::now();
    let result = store.ping().await;
    let waited = started.elapsed();
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    assert!(waited < Duration::from_secs(2), "waited {waited:?}");
    lock.rollback().await.unwrap();
    assert!(blocked.await.unwrap().is_ok());
    store.ping().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    // Port 1 on loopback refuses connections: no server is needed for this test.
    let result = PostgresStore::connect(&PostgresOptions {
        connect_timeout: Duration::from_secs(2),
        ..PostgresOptions::new("postgres://ticketd@127.0.0.1:1/ticketd")
    })
    .await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
}

#[test]
fn options_hide_the_password_in_debug_output() {
    let url = PostgresOptions::new("postgres://ticketd:s3cret@db.internal:5432/ticketd");
    let printed = format!("{url:?}");
    assert!(!printed.contains("s3cret"), "{printed}");
    assert!(
        printed.contains("ticketd:***@db.internal:5432/ticketd"),
        "{printed}"
    );
    let pairs = PostgresOptions::new("host=db user=ticketd password=s3cret dbname=ticketd");
    assert!(!format!("{pairs:?}").contains("s3cret"));
}

#[test]
fn test_urls_point_at_the_test_database() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
        "postgres://postgres@127.0.0.1:5432/t1"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
        "postgres://u:p@h/t2?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "t3"), "postgres://h/t3");
    assert_eq!(
        with_database("host=h dbname=postgres user=u", "t4"),
        "host=h user=u dbname=t4"
    );
}

#[test]
fn migrations_have_the_same_names_as_the_sqlite_ones() {
    assert_eq!(
        migration_files("."),
        migration_files("../ticketd-store-sqlite")
    );
}

/// The first column of every row `sql` answers in the database at `url`.
async fn first_column<T>(url: &str, sql: &str) -> Vec<T>
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    admin_client(url)
        .await
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// A ticket's assignee, viewer, history and comment rows are written only with their ticket, so
/// PostgreSQL no longer checks their key row by row (migration 0012); grants keep theirs.
#[tokio::test]
async fn only_grants_check_the_key_of_their_ticket() {
    let Some((database, _store)) = seeded_store("").await else {
        return;
    };
    let referencing: Vec<String> = first_column(
        &database.url,
        "SELECT conrelid::regclass::text FROM pg_constraint \
         WHERE contype = 'f' AND confrelid = 'tickets'::regclass ORDER BY 1",
    )
    .await;
    assert_eq!(referencing, ["grants"]);
}

/// Rows for the planner: 1,000 users, 20,000 tickets with a viewer and an assignee each.
const PLAN_SEED: &str = "
    INSERT INTO orgs (id, name, builtin, created_at)
        VALUES ('00000000-0000-0000-0000-000000000002', 'Default', true, now());
    INSERT INTO users (id, username, name, system_role, created_at, updated_at)
        SELECT ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid, 'u' || g, 'U' || g,
               'user', now(), now()
        FROM generate_series(1, 1000) AS g;
    INSERT INTO tickets (id, serial, org_id, kind, title, applicant_id, applicant_display, state,
                         approval_step, round, steps, cc_users, payload, comment, scope, version,
                         created_at, updated_at)
        SELECT gen_random_uuid(), '20260821' || lpad(g::text, 5, '0'),
               '00000000-0000-0000-0000-000000000002',
               (ARRAY['apply_asset', 'general', 'other'])[g % 3 + 1], 'title ' || g,
               ('00000000-0000-0000-0000-' || lpad((g % 1000 + 1)::text, 12, '0'))::uuid, 'U(u)',
               (ARRAY['draft', 'pending', 'approved', 'rejected', 'closed'])[g % 5 + 1], 1, 1,
               '[]', '[]', '{}', '', 'p' || (g % 50), 1,
               now() - g * interval '1 second', now()
        FROM generate_series(1, 20000) AS g;
    INSERT INTO ticket_viewers (ticket_id, user_id, created_at)
        SELECT id, applicant_id, created_at FROM tickets;
    INSERT INTO ticket_assignees (ticket_id, user_id, level, current, awaiting, created_at)
        SELECT id, ('00000000-0000-0000-0000-'
                    || lpad((abs(hashtext(id::text)) % 1000 + 1)::text, 12, '0'))::uuid,
               1, true, state = 'pending', created_at
        FROM tickets;
    ANALYZE;
";

/// A fresh database with the store's schema, then `seed` run in it (plain SQL, as a writer of
/// another process would), and a store on it; `None` without a configured server.
async fn seeded_store(seed: &str) -> Option<(TestDatabase, PostgresStore)> {
    let database = TestDatabase::create(admin_url()?).await;
    let (store, _) = PostgresStore::connect(&options(&database.url))
        .await
        .unwrap();
    admin_client(&database.url)
        .await
        .batch_execute(seed)
        .await
        .unwrap();
    Some((database, store))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_are_read_through_an_index() {
    use ticketd_core::identity::DEFAULT_ORG;
    use ticketd_core::store::{TicketQuery, Visibility};
    use ticketd_core::ticket::TicketState;
    let Some((database, store)) = seeded_store(PLAN_SEED).await else {
        return;
    };
    let user = ticketd_core::UserId(uuid::Uuid::from_u128(7));
    let base = TicketQuery::new(Visibility::All);
    let cases: Vec<(&str, TicketQuery)> = vec![
        ("all, newest first", base.clone()),
        (
            "awaiting me",
            TicketQuery {
                awaiting: Some(user),
                ..base.clone()
            },
        ),
        (
            "current assignee",
            TicketQuery {
                current_assignee: Some(user),
                ..base.clone()
            },
        ),
        (
            "visible to a user",
            TicketQuery::new(Visibility::Related {
                user,
                orgs: Vec::new(),
            }),
        ),
        (
            "visible to an org admin",
            TicketQuery::new(Visibility::Related {
                user,
                orgs: vec![DEFAULT_ORG],
            }),
        ),
        (
            "state",
            TicketQuery {
                states: vec![TicketState::Pending],
                ..base.clone()
            },
        ),
        (
            "type",
            TicketQuery {
                kinds: vec!["apply_asset".into()],
                ..base.clone()
            },
        ),
        (
            "applicant",
            TicketQuery {
                applicant: Some(user),
                ..base.clone()
            },
        ),
        (
            "org",
            TicketQuery {
                org_ids: Some(vec![DEFAULT_ORG]),
                ..base.clone()
            },
        ),
        (
            "serial",
            TicketQuery {
                serial: Some("2026082100007".into()),
                ..base.clone()
            },
        ),
        (
            "title",
            TicketQuery {
                title: Some("Title 7".into()),
                ..base.clone()
            },
        ),
        (
            "scope",
            TicketQuery {
                scope: Some("p7".into()),
                ..base.clone()
            },
        ),
    ];
    // Each list also as a page that starts after a remembered row.
    let after = ticketd_core::store::PagePosition {
        created_at: ticketd_store_tests::fixture::t0(),
        id: ticketd_core::TicketId(uuid::Uuid::nil()),
    };
    let seeking: Vec<_> = cases
        .iter()
        .map(|(name, query)| {
            (
                *name,
                TicketQuery {
                    after: Some(after),
                    ..query.clone()
                },
            )
        })
        .collect();
    let admin = admin_client(&database.url).await;
    // Where a count taken now would start its range of new tickets.
    let horizon: i64 = admin
        .query_one(
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // "Current assignee" pages read the index that holds current steps only (migration 0011):
    // a level's decision then moves two of its entries, not four.
    let current_steps: String = admin
        .query_one(
            "SELECT pg_get_indexdef('ticket_assignees_current'::regclass)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(current_steps.ends_with("WHERE current"), "{current_steps}");
    let (name, current) = cases
        .iter()
        .find(|(name, _)| *name == "current assignee")
        .unwrap();
    let plan = store.list_query_plan(current.clone()).await.unwrap();
    assert!(
        plan.iter()
            .any(|line| line.contains("ticket_assignees_current")),
        "{name}: {plan:#?}"
    );
    for (name, query) in cases.into_iter().chain(seeking) {
        let plan = store
            .list_query_plan(TicketQuery {
                with_total: true,
                ..query.clone()
            })
            .await
            .unwrap();
        // The page select comes first; the count's plan starts at the top-level `Aggregate`.
        // Counting every live ticket may rightly read the whole table, so only pages are held
        // to the index rule.
        let page: Vec<&String> = plan
            .iter()
            .take_while(|line| !line.starts_with("Aggregate"))
            .collect();
        assert!(!page.is_empty(), "{name}: {plan:?}");
        assert!(
            !page.iter().any(|line| line.contains("Seq Scan on tickets")),
            "{name}: {page:#?}"
        );
        // The matches among new tickets are found through the range of new tickets, whichever
        // index drives the list.
        let inserted = store
            .inserted_count_plan(query.clone(), horizon)
            .await
            .unwrap();
        assert!(
            inserted
                .iter()
                .any(|line| line.contains("tickets_inserted_xid")),
            "{name}: {inserted:#?}"
        );
    }
}

/// The token lookup every authenticated request makes reads its rows through their indexes
/// also while the tables are small (a few hundred users, as in the benchmark), where the
/// planner's default costs prefer scanning them whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_lookup_reads_through_indexes_at_a_few_hundred_users() {
    let Some((_database, store)) = seeded_store(
        "INSERT INTO orgs (id, name, created_at) VALUES (gen_random_uuid(), 'Plan', now()); \
             INSERT INTO roles (id, name, scope) VALUES (gen_random_uuid(), 'plan-user', 'org'); \
             INSERT INTO users (id, username, name, system_role, created_at, updated_at) \
             SELECT gen_random_uuid(), 'user' || n, 'User ' || n, 'user', now(), now() \
             FROM generate_series(1, 300) AS n; \
             INSERT INTO api_tokens (token_hash, user_id, kind, created_at) \
             SELECT sha256(id::text::bytea), id, 'api', now() FROM users; \
             INSERT INTO org_members (org_id, user_id, role_id) \
             SELECT (SELECT id FROM orgs WHERE name = 'Plan'), id, \
             (SELECT id FROM roles WHERE name = 'plan-user') FROM users; \
             ANALYZE orgs, roles, users, api_tokens, org_members;",
    )
    .await
    else {
        return;
    };
    let plan = store.token_actor_plan().await.unwrap();
    for table in ["api_tokens", "users", "org_members"] {
        assert!(
            !plan
                .iter()
                .any(|line| line.contains(&format!("Seq Scan on {table}"))),
            "{table}: {plan:#?}"
        );
    }
    assert!(
        plan.iter().any(|line| line.contains("api_tokens_pkey")),
        "{plan:#?}"
    );
}

/// Copies ticket `from` as a new ticket `to` with its assignee and viewer rows, in the
/// transaction `client` has open (a writer of another process, as far as the store can tell).
async fn copy_ticket(client: &tokio_postgres::Client, from: uuid::Uuid, to: uuid::Uuid) {
    client
        .execute(
            "INSERT INTO tickets (id, serial, org_id, kind, title, applicant_id, applicant_display, \
             flow_id, state, approval_step, round, steps, cc_users, payload, comment, scope, \
             archived, confirmed, deleted, version, created_at, updated_at) \
             SELECT $2, serial || '9', org_id, kind, title, applicant_id, applicant_display, \
             flow_id, state, approval_step, round, steps, cc_users, payload, comment, scope, \
             archived, confirmed, deleted, version, created_at, updated_at FROM tickets WHERE id = $1",
            &[&from, &to],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO ticket_assignees (ticket_id, user_id, level, current, awaiting, \
             created_at, state, kind, archived, deleted) \
             SELECT $2, user_id, level, current, awaiting, created_at, state, kind, archived, \
             deleted FROM ticket_assignees WHERE ticket_id = $1",
            &[&from, &to],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO ticket_viewers (ticket_id, user_id, created_at, state, kind, archived, \
             deleted) SELECT $2, user_id, created_at, state, kind, archived, deleted \
             FROM ticket_viewers WHERE ticket_id = $1",
            &[&from, &to],
        )
        .await
        .unwrap();
}

/// With writers in several processes, transactions commit out of the order of their numbers: a
/// ticket whose transaction began before a count and commits after it must still be counted
/// once, and a change made outside the store (here plain SQL) must make lists count afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remembered_counts_hold_when_writers_commit_out_of_order() {
    use ticketd_core::store::{TicketQuery, Visibility};
    use ticketd_store_tests::fixture::at;
    let Some(admin) = admin_url() else { return };
    let database = TestDatabase::create(admin).await;
    let (store, _) = PostgresStore::connect(&options(&database.url))
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let cached: Arc<dyn Store> = Arc::new(ticketd_core::cache::CachedStore::new(store.clone()));
    let w = world_bob_decides(cached.clone()).await;
    let awaiting = TicketQuery {
        awaiting: Some(w.bob.id()),
        with_total: true,
        ..TicketQuery::new(Visibility::Related {
            user: w.bob.id(),
            orgs: Vec::new(),
        })
    };
    let searched = TicketQuery {
        search: vec![vec![vec!["late".into()]]],
        with_total: true,
        ..TicketQuery::new(Visibility::All)
    };
    let same_counts = |step: &'static str| {
        let (cached, store) = (cached.clone(), store.clone());
        let lists = [awaiting.clone(), searched.clone()];
        async move {
            let mut totals = Vec::new();
            for list in lists {
                let remembered = cached.list_tickets(list.clone()).await.unwrap().total;
                let fresh = store.list_tickets(list).await.unwrap().total;
                assert_eq!(remembered, fresh, "{step}");
                totals.push(fresh.unwrap());
            }
            totals
        }
    };
    let first = w.open(&w.alice, "general", "late one", at(1)).await;
    assert_eq!(same_counts("one ticket").await, [1, 1]);

    // Another writer takes its transaction number now and commits only after later ones.
    let other = admin_client(&database.url).await;
    other
        .batch_execute("BEGIN; SELECT pg_current_xact_id();")
        .await
        .unwrap();
    w.open(&w.alice, "general", "late two", at(2)).await;
    assert_eq!(same_counts("a later number committed first").await, [2, 2]);
    let copy = uuid::Uuid::now_v7();
    copy_ticket(&other, first.id.0, copy).await;
    other.batch_execute("COMMIT").await.unwrap();
    assert_eq!(same_counts("the earlier number committed").await, [3, 3]);
    w.open(&w.alice, "general", "late three", at(3)).await;
    assert_eq!(same_counts("one more").await, [4, 4]);

    // A change to an existing ticket's rows, from plain SQL in a transaction that began before
    // the count: the change counter moves at its commit, and lists count afresh.
    other
        .batch_execute("BEGIN; SELECT pg_current_xact_id();")
        .await
        .unwrap();
    w.open(&w.alice, "general", "late four", at(4)).await;
    assert_eq!(same_counts("before the change").await, [5, 5]);
    other
        .execute(
            "DELETE FROM ticket_assignees WHERE ticket_id = $1",
            &[&first.id.0],
        )
        .await
        .unwrap();
    other
        .execute("UPDATE tickets SET title = 'early' WHERE id = $1", &[&copy])
        .await
        .unwrap();
    other.batch_execute("COMMIT").await.unwrap();
    assert_eq!(same_counts("after the change").await, [4, 4]);
    // A ticket row changed alone (no assignee or viewer row with it).
    for (title, counts) in [("late again", [4, 5]), ("early", [4, 4])] {
        other
            .execute(
                "UPDATE tickets SET title = $1 WHERE id = $2",
                &[&title, &copy],
            )
            .await
            .unwrap();
        assert_eq!(same_counts("a title changed").await, counts);
    }

    // Rows added to an old ticket change its lists too; rows of a ticket opened in the same
    // transaction do not count as a change.
    let added = uuid::Uuid::now_v7();
    other.batch_execute("BEGIN").await.unwrap();
    copy_ticket(&other, copy, added).await;
    other
        .execute(
            "INSERT INTO ticket_assignees (ticket_id, user_id, level, current, awaiting, \
             created_at, state, kind) SELECT ticket_id, user_id, level, current, awaiting, \
             created_at, state, kind FROM ticket_assignees WHERE ticket_id = $1 LIMIT 1 \
             ON CONFLICT DO NOTHING",
            &[&added],
        )
        .await
        .unwrap();
    let changes = "SELECT changes FROM list_changes";
    let before: i64 = other.query_one(changes, &[]).await.unwrap().get(0);
    other.batch_execute("COMMIT").await.unwrap();
    let after: i64 = other.query_one(changes, &[]).await.unwrap().get(0);
    assert_eq!(after, before, "opening a ticket with its rows is no change");
    assert_eq!(same_counts("a copy opened").await, [5, 4]);
    other
        .execute(
            "INSERT INTO ticket_assignees (ticket_id, user_id, level, current, awaiting, \
             created_at, state, kind) SELECT $1, user_id, level, current, awaiting, created_at, \
             state, kind FROM ticket_assignees WHERE ticket_id = $2",
            &[&first.id.0, &added],
        )
        .await
        .unwrap();
    let after_insert: i64 = other.query_one(changes, &[]).await.unwrap().get(0);
    assert_eq!(
        after_insert,
        after + 1,
        "a step added to an old ticket is a change"
    );
    assert_eq!(same_counts("a step added to an old ticket").await, [6, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_names_are_unique_ignoring_case() {
    use ticketd_core::identity::Org;
    let Some(test_store) = fresh_store().await else {
        return;
    };
    let store = &test_store.store;
    let org = |name: &str| Org {
        id: ticketd_core::OrgId(uuid::Uuid::new_v4()),
        name: name.into(),
        builtin: false,
        comment: String::new(),
        created_at: ticketd_store_tests::fixture::t0(),
    };
    store.create_org(org("Acme")).await.unwrap();
    let clash = store.create_org(org("ACME")).await;
    assert!(
        matches!(&clash, Err(StoreError::Conflict { constraint }) if constraint == "orgs_name_key"),
        "{clash:?}"
    );
    let found = store.find_org_by_name("acme").await.unwrap().unwrap();
    assert_eq!(found.name, "Acme");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updating_a_missing_ticket_is_not_found_and_writes_nothing() {
    use ticketd_core::ticket::{Comment, CommentKind, Event, TicketWrite};
    use ticketd_store_tests::fixture::t0;
    // Migration 0012 dropped these rows' keys to their ticket: nothing but the write path keeps
    // a refused update from leaving rows of a ticket that does not exist, alone or in a group.
    let Some((database, store)) = seeded_store("").await else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(store);
    let w = world_bob_decides(store.clone()).await;
    let mut tickets = Vec::new();
    for title in ["real", "one", "two", "three", "four"] {
        tickets.push(w.open(&w.alice, "general", title, t0()).await);
    }
    let ticket = &tickets[0];
    let events_before = store.events_after(0, 100).await.unwrap().len();
    let mut ghost = ticket.clone();
    ghost.id = ticketd_core::TicketId(uuid::Uuid::new_v4());
    let history = store.ticket_history(ticket.id).await.unwrap();
    assert!(!history.is_empty());
    let ghost_write = || TicketWrite {
        expected_version: Some(ticket.version),
        serial_day: None,
        history: history
            .iter()
            .map(|entry| ticketd_core::ticket::HistoryEntry {
                id: uuid::Uuid::new_v4(),
                ticket_id: ghost.id,
                ..entry.clone()
            })
            .collect(),
        comments: vec![Comment {
            id: uuid::Uuid::new_v4(),
            ticket_id: ghost.id,
            user_id: Some(w.alice.id()),
            user_display: "Alice(alice)".into(),
            body: "never stored".into(),
            kind: CommentKind::Common,
            state: None,
            created_at: t0(),
        }],
        events: vec![Event {
            id: uuid::Uuid::new_v4(),
            kind: "ticket.ghost".into(),
            ticket_id: ghost.id,
            org_id: ghost.org_id,
            payload: serde_json::Value::Null,
            created_at: t0(),
        }],
        grant: None,
        unchanged: Default::default(),
        ticket: ghost.clone(),
    };
    let result = store.write_ticket(ghost_write()).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    assert_eq!(
        store.events_after(0, 100).await.unwrap().len(),
        events_before
    );

    // Queued among other updates, the refused write shares their group's statements: the
    // first write goes alone while the others queue behind it.
    let rename = |ticket: &ticketd_core::ticket::Ticket| {
        let mut renamed = ticket.clone();
        renamed.title = format!("{} renamed", ticket.title);
        renamed.version += 1;
        TicketWrite::new(renamed, Some(ticket.version))
    };
    let mut writes: Vec<TicketWrite> = tickets[1..].iter().map(rename).collect();
    writes.insert(2, ghost_write());
    let outcomes =
        futures_util::future::join_all(writes.into_iter().map(|write| store.write_ticket(write)))
            .await;
    for (index, outcome) in outcomes.iter().enumerate() {
        if index == 2 {
            assert!(matches!(outcome, Err(StoreError::NotFound)), "{outcome:?}");
        } else {
            assert!(
                outcome
                    .as_ref()
                    .is_ok_and(|t| t.title.ends_with(" renamed"))
            );
        }
    }
    let events = store.events_after(0, 100).await.unwrap();
    assert!(events.iter().all(|(_, event)| event.ticket_id != ghost.id));

    let client = admin_client(&database.url).await;
    for table in [
        "ticket_assignees",
        "ticket_viewers",
        "ticket_history",
        "ticket_comments",
    ] {
        let rows: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE ticket_id = $1"),
                &[&ghost.id.0],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            rows, 0,
            "{table} holds rows of a ticket that does not exist"
        );
    }
}

/// The fixture's world over `store`, with a `general` flow that bob decides alone.
async fn world_bob_decides(store: Arc<dyn Store>) -> ticketd_store_tests::fixture::World {
    let w = ticketd_store_tests::fixture::World::new(store).await;
    w.flow(
        "general",
        vec![(vec![&w.bob], ticketd_core::flow::LevelMode::Any)],
    )
    .await;
    w
}

/// Polls `read` until `done` holds of its answer, for at most 10 s.
async fn eventually<T: std::fmt::Debug>(
    mut read: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
    what: &str,
) -> T {
    let value = eventually_async(|| std::future::ready(read()), &done).await;
    assert!(done(&value), "{what}: still {value:?} after 10 s");
    value
}

/// A never-expiring API token of `owner` with the digest `digest`.
fn api_token(
    digest: [u8; 32],
    owner: &ticketd_core::actor::Actor,
) -> ticketd_core::identity::TokenRecord {
    ticketd_core::identity::TokenRecord {
        token_hash: digest,
        user_id: owner.id(),
        kind: ticketd_core::identity::TokenKind::Api,
        expires_at: None,
        created_at: ticketd_store_tests::fixture::t0(),
    }
}

/// The store's identity version once it listens and the notifications of earlier commits have
/// all arrived (unchanged for 300 ms).
async fn settled_identity_version(store: &PostgresStore) -> Option<u64> {
    let mut seen = eventually(
        || store.local_identity_version(),
        Option::is_some,
        "the listener listens",
    )
    .await;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = store.local_identity_version();
        if now == seen {
            return now;
        }
        seen = now;
    }
}

/// Token lookups are kept by the identity version (`CachedStore`); on PostgreSQL another process's
/// revocation or directory change moves it through the listener (migration 0013), and ticket
/// writes and new tokens leave it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_by_one_process_moves_the_other_s_identity_version() {
    use ticketd_store_tests::fixture::t0;
    let Some((database, watcher)) = seeded_store("").await else {
        return;
    };
    let (other, _) = PostgresStore::connect(&options(&database.url))
        .await
        .unwrap();
    let other: Arc<dyn Store> = Arc::new(other);
    let w = world_bob_decides(other.clone()).await;
    let digest = [7u8; 32];
    other
        .create_token(api_token(digest, &w.alice))
        .await
        .unwrap();
    let before = settled_identity_version(&watcher).await;
    assert!(watcher.token_actor(digest).await.unwrap().is_some());

    // Ticket writes change nothing a lookup reads, and notify nothing; nor do statements that
    // change no row (migration 0014: the triggers were per statement before it), a revocation
    // of a token nobody holds or the deletion of a user who does not exist.
    let generation = || async {
        first_column::<i64>(&database.url, "SELECT value FROM directory_generation").await
    };
    let generation_before = generation().await;
    w.open(&w.alice, "general", "unrelated", t0()).await;
    let _ = other.delete_token([9u8; 32]).await;
    let missing = ticketd_core::UserId(uuid::Uuid::from_u128(0x5eed));
    let _ = other.delete_user(missing).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(watcher.local_identity_version(), before);
    assert_eq!(generation().await, generation_before);

    other.delete_token(digest).await.unwrap();
    let after = eventually(
        || watcher.local_identity_version(),
        |version| version.is_some() && *version != before,
        "a revocation moves the version",
    )
    .await;
    assert!(after > before);
    assert!(watcher.token_actor(digest).await.unwrap().is_none());

    // A directory change (here a user's) notifies through the directory generation.
    let mut alice = other.get_user(w.alice.id()).await.unwrap().unwrap();
    alice.name = "Alice Renamed".into();
    other.update_user(alice).await.unwrap();
    eventually(
        || watcher.local_identity_version(),
        |version| version.is_some() && *version > after,
        "a directory change moves the version",
    )
    .await;
}

/// While its listening connection is lost the version is unknown (nothing is kept, so nothing
/// missed meanwhile can be served), and it comes back past every version seen before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listener_keeps_nothing_until_it_listens_again() {
    let Some((database, store)) = seeded_store("").await else {
        return;
    };
    let before = eventually(
        || store.local_identity_version(),
        Option::is_some,
        "the listener listens",
    )
    .await;
    let terminated: Vec<bool> = first_column(
        &database.url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'ticketd identity'",
    )
    .await;
    assert_eq!(terminated, [true]);
    eventually(
        || store.local_identity_version(),
        Option::is_none,
        "a lost connection makes the version unknown",
    )
    .await;
    let again = eventually(
        || store.local_identity_version(),
        Option::is_some,
        "the listener listens again",
    )
    .await;
    assert!(again > before);
}

/// A process's own revocation moves its identity version before the write returns, without
/// waiting for the notification the commit sends the other processes (`identity_change`).
#[tokio::test]
async fn a_process_sees_its_own_revocation_at_once() {
    use ticketd_store_tests::fixture::World;
    let Some((_database, store)) = seeded_store("").await else {
        return;
    };
    let store = Arc::new(store);
    let w = World::new(store.clone()).await;
    for round in 0..20u8 {
        let digest = [round; 32];
        store
            .create_token(api_token(digest, &w.alice))
            .await
            .unwrap();
        let before = settled_identity_version(&store).await;
        store.delete_token(digest).await.unwrap();
        let after = store.local_identity_version();
        assert!(after > before, "round {round}: {before:?} then {after:?}");
    }
}

/// A database just loaded for the bench is settled before it is measured: a checkpoint writes
/// the load's pages out (and `VACUUM (ANALYZE)` runs first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settling_a_loaded_database_checkpoints_it() {
    let Some(admin) = admin_url() else { return };
    let database = TestDatabase::create(admin).await;
    // The migrations write the load to settle.
    let _store = PostgresStore::connect(&options(&database.url))
        .await
        .unwrap();
    let (client, connection) = tokio_postgres::connect(&database.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let last_checkpoint = async || -> String {
        client
            .query_one(
                "SELECT checkpoint_lsn::text FROM pg_control_checkpoint()",
                &[],
            )
            .await
            .unwrap()
            .get(0)
    };
    let before = last_checkpoint().await;
    ticketd_store_postgres::settle_after_load(&database.url)
        .await
        .unwrap();
    assert_ne!(
        last_checkpoint().await,
        before,
        "no checkpoint after the load"
    );
}

/// A role that may not checkpoint (neither superuser nor `pg_checkpoint`) still settles a load:
/// the checkpoint is skipped with a warning instead of failing the bench.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settling_as_a_role_that_may_not_checkpoint_skips_the_checkpoint() {
    let Some(admin) = admin_url() else { return };
    let database = TestDatabase::create(admin.clone()).await;
    let _store = PostgresStore::connect(&options(&database.url))
        .await
        .unwrap();
    let role = format!("ticketd_plain_{}", uuid::Uuid::new_v4().simple());
    let client = admin_client(&admin).await;
    client
        .batch_execute(&format!("CREATE ROLE \"{role}\" LOGIN PASSWORD 'plain'"))
        .await
        .unwrap();
    let config: tokio_postgres::Config = database.url.parse().unwrap();
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        tokio_postgres::config::Host::Unix(dir) => dir.display().to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let url = format!(
        "host={host} port={port} user={role} password=plain dbname={}",
        database.name
    );
    let settled = ticketd_store_postgres::settle_after_load(&url).await;
    client
        .batch_execute(&format!("DROP ROLE \"{role}\""))
        .await
        .unwrap();
    settled.unwrap();
}

/// A ticket opened on `store`, whose row another session on `url` (returned, inside its
/// transaction) holds, and a rename of it that waits for that session.
async fn a_held_ticket_and_its_rename(
    store: &Arc<dyn Store>,
    url: &str,
) -> (
    tokio_postgres::Client,
    ticketd_core::ticket::Ticket,
    ticketd_core::ticket::TicketWrite,
) {
    use ticketd_store_tests::fixture::t0;
    let w = world_bob_decides(store.clone()).await;
    let ticket = w.open(&w.alice, "general", "held", t0()).await;
    let holder = admin_client(url).await;
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM tickets WHERE id = '{}' FOR UPDATE",
            ticket.id.0
        ))
        .await
        .unwrap();
    let mut renamed = ticket.clone();
    renamed.title = "renamed".into();
    renamed.version += 1;
    let rename = ticketd_core::ticket::TicketWrite::new(renamed, Some(ticket.version));
    (holder, ticket, rename)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_behind_a_stalled_session_s_lock_fails_and_commits_nothing() {
    // Another process stalled inside its transaction (a lost network, a paused VM) holds the
    // ticket's row: the write waits for it at most `lock_timeout`, then fails, and commits
    // nothing once the lock is gone (it waited for ever and committed minutes after its 503).
    let Some((database, store)) = seeded_store("").await else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(store);
    let (stalled, ticket, rename) = a_held_ticket_and_its_rename(&store, &database.url).await;
    let started = Instant::now();
    let write = store.write_ticket(rename);
    let outcome = tokio::time::timeout(Duration::from_secs(20), write)
        .await
        .expect("the write gave up waiting for the stalled session's lock");
    assert!(
        matches!(outcome, Err(StoreError::Unavailable(_))),
        "{outcome:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(4));
    stalled.batch_execute("ROLLBACK").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stored = store.get_ticket(ticket.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.title.as_str(), stored.version),
        ("held", ticket.version)
    );
}

/// Returns once a session of the store (`application_name` "ticketd") waits on a lock, which
/// `task`'s write is expected to do within `limit`; fails with `what` if the task ends first.
async fn until_a_write_waits_on_a_lock<T>(
    watcher: &tokio_postgres::Client,
    task: &tokio::task::JoinHandle<T>,
    limit: Duration,
    what: &str,
) {
    let started = Instant::now();
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'ticketd' AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            return;
        }
        assert!(!task.is_finished() && started.elapsed() < limit, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A final approval's grant write waits for a removal of its applicant that deleted their
/// role first, and is refused once it commits; and for a role change (the roles deleted and
/// others inserted), after which it is written: the statement that waited cannot see the new
/// role, and its check reads them once more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_s_write_waits_for_a_removal_or_role_change_of_its_members() {
    use ticketd_core::DomainError;
    use ticketd_core::engine::TicketCommand;
    use ticketd_core::flow::LevelMode;
    use ticketd_core::identity::{DEFAULT_ORG, ROLE_ORG_AUDITOR};
    use ticketd_core::ticket::KIND_APPLY_ASSET;
    use ticketd_store_tests::fixture::{World, at, grants_of, t0};
    let Some((database, store)) = seeded_store("").await else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(store);
    let w = Arc::new(World::new(store.clone()).await);
    w.flow(KIND_APPLY_ASSET, vec![(vec![&w.bob], LevelMode::Any)])
        .await;
    let held_open = admin_client(&database.url).await;
    let watcher = admin_client(&database.url).await;
    // The change's next statement, once the write waits: a user's deletion clears their
    // tickets' applicant after deleting their roles, which deadlocked with a write that had
    // locked the ticket's row first.
    for (change, then, approved) in [
        (
            "DELETE FROM org_members WHERE user_id = '{user}'",
            "",
            false,
        ),
        (
            "DELETE FROM org_members WHERE user_id = '{user}'",
            "UPDATE tickets SET applicant_display = applicant_display WHERE id = '{ticket}'",
            false,
        ),
        (
            "DELETE FROM org_members WHERE user_id = '{user}'; \
             INSERT INTO org_members (org_id, user_id, role_id) \
             VALUES ('{org}', '{user}', '{role}')",
            "",
            true,
        ),
    ] {
        let applicant = w
            .new_member(&format!("held{}", change.len() + then.len()))
            .await;
        let ticket = w.open(&applicant, KIND_APPLY_ASSET, "held", t0()).await;
        let fill = |sql: &str| {
            sql.replace("{user}", &applicant.id().to_string())
                .replace("{org}", &DEFAULT_ORG.to_string())
                .replace("{role}", &ROLE_ORG_AUDITOR.0.to_string())
                .replace("{ticket}", &ticket.id.to_string())
        };
        let sql = fill(change);
        held_open
            .batch_execute(&format!("BEGIN; {sql}"))
            .await
            .unwrap();
        let approver = Arc::clone(&w);
        let approval = tokio::spawn(async move {
            let approve = TicketCommand::Approve {
                reason: String::new(),
                payload: None,
                changes: None,
            };
            approver
                .engine
                .act(&approver.bob, ticket.id, approve, at(1))
                .await
        });
        // The grant's write waits for a lock the change holds.
        until_a_write_waits_on_a_lock(
            &watcher,
            &approval,
            Duration::from_secs(10),
            "the grant's write waits for the change",
        )
        .await;
        if !then.is_empty() {
            let next = tokio::time::timeout(
                Duration::from_millis(800),
                held_open.batch_execute(&fill(then)),
            )
            .await
            .expect(
                "the change's next statement waits for nothing the write holds (a deadlock \
                     is found only after PostgreSQL's deadlock_timeout, 1 s)",
            );
            next.unwrap();
        }
        held_open.batch_execute("COMMIT").await.unwrap();
        let outcome = approval.await.unwrap();
        let grants = grants_of(&store, ticket.id).await;
        if approved {
            assert!(outcome.is_ok(), "{outcome:?}");
            assert_eq!(grants[0].users, [applicant.id()]);
        } else {
            assert!(
                matches!(&outcome, Err(DomainError::Validation(errors)) if errors[0].field == "applicant"),
                "{outcome:?}"
            );
            assert!(grants.is_empty(), "{grants:?}");
        }
    }
}

/// A ZStack ticket opened in the moment its approver is removed: resolved before the removal,
/// committed after the removal's own look for the tickets it stranded. The opening looks again
/// once written and rejects it as that look would have (it stayed pending, and nobody could
/// decide it). The opening's commit is held here behind the serial counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zstack_ticket_opened_as_its_approver_is_removed_is_rejected() {
    use ticketd_core::engine::FlowInput;
    use ticketd_core::flow::{Flow, Level, LevelMode};
    use ticketd_core::identity::DEFAULT_ORG;
    use ticketd_core::selector::Selector;
    use ticketd_core::ticket::{HistoryAction, TicketState};
    use ticketd_store_tests::fixture::{World, new_ticket, t0};
    let Some((database, store)) = seeded_store("").await else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(store);
    let w = Arc::new(World::new(store.clone()).await);
    let mut attributes = serde_json::json!({"dialect": "zstack"});
    attributes[Flow::REJECT_STRANDED] = "approver removed, reject this ticket".into();
    w.engine
        .create_flow(
            &w.admin,
            FlowInput {
                org_id: DEFAULT_ORG,
                name: "chain".into(),
                description: String::new(),
                kinds: vec!["general".into()],
                is_default: false,
                enabled: true,
                levels: vec![Level {
                    selector: Selector::Ids {
                        ids: vec![w.bob.id()],
                    },
                    mode: LevelMode::Any,
                    name: String::new(),
                    attributes: serde_json::Value::Null,
                }],
                cc_users: Vec::new(),
                attributes,
            },
            t0(),
        )
        .await
        .unwrap();
    // Only the opening waits: the removal writes no ticket (a ticket write queued behind the
    // held opening would wait for it).
    let held = admin_client(&database.url).await;
    let watcher = admin_client(&database.url).await;
    held.batch_execute("BEGIN; LOCK TABLE serial_counters")
        .await
        .unwrap();
    let opener = Arc::clone(&w);
    let opening = tokio::spawn(async move {
        opener
            .engine
            .open_ticket(&opener.alice, new_ticket("general", "held"), t0())
            .await
    });
    until_a_write_waits_on_a_lock(
        &watcher,
        &opening,
        Duration::from_secs(4),
        "the opening's write waits for the counter",
    )
    .await;
    // The removal and its look for stranded tickets, which finds none.
    w.engine
        .remove_member(&w.admin, DEFAULT_ORG, w.bob.id(), t0())
        .await
        .unwrap();
    held.batch_execute("COMMIT").await.unwrap();
    let opened = opening.await.unwrap().unwrap();
    assert_eq!(opened.state, TicketState::Rejected);
    assert_eq!(store.get_ticket(opened.id).await.unwrap().unwrap(), opened);
    let history = store.ticket_history(opened.id).await.unwrap();
    let actions: Vec<(HistoryAction, &str)> = history
        .iter()
        .map(|h| (h.action, h.reason.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            (HistoryAction::Submit, ""),
            (
                HistoryAction::Reject,
                "approver removed, reject this ticket"
            )
        ]
    );
}

/// A statement that runs past the store's `statement_timeout` (a server's request timeout) is
/// cancelled by PostgreSQL and answered as the store unavailable, sooner than `lock_timeout`
/// would end a wait: a request answered 503 left its statement running on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_the_limit_is_cancelled_and_unavailable() {
    let Some(admin) = admin_url() else {
        return;
    };
    let database = TestDatabase::create(admin).await;
    let limited = PostgresOptions {
        statement_timeout: Some(Duration::from_millis(1_500)),
        ..options(&database.url)
    };
    let (store, _) = PostgresStore::connect(&limited).await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let (holder, _, rename) = a_held_ticket_and_its_rename(&store, &database.url).await;
    let started = Instant::now();
    let outcome = store.write_ticket(rename).await;
    let waited = started.elapsed();
    assert!(
        matches!(outcome, Err(StoreError::Unavailable(_))),
        "{outcome:?}"
    );
    assert!(
        waited >= Duration::from_millis(1_400) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    holder.batch_execute("ROLLBACK").await.unwrap();
}

/// Forward the next `COMMIT`, then cut the client off: it takes effect, its answer is lost.
const CUT_AFTER_COMMIT: u8 = 1;
/// Cut the client off instead of forwarding the next `COMMIT`: nothing is committed.
const CUT_BEFORE_COMMIT: u8 = 2;
/// Hold the next `COMMIT` and keep the connection open, answering nothing: a stalled peer.
const HOLD_COMMIT: u8 = 3;

/// A relay to the PostgreSQL server of `url` that, while `armed` holds [`CUT_AFTER_COMMIT`] or
/// [`CUT_BEFORE_COMMIT`], closes the client's side at the next client message holding
/// `COMMIT`, after or before forwarding it, or with [`HOLD_COMMIT`] forwards nothing more on
/// that connection until the client closes it. Returns the relay's port.
fn commit_cutting_relay(url: &str, armed: Arc<std::sync::atomic::AtomicU8>) -> u16 {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::atomic::Ordering;
    let config: tokio_postgres::Config = url.parse().unwrap();
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        other => panic!("the relay needs a TCP host, not {other:?}"),
    };
    let server = format!(
        "{host}:{}",
        config.get_ports().first().copied().unwrap_or(5432)
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let Ok(mut upstream) = TcpStream::connect(&server) else {
                return;
            };
            let (mut client_out, mut upstream_in) =
                (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            // Held, the connection forwards nothing either way, and never closes: a black hole.
            let held = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let answers_held = Arc::clone(&held);
            std::thread::spawn(move || {
                let mut buffer = [0u8; 65_536];
                loop {
                    let read = upstream_in.read(&mut buffer).unwrap_or(0);
                    if answers_held.load(Ordering::SeqCst) {
                        if read == 0 {
                            return;
                        }
                        continue;
                    }
                    if read == 0 || client_out.write_all(&buffer[..read]).is_err() {
                        let _ = client_out.shutdown(Shutdown::Both);
                        return;
                    }
                }
            });
            let armed = Arc::clone(&armed);
            std::thread::spawn(move || {
                let mut buffer = [0u8; 65_536];
                loop {
                    let Ok(read) = client.read(&mut buffer) else {
                        return;
                    };
                    let chunk = &buffer[..read];
                    let commit = chunk.windows(6).any(|w| w == b"COMMIT");
                    let cut = if commit {
                        armed.swap(0, Ordering::SeqCst)
                    } else {
                        0
                    };
                    if cut == HOLD_COMMIT {
                        held.store(true, Ordering::SeqCst);
                        while client.read(&mut buffer).is_ok_and(|n| n > 0) {}
                        let _ = upstream.shutdown(Shutdown::Both);
                        return;
                    }
                    if read == 0
                        || cut == CUT_BEFORE_COMMIT
                        || upstream.write_all(chunk).is_err()
                        || cut == CUT_AFTER_COMMIT
                    {
                        let _ = client.shutdown(Shutdown::Both);
                        let _ = upstream.shutdown(Shutdown::Write);
                        return;
                    }
                }
            });
        }
    });
    port
}

/// A store reaching its database through [`commit_cutting_relay`], with a world and one ticket
/// (`before`) opened in it.
struct Relayed {
    _database: TestDatabase,
    armed: Arc<std::sync::atomic::AtomicU8>,
    store: Arc<dyn Store>,
    ticket: ticketd_core::ticket::Ticket,
    history: Vec<ticketd_core::ticket::HistoryEntry>,
}

impl Relayed {
    async fn open() -> Option<Self> {
        use ticketd_store_tests::fixture::t0;
        let database = TestDatabase::create(admin_url()?).await;
        let armed = Arc::new(std::sync::atomic::AtomicU8::new(0));
        let port = commit_cutting_relay(&database.url, Arc::clone(&armed));
        let config: tokio_postgres::Config = database.url.parse().unwrap();
        let user = config.get_user().unwrap_or("postgres");
        let relayed = format!("postgres://{user}@127.0.0.1:{port}/{}", database.name);
        let (store, _) = PostgresStore::connect(&options(&relayed)).await.unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        let w = world_bob_decides(store.clone()).await;
        let ticket = w.open(&w.alice, "general", "before", t0()).await;
        let history = store.ticket_history(ticket.id).await.unwrap();
        Some(Self {
            _database: database,
            armed,
            store,
            ticket,
            history,
        })
    }

    /// `ticket` renamed `title`, with a history entry of its own (the mark a lost commit is
    /// read back by).
    fn rename(
        &self,
        ticket: &ticketd_core::ticket::Ticket,
        title: &str,
    ) -> ticketd_core::ticket::TicketWrite {
        let mut renamed = ticket.clone();
        renamed.title = title.into();
        renamed.version += 1;
        let mut write = ticketd_core::ticket::TicketWrite::new(renamed, Some(ticket.version));
        write.history = vec![ticketd_core::ticket::HistoryEntry {
            id: uuid::Uuid::new_v4(),
            ..self.history[0].clone()
        }];
        write
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_answer_is_lost_is_read_back_and_answered_as_done() {
    use std::sync::atomic::Ordering;
    // The connection fails after COMMIT went out: the write took effect, and its caller is told
    // so (it was told "unavailable, retry", and a retried opening made a second ticket). Failing
    // before, nothing took effect, and the caller is told to retry.
    let Some(relayed) = Relayed::open().await else {
        return;
    };
    let (armed, store, ticket) = (&relayed.armed, &relayed.store, &relayed.ticket);
    let rename = |ticket: &ticketd_core::ticket::Ticket, title: &str| relayed.rename(ticket, title);
    armed.store(CUT_BEFORE_COMMIT, Ordering::SeqCst);
    let answered = store.write_ticket(rename(ticket, "lost")).await;
    assert_eq!(armed.load(Ordering::SeqCst), 0, "the relay cut no commit");
    assert!(
        matches!(answered, Err(StoreError::Unavailable(_))),
        "{answered:?}"
    );
    let stored = store.get_ticket(ticket.id).await.unwrap().unwrap();
    assert_eq!(stored.title, "before");
    armed.store(CUT_AFTER_COMMIT, Ordering::SeqCst);
    let answered = store.write_ticket(rename(ticket, "after")).await;
    assert_eq!(armed.load(Ordering::SeqCst), 0, "the relay cut no commit");
    assert_eq!(answered.map(|t| t.title).ok().as_deref(), Some("after"));
    let stored = store.get_ticket(ticket.id).await.unwrap().unwrap();
    assert_eq!(stored.title, "after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_write_whose_caller_gave_up_is_not_written() {
    use ticketd_core::ticket::TicketWrite;
    use ticketd_store_tests::fixture::t0;
    // A group waits for a row another session holds; a write queued behind it whose caller
    // stopped waiting (a request timed out and answered 503) was committed with the next group.
    let Some((database, store)) = seeded_store("").await else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(store);
    let w = world_bob_decides(store.clone()).await;
    let held = w.open(&w.alice, "general", "held", t0()).await;
    let queued = w.open(&w.alice, "general", "queued", t0()).await;
    let rename = |ticket: &ticketd_core::ticket::Ticket| {
        let mut renamed = ticket.clone();
        renamed.title = format!("{} renamed", ticket.title);
        renamed.version += 1;
        TicketWrite::new(renamed, Some(ticket.version))
    };
    let stalled = admin_client(&database.url).await;
    stalled
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM tickets WHERE id = '{}' FOR UPDATE",
            held.id.0
        ))
        .await
        .unwrap();
    let waiting = tokio::spawn({
        let store = store.clone();
        let write = rename(&held);
        async move { store.write_ticket(write).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        store.write_ticket(rename(&queued)),
    )
    .await;
    assert!(gave_up.is_err(), "the queued write was not held up");
    stalled.batch_execute("ROLLBACK").await.unwrap();
    let first = waiting.await.unwrap();
    assert_eq!(first.map(|t| t.title).ok().as_deref(), Some("held renamed"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stored = store.get_ticket(queued.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.title.as_str(), stored.version),
        ("queued", queued.version)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_a_connection_that_stopped_answering_gives_up_and_the_next_is_made() {
    use std::sync::atomic::Ordering;
    // A peer that keeps the connection open but answers nothing (a stalled relay, a frozen
    // server): the write held every later write of the process for as long as it stayed so.
    let Some(relayed) = Relayed::open().await else {
        return;
    };
    let (armed, store, ticket) = (&relayed.armed, &relayed.store, &relayed.ticket);
    let rename = |ticket: &ticketd_core::ticket::Ticket, title: &str| relayed.rename(ticket, title);
    armed.store(HOLD_COMMIT, Ordering::SeqCst);
    let held = tokio::time::timeout(
        Duration::from_secs(40),
        store.write_ticket(rename(ticket, "held")),
    )
    .await
    .expect("the write waited on the stalled connection for ever");
    assert_eq!(armed.load(Ordering::SeqCst), 0, "the relay held no commit");
    assert!(matches!(held, Err(StoreError::Unavailable(_))), "{held:?}");
    let stored = store.get_ticket(ticket.id).await.unwrap().unwrap();
    assert_eq!(stored.title, "before");
    let next = store.write_ticket(rename(&stored, "after")).await;
    assert_eq!(next.map(|t| t.title).ok().as_deref(), Some("after"));
}

/// A ticket write whose caller gave up while another session's lock held it (its request was
/// answered 503 "try again" at the timeout) is rolled back, not committed once the lock goes:
/// alone, in a group none of whose callers waits any more, and in a group whose other callers
/// still wait (written again without it). A retry then made it twice.
#[tokio::test]
async fn a_write_whose_caller_gave_up_behind_a_lock_is_not_committed() {
    use ticketd_store_tests::fixture::t0;
    let Some((database, store)) = seeded_store("").await else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(store);
    let w = world_bob_decides(store.clone()).await;
    let opened = w.open(&w.alice, "general", "first", t0()).await;
    let opening = |title: &str| {
        let mut ticket = opened.clone();
        ticket.id = ticketd_core::TicketId(uuid::Uuid::now_v7());
        ticket.title = title.into();
        ticketd_core::ticket::TicketWrite {
            serial_day: Some("20261203".into()),
            ..ticketd_core::ticket::TicketWrite::new(ticket, None)
        }
    };
    let holder = admin_client(&database.url).await;
    let mut serials = Vec::new();
    for titles in [vec!["alone"], vec!["one", "two", "three"]] {
        holder
            .batch_execute("BEGIN; LOCK TABLE serial_counters IN ACCESS EXCLUSIVE MODE")
            .await
            .unwrap();
        let writes: Vec<_> = titles.iter().map(|title| opening(title)).collect();
        let ids: Vec<_> = writes.iter().map(|write| write.ticket.id).collect();
        // Polled together on this single-threaded runtime, they queue as one group.
        let gave_up = futures_util::future::join_all(writes.into_iter().map(|write| {
            tokio::time::timeout(Duration::from_millis(400), store.write_ticket(write))
        }))
        .await;
        assert!(gave_up.iter().all(Result::is_err), "{gave_up:?}");
        holder.batch_execute("COMMIT").await.unwrap();
        // Queued behind whatever the writer still had: answered once that is settled.
        let after = store.write_ticket(opening("after")).await.unwrap();
        for id in ids {
            assert_eq!(store.get_ticket(id).await.unwrap(), None, "{titles:?}");
        }
        assert!(store.get_ticket(after.id).await.unwrap().is_some());
        serials.push(after.serial);
    }
    // In a group whose other callers still wait, the write of one who gave up is left out: the
    // group went back and the others were written without it (it was committed with them).
    let holder = Arc::new(holder);
    holder
        .batch_execute("BEGIN; LOCK TABLE serial_counters IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let release = {
        let holder = Arc::clone(&holder);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(800)).await;
            holder.batch_execute("COMMIT").await.unwrap();
        })
    };
    let writes: Vec<_> = ["gives up", "waits", "gives up too"]
        .iter()
        .map(|title| opening(title))
        .collect();
    let ids: Vec<_> = writes.iter().map(|write| write.ticket.id).collect();
    let answers =
        futures_util::future::join_all(writes.into_iter().enumerate().map(|(index, write)| {
            let patience = Duration::from_millis(if index == 1 { 20_000 } else { 400 });
            tokio::time::timeout(patience, store.write_ticket(write))
        }))
        .await;
    release.await.unwrap();
    assert!(answers[0].is_err() && answers[2].is_err(), "{answers:?}");
    let waited = answers[1].as_ref().unwrap().as_ref().unwrap();
    assert_eq!(waited.id, ids[1]);
    assert!(store.get_ticket(ids[1]).await.unwrap().is_some());
    for id in [ids[0], ids[2]] {
        assert_eq!(store.get_ticket(id).await.unwrap(), None);
    }
    serials.push(waited.serial.clone());
    // Nothing the rolled-back writes counted stays: the serial numbers follow each other.
    let numbers: Vec<u64> = serials
        .iter()
        .map(|serial| serial[serial.len() - 4..].parse().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3], "{serials:?}");
}

/// A database that refuses new connections (`ALLOW_CONNECTIONS false`, its connections ended)
/// makes the store unavailable (503 to clients, as any outage), not a failure (500), until it
/// takes them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_refusing_connections_is_unavailable_until_it_takes_them_again() {
    let Some((database, store)) = seeded_store("").await else {
        return;
    };
    let admin = admin_client(&database.admin_url).await;
    let allow = |allowed: bool| {
        format!(
            "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS {allowed}",
            database.name
        )
    };
    admin.batch_execute(&allow(false)).await.unwrap();
    admin
        .batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
            database.name
        ))
        .await
        .unwrap();
    // Connections already open fail first (closed); then each new one is refused.
    let refused = eventually_async(
        || store.list_orgs(),
        |answer| match answer {
            Err(StoreError::Unavailable(text)) => text.contains("could not connect"),
            Err(_) => true,
            Ok(_) => false,
        },
    )
    .await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(ref text)) if text.contains("could not connect")),
        "{refused:?}"
    );
    admin.batch_execute(&allow(true)).await.unwrap();
    let again = eventually_async(|| store.list_orgs(), Result::is_ok).await;
    assert!(again.is_ok());
}

/// Calls `call` every 10 ms until `done` holds of its answer (10 s at most), and returns the
/// last answer.
async fn eventually_async<T, F, Fut>(mut call: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = call().await;
        if done(&answer) || Instant::now() > deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
