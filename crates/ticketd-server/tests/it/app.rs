//! `spawn_app`: a server on 127.0.0.1:0 over a fresh SQLite file, with an admin token.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use ticketd_core::Engine;
use ticketd_server::config::{Config, Overrides};
use tokio::sync::oneshot;

/// The token of the README quickstart (`TICKETD_ADMIN_TOKEN=t`).
pub(crate) const ADMIN_TOKEN: &str = "t";

pub(crate) struct TestApp {
    pub(crate) addr: SocketAddr,
    pub(crate) engine: Engine,
    pub(crate) client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
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
    let url = format!("sqlite://{}", dir.path().join("ticketd.db").display());
    let (config, _) = Config::load(
        None,
        &env,
        &Overrides {
            listen: None,
            database_url: Some(url),
        },
    )
    .unwrap();
    let (store, _) = ticketd_server::open_store(&config).unwrap();
    let engine = ticketd_server::engine(&config, store).unwrap();
    ticketd_server::bootstrap(&config, &engine).await.unwrap();
    let state = ticketd_server::app_state(&config, engine.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(ticketd_server::serve_with_listener(
        listener,
        ticketd_server::router(state),
        async move {
            let _ = rx.await;
        },
    ));
    TestApp {
        addr,
        engine,
        client: reqwest::Client::new(),
        shutdown: Some(tx),
        _dir: dir,
    }
}

pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}
