//! Tells this process of every commit that may change a token lookup, so lookups can be kept.
//!
//! Migration 0013 makes every change to a token or to the directory (through its generation
//! row) notify the channel [`CHANNEL`] when it commits. A task of this process listens on a
//! connection of its own and raises [`IdentityVersion`] with each notification; while it is not
//! listening (before its first `LISTEN`, after its connection is lost, until it listens again)
//! the version is unknown, so nothing is kept: a notification missed then cannot leave a lookup
//! in memory. A lookup kept at a version may still be served in the moment between another
//! process's commit and its notification's arrival here (test
//! `a_token_revoked_by_one_process_moves_the_other_s_identity_version`).

use crate::conn::{db_err, redact_password};
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_postgres::{AsyncMessage, NoTls};

/// The channel migration 0013's triggers notify.
pub(crate) const CHANNEL: &str = "ticketd_identity";

/// How long the listener waits before connecting again after losing its connection.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// How often the listener makes a round trip, and how long it waits for the answer, so that a
/// connection dead without a reset (a vanished server, a cut network) is noticed within twice
/// this long; until then, lookups kept here may miss another process's change.
const PROBE_EVERY: Duration = Duration::from_secs(5);

/// A number that moves with every commit that may change a token lookup, known only while the
/// listener listens. One atomic holds both: odd while not listening, even while listening; a
/// notification adds two, losing or regaining the connection one, so a reader can never pair a
/// "listening" with a version from before a loss.
#[derive(Debug)]
pub(crate) struct IdentityVersion(AtomicU64);

impl Default for IdentityVersion {
    fn default() -> Self {
        Self(AtomicU64::new(1))
    }
}

impl IdentityVersion {
    /// The version, or `None` while not listening.
    pub(crate) fn current(&self) -> Option<u64> {
        let version = self.0.load(Ordering::SeqCst);
        version.is_multiple_of(2).then_some(version)
    }

    pub(crate) fn changed(&self) {
        self.0.fetch_add(2, Ordering::SeqCst);
    }

    fn set_listening(&self, listening: bool) {
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |version| {
                (listening != version.is_multiple_of(2)).then_some(version + 1)
            });
    }
}

/// Starts the listener on a connection made from `config` (the pool's settings); it runs until
/// the runtime shuts down, connecting again whenever its connection is lost.
pub(crate) fn spawn_listener(
    mut config: tokio_postgres::Config,
    url: String,
    version: Arc<IdentityVersion>,
) {
    // Told apart from the pool's connections in `pg_stat_activity`.
    let name = format!(
        "{} identity",
        config.get_application_name().unwrap_or("ticketd")
    );
    config.application_name(&name);
    tokio::spawn(async move {
        let mut failures = 0u32;
        loop {
            // `listen` leaves the version unknown whenever it returns.
            let outcome = listen(&config, &version, || {
                if failures > 0 {
                    tracing::info!(
                        url = %redact_password(&url),
                        failed_attempts = failures - 1,
                        "postgres identity listener: listening again; token lookups are kept again"
                    );
                }
                failures = 0;
            })
            .await;
            failures = failures.saturating_add(1);
            if worth_logging(failures) {
                let error = match &outcome {
                    Ok(()) => "the server closed the connection".to_owned(),
                    Err(error) => error.to_string(),
                };
                // The first time is the loss of a listening connection (or the first attempt
                // at start); the count is of the attempts to listen again that failed.
                tracing::warn!(
                    url = %redact_password(&url),
                    %error,
                    failed_attempts = failures - 1,
                    "postgres identity listener: not listening; token lookups are read afresh until it listens again, trying again in a second"
                );
            }
            tokio::time::sleep(RECONNECT_AFTER).await;
        }
    });
}

/// Whether the listener logs the `failures`-th time in a row it finds itself not listening (the
/// loss of its connection is the first, each failed attempt to listen again the next): the
/// first two, then each doubling, then one in sixty (about once a minute where each attempt
/// fails at once, less often where each waits for its connect timeout), so an outage of the
/// database is reported without a line per attempt; the attempts themselves stay a second
/// apart, so lookups are kept again soon after it comes back.
fn worth_logging(failures: u32) -> bool {
    const ONE_IN: u32 = 60;
    if failures < ONE_IN {
        failures.is_power_of_two()
    } else {
        failures.is_multiple_of(ONE_IN)
    }
}

/// Listens until the connection ends, calling `on_listening` once it listens; `Ok` when the
/// server closed the connection.
async fn listen(
    config: &tokio_postgres::Config,
    version: &IdentityVersion,
    on_listening: impl FnOnce(),
) -> Result<(), ticketd_core::StoreError> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(db_err)?;
    let (notified, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    // The connection's messages (notifications among them) arrive only while it is polled.
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    if notified.send(()).is_err() {
                        return Ok(());
                    }
                }
                Ok(_) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    });
    let listened = client.batch_execute(&format!("LISTEN {CHANNEL}")).await;
    let outcome = match listened {
        Err(error) => Err(db_err(error)),
        Ok(()) => {
            version.set_listening(true);
            on_listening();
            let mut probe = tokio::time::interval(PROBE_EVERY);
            probe.tick().await;
            loop {
                tokio::select! {
                    received = notifications.recv() => match received {
                        Some(()) => version.changed(),
                        None => break Ok(()),
                    },
                    _ = probe.tick() => {
                        let answered = tokio::time::timeout(PROBE_EVERY, client.simple_query("SELECT 1")).await;
                        match answered {
                            Ok(Ok(_)) => {}
                            Ok(Err(error)) => break Err(db_err(error)),
                            Err(_) => break Err(ticketd_core::StoreError::Unavailable(
                                "the identity listener's probe went unanswered".into(),
                            )),
                        }
                    }
                }
            }
        }
    };
    // Stop listening before the connection goes, so no later notification counts as heard.
    version.set_listening(false);
    driver.abort();
    drop(client);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_logged_at_its_start_then_ever_more_rarely() {
        let logged: Vec<u32> = (1..=300).filter(|&n| worth_logging(n)).collect();
        assert_eq!(
            logged,
            [1, 2, 4, 8, 16, 32, 60, 120, 180, 240, 300],
            "a five-minute outage"
        );
        assert!(worth_logging(u32::MAX - u32::MAX % 60));
    }

    #[test]
    fn the_version_is_known_only_while_listening_and_never_comes_back() {
        let version = IdentityVersion::default();
        assert_eq!(version.current(), None);
        version.changed();
        assert_eq!(
            version.current(),
            None,
            "a notification does not make it known"
        );
        version.set_listening(true);
        let first = version.current().unwrap();
        version.set_listening(true);
        assert_eq!(
            version.current(),
            Some(first),
            "listening twice changes nothing"
        );
        version.changed();
        let second = version.current().unwrap();
        assert!(second > first);
        version.set_listening(false);
        version.set_listening(false);
        assert_eq!(version.current(), None);
        version.set_listening(true);
        let third = version.current().unwrap();
        assert!(
            third > second,
            "a version from before the loss never comes back"
        );
    }
}
