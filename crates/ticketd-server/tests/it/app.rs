//! `spawn_app`: a server on 127.0.0.1:0 over a fresh SQLite file, with an admin token.

use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use ticketd_core::Engine;
use ticketd_core::engine::NewUserInput;
use ticketd_core::identity::{SystemRole, TokenKind};
use ticketd_core::{Actor, OrgId, RoleId};
use ticketd_server::config::{Config, Overrides};
use tokio::sync::oneshot;

/// The token of the README quickstart (`TICKETD_ADMIN_TOKEN=t`).
pub(crate) const ADMIN_TOKEN: &str = "t";

pub(crate) struct TestApp {
    pub(crate) addr: SocketAddr,
    pub(crate) engine: Engine,
    pub(crate) client: reqwest::Client,
    /// The same routes the listener serves, for in-process requests.
    pub(crate) router: axum::Router,
    /// The store's URL (a SQLite file or a PostgreSQL database).
    pub(crate) database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
    _database: Option<crate::pg::TestDatabase>,
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends `method path` with `Authorization: Token <token>` and an optional JSON body; returns
    /// the status and the parsed body (`Value::Null` when empty or not JSON).
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call_with(method, path, token, body, &[]).await
    }

    /// Like [`TestApp::call`], with extra headers.
    pub(crate) async fn call_with(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("Authorization", format!("Token {token}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Sends `method path` with `Authorization: Token <token>` and `body` as is under
    /// `content_type`; returns the status and the parsed body (`Value::Null` when not JSON).
    pub(crate) async fn call_raw(
        &self,
        method: &str,
        path: &str,
        token: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = self
            .client
            .request(method, self.url(path))
            .header("Authorization", format!("Token {token}"))
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// The admin actor.
    pub(crate) async fn admin(&self) -> Actor {
        let admin = self
            .engine
            .store()
            .find_user_by_username("admin")
            .await
            .unwrap()
            .unwrap();
        self.engine.actor(admin.id).await.unwrap()
    }

    /// Creates a user with an API token (the token equals the username); `orgs` are
    /// `(org, role)` memberships (empty: member of Default).
    pub(crate) async fn user(
        &self,
        username: &str,
        role: SystemRole,
        orgs: Vec<(OrgId, RoleId)>,
    ) -> Actor {
        let now = ticketd_http::now();
        let user = self
            .engine
            .create_user(
                None,
                NewUserInput {
                    username: username.into(),
                    name: capitalize(username),
                    email: format!("{username}@example.com"),
                    system_role: role,
                    password: Some(format!("{username}-password")),
                    orgs,
                },
                now,
            )
            .await
            .unwrap();
        self.engine
            .install_token(user.id, username, TokenKind::Api, None, now)
            .await
            .unwrap();
        self.engine.actor(user.id).await.unwrap()
    }
}

fn capitalize(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Starts a server with extra `TICKETD_*` settings.
pub(crate) async fn spawn_app_with(settings: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut env: BTreeMap<String, String> = settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    env.insert("TICKETD_ADMIN_TOKEN".into(), ADMIN_TOKEN.into());
    env.insert("TICKETD_ADMIN_PASSWORD".into(), "admin-password".into());
    let (url, database) = test_database_url(dir.path()).await;
    let (config, _) = Config::load(
        None,
        &env,
        &Overrides {
            listen: None,
            database_url: Some(url.clone()),
        },
    )
    .unwrap();
    let (store, _) = ticketd_server::open_serving_store(&config).await.unwrap();
    let engine = ticketd_server::engine(&config, store).unwrap();
    ticketd_server::bootstrap(&config, &engine).await.unwrap();
    let state = ticketd_server::app_state(&config, engine.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let router = ticketd_server::router(state);
    tokio::spawn(ticketd_server::serve_with_listener(
        listener,
        router.clone(),
        ticketd_server::ConnectionSettings::from_config(&config),
        async move {
            let _ = rx.await;
        },
        std::future::pending(),
    ));
    TestApp {
        addr,
        engine,
        client: reqwest::Client::new(),
        router,
        database_url: url,
        shutdown: Some(tx),
        _dir: dir,
        _database: database,
    }
}

pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

impl TestApp {
    /// A digest of every row of each table of the store: equal digests mean nothing was
    /// written in between.
    pub(crate) async fn fingerprint(&self) -> BTreeMap<String, u64> {
        use std::hash::{Hash, Hasher};
        let mut digests = BTreeMap::new();
        if self.database_url.starts_with("postgres") {
            let (client, connection) =
                tokio_postgres::connect(&self.database_url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
            let task = tokio::spawn(connection);
            let tables = client
                .query(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
                    &[],
                )
                .await
                .unwrap();
            for table in tables {
                let name: String = table.get(0);
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                let rows = client
                    .query(&format!("SELECT t::text FROM {name} t ORDER BY 1"), &[])
                    .await
                    .unwrap();
                for row in rows {
                    row.get::<_, String>(0).hash(&mut hasher);
                }
                digests.insert(name, hasher.finish());
            }
            drop(client);
            let _ = task.await;
        } else {
            let path = ticketd_store_sqlite::path_from_url(&self.database_url).unwrap();
            let conn = rusqlite::Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .unwrap();
            let mut tables = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .unwrap();
            let names: Vec<String> = tables
                .query_map([], |row| row.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for name in names {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                let mut rows = conn.prepare(&format!("SELECT * FROM \"{name}\"")).unwrap();
                let columns = rows.column_count();
                let mut all = rows.query([]).unwrap();
                while let Some(row) = all.next().unwrap() {
                    for i in 0..columns {
                        format!("{:?}", row.get_ref(i).unwrap()).hash(&mut hasher);
                    }
                }
                digests.insert(name, hasher.finish());
            }
        }
        digests
    }
}

/// The database of a test app: a SQLite file in `dir`, or, with `TICKETD_TEST_BACKEND=postgres`,
/// a fresh PostgreSQL database (dropped with the app) on `TICKETD_TEST_POSTGRES_URL`.
async fn test_database_url(dir: &std::path::Path) -> (String, Option<crate::pg::TestDatabase>) {
    if std::env::var("TICKETD_TEST_BACKEND").as_deref() == Ok("postgres") {
        let database = crate::pg::TestDatabase::create().await;
        return (database.url.clone(), Some(database));
    }
    (
        format!("sqlite://{}", dir.join("ticketd.db").display()),
        None,
    )
}
