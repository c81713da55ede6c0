//! Fresh PostgreSQL databases for tests, created on `TICKETD_TEST_POSTGRES_URL` and dropped after.

/// A database that exists for the lifetime of this value.
pub(crate) struct TestDatabase {
    /// The URL of the new database.
    pub(crate) url: String,
    admin_url: String,
    name: String,
}

/// The server URL from the environment; a PostgreSQL test run without it is a setup error.
pub(crate) fn admin_url() -> String {
    std::env::var("TICKETD_TEST_POSTGRES_URL")
        .expect("TICKETD_TEST_POSTGRES_URL must name a PostgreSQL server (e.g. postgres://postgres@127.0.0.1:5432/postgres)")
}

/// `url` with its database name replaced by `name`.
pub(crate) fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let (scheme, rest) = base.split_once("://").unwrap();
    let authority = rest.split('/').next().unwrap();
    let mut out = format!("{scheme}://{authority}/{name}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

async fn execute(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap();
    drop(client);
    let _ = task.await;
}

impl TestDatabase {
    /// Creates a database when `TICKETD_TEST_POSTGRES_URL` names a server; otherwise says the
    /// test is skipped (CI always sets it).
    pub(crate) async fn create_if_configured() -> Option<TestDatabase> {
        if std::env::var("TICKETD_TEST_POSTGRES_URL").is_err() {
            eprintln!("skipped: TICKETD_TEST_POSTGRES_URL is not set (needs PostgreSQL)");
            return None;
        }
        Some(Self::create().await)
    }

    /// Creates `ticketd_it_<random>`.
    pub(crate) async fn create() -> TestDatabase {
        let admin_url = admin_url();
        let name = format!("ticketd_it_{}", uuid::Uuid::new_v4().simple());
        execute(&admin_url, &format!("CREATE DATABASE {name}")).await;
        TestDatabase {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs inside the test's runtime, which cannot block on itself: use a thread with
        // its own small runtime.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(execute(&admin_url, &sql));
        })
        .join();
        if dropped.is_err() {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}
