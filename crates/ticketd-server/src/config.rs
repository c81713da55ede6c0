//! Configuration: built-in defaults, then a TOML file, then `TICKETD_*` variables, then flags.

use anyhow::{Context, bail};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use ticketd_http::json::MAX_JSON_DEPTH;

/// A secret that never appears in `Debug` output or logs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The longest lifetime or clock skew a setting may give: the longest a token may live (100
/// years), which sessions are; a century covers any other use too, and a number of seconds
/// beyond chrono's range (about 292 million years) cannot even be made into a duration.
pub const MAX_DURATION_SECS: i64 = ticketd_core::identity::MAX_TOKEN_LIFETIME_SECS;

/// The most SQLite reader connections a process opens: reads are short and the cores few, and
/// each connection holds file handles and a page cache (a number near `usize::MAX` kept the
/// server opening connections at start until the handles ran out).
pub const MAX_SQLITE_READERS: usize = 256;

/// The range of `sqlite_log_mb`: from SQLite's own default (1,000 pages, about 4 MB) to 1 GiB,
/// past which the writer's last resort (four times the threshold) would let the log reach 4 GiB.
pub const SQLITE_LOG_MB: std::ops::RangeInclusive<u32> = 4..=1024;

/// The resolved configuration.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// `sqlite://file.db` (relative), `sqlite:///abs/file.db`, or `postgres://…`.
    pub database_url: String,
    /// IANA time zone of serial numbers and rendered datetimes.
    pub time_zone: String,
    /// `full` (default: commits survive power loss) or `normal`.
    pub durability: String,
    /// SQLite reader connections.
    pub sqlite_readers: usize,
    /// Size of SQLite's write-ahead log, in MiB, at which it is copied back into the database.
    pub sqlite_log_mb: u32,
    /// PostgreSQL pool size (connections per process).
    pub database_pool_size: usize,
    /// How long a request waits for a pooled PostgreSQL connection before answering 503.
    pub database_acquire_timeout_ms: u64,
    /// Largest request body in bytes.
    pub body_limit_bytes: usize,
    /// Deepest JSON nesting accepted.
    pub json_max_depth: usize,
    /// Largest `limit` of list endpoints.
    pub max_page_size: u32,
    /// Allowed clock skew of signed requests, in seconds.
    pub signature_max_skew_secs: i64,
    /// Lifetime of login sessions, in seconds.
    pub session_ttl_secs: i64,
    /// Requests per minute per authenticated user (0: unlimited).
    pub rate_limit_per_minute: u32,
    /// Password login attempts per minute per account name (0: unlimited).
    pub login_rate_limit_per_minute: u32,
    /// How long a request may take, reading its body included, before it is answered 503.
    pub request_timeout_secs: u64,
    /// How long a connection may take to send a request's headers, or stay idle between
    /// requests, before it is closed.
    pub idle_timeout_secs: u64,
    /// Largest request head (request line and headers) in bytes; larger ones get 431.
    pub header_limit_bytes: usize,
    /// Log filter (tracing `EnvFilter` syntax).
    pub log: String,
    /// Becomes admin's password at start (environment only).
    #[serde(skip)]
    pub admin_password: Option<Secret>,
    /// Becomes an API token of admin's at start (environment only).
    #[serde(skip)]
    pub admin_token: Option<Secret>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://ticketd.db".into(),
            time_zone: "UTC".into(),
            durability: "full".into(),
            sqlite_readers: 4,
            sqlite_log_mb: 512,
            database_pool_size: 16,
            database_acquire_timeout_ms: 3000,
            body_limit_bytes: 4 * 1024 * 1024,
            json_max_depth: 64,
            max_page_size: 1000,
            signature_max_skew_secs: 900,
            session_ttl_secs: 86_400,
            rate_limit_per_minute: 4096,
            login_rate_limit_per_minute: 60,
            request_timeout_secs: 30,
            idle_timeout_secs: 20,
            header_limit_bytes: 64 * 1024,
            log: "info".into(),
            admin_password: None,
            admin_token: None,
        }
    }
}

/// A commented example configuration with every key at its default (`ticketd default-config`).
pub const DEFAULT_CONFIG_TOML: &str = r#"# ticketd configuration.
# Precedence: built-in defaults < this file < TICKETD_* environment variables < command-line flags.
# Every key can be set from the environment as TICKETD_<KEY IN UPPER CASE>, e.g. TICKETD_LISTEN.

# Address and port to listen on.
listen = "127.0.0.1:8080"

# Where tickets are stored: an embedded SQLite file (relative to the working directory with
# sqlite://, absolute with sqlite:///), or postgres://user@host:5432/db.
database_url = "sqlite://ticketd.db"

# IANA time zone for serial numbers (YYYYMMDD + counter) and rendered datetimes.
time_zone = "UTC"

# SQLite durability: "full" (a commit survives power loss) or "normal" (survives a crash).
durability = "full"

# SQLite reader connections (writes go through one group-committing writer), 1 to 256.
sqlite_readers = 4

# Size in MiB (4 to 1024) at which SQLite's write-ahead log (<file>-wal) is copied back into the
# database file. The log file grows past it by what is written during the copy (to about 680 MB
# at 512 under steady decisions) and keeps that size on disk until a clean stop empties it.
# Smaller saves disk; larger copies pages rewritten often fewer times (BENCHMARKS.md: 512
# against 256 gave 15% more decisions a second).
sqlite_log_mb = 512

# PostgreSQL connections per process, and how long a request waits for one (milliseconds, at
# most 100 years).
database_pool_size = 16
database_acquire_timeout_ms = 3000

# Largest request body in bytes (larger bodies get 413) and deepest JSON nesting (1 to 127).
body_limit_bytes = 4194304
json_max_depth = 64

# Largest page size of list endpoints.
max_page_size = 1000

# How far the Date header of a signed request may be from the server clock, in seconds
# (0 to 3155760000, 100 years).
signature_max_skew_secs = 900

# Lifetime of login sessions (Bearer tokens from password login), in seconds (1 to 3155760000,
# 100 years).
session_ttl_secs = 86400

# Requests per minute per authenticated user, and password login attempts per minute per account
# name; over either, the answer is 429 with Retry-After. 0 turns a limit off. Limits are counted
# per process.
rate_limit_per_minute = 4096
login_rate_limit_per_minute = 60

# Seconds a request may take, reading its body included, before it is answered 503 (over
# PostgreSQL also the longest one statement runs); seconds a connection may take to send request
# headers or stay idle between requests before it is closed (each 1 to 3155760000, 100 years).
request_timeout_secs = 30
idle_timeout_secs = 20

# Largest request line plus headers in bytes (larger ones get 431).
header_limit_bytes = 65536

# Log filter, e.g. "info" or "ticketd=debug,tower_http=info".
log = "info"

# Secrets are read from the environment only, never from this file:
#   TICKETD_ADMIN_PASSWORD (or TICKETD_ADMIN_PASSWORD_FILE): becomes admin's password at start.
#   TICKETD_ADMIN_TOKEN (or TICKETD_ADMIN_TOKEN_FILE): becomes an API token of admin's at start;
#     a start with another value revokes the one set before.
"#;

const INTEGER_KEYS: &[&str] = &[
    "sqlite_readers",
    "sqlite_log_mb",
    "database_pool_size",
    "database_acquire_timeout_ms",
    "body_limit_bytes",
    "json_max_depth",
    "max_page_size",
    "signature_max_skew_secs",
    "session_ttl_secs",
    "rate_limit_per_minute",
    "login_rate_limit_per_minute",
    "request_timeout_secs",
    "idle_timeout_secs",
    "header_limit_bytes",
];
const STRING_KEYS: &[&str] = &["listen", "database_url", "time_zone", "durability", "log"];
/// Variables that are not config keys but are known to ticketd or its tests.
const OTHER_VARIABLES: &[&str] = &[
    "CONFIG",
    "ADMIN_PASSWORD",
    "ADMIN_TOKEN",
    "ADMIN_PASSWORD_FILE",
    "ADMIN_TOKEN_FILE",
    "TEST_POSTGRES_URL",
    "TEST_BACKEND",
];

/// Command-line overrides.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--database-url`.
    pub database_url: Option<String>,
}

fn read_secret(env: &BTreeMap<String, String>, key: &str) -> anyhow::Result<Option<Secret>> {
    let file_key = format!("{key}_FILE");
    let secret = match (env.get(key), env.get(&file_key)) {
        (Some(_), Some(_)) => {
            anyhow::bail!("both {key} and {file_key} are set: give the secret one way")
        }
        (Some(value), None) => value.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("could not read {file_key} {path}"))?
            .trim_end_matches(['\n', '\r'])
            .to_owned(),
        (None, None) => return Ok(None),
    };
    // An empty secret would be one anybody can send (an empty password's MD5 logs in).
    if secret.is_empty() {
        anyhow::bail!("{key} is empty: give a value, or unset it");
    }
    // Only a file can hold one (the environment cannot); no API takes one.
    if secret.contains('\0') {
        anyhow::bail!("{file_key} holds a null character: no password or token may");
    }
    Ok(Some(Secret(secret)))
}

impl Config {
    /// Loads the configuration from an optional file, the given environment and flags; returns
    /// it with warnings about unknown `TICKETD_*` variables.
    pub fn load(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
        overrides: &Overrides,
    ) -> anyhow::Result<(Config, Vec<String>)> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("could not read config file {}", path.display()))?;
                text.parse::<toml::Table>()
                    .with_context(|| format!("invalid TOML in {}", path.display()))?
            }
            None => toml::Table::new(),
        };
        let mut warnings = Vec::new();
        for (name, value) in env {
            let Some(key) = name.strip_prefix("TICKETD_") else {
                continue;
            };
            let lower = key.to_ascii_lowercase();
            let upper = lower.to_ascii_uppercase();
            let string = STRING_KEYS.contains(&lower.as_str());
            let integer = INTEGER_KEYS.contains(&lower.as_str());
            let known = string || integer || OTHER_VARIABLES.contains(&upper.as_str());
            // Only the name in capitals: `TICKETD_listen` beside `TICKETD_LISTEN` overrode it,
            // whichever the environment listed last (until 2026-12-07).
            if key != upper || !known {
                let hint = if known {
                    format!(" (keys are written in capitals: TICKETD_{upper})")
                } else {
                    String::new()
                };
                warnings.push(format!(
                    "unknown environment variable {name} is ignored{hint}"
                ));
            } else if string {
                table.insert(lower, toml::Value::String(value.clone()));
            } else if integer {
                let number: i64 = value
                    .trim()
                    .parse()
                    .with_context(|| format!("{name} must be an integer, got {value:?}"))?;
                table.insert(lower, toml::Value::Integer(number));
            }
        }

        if let Some(listen) = &overrides.listen {
            table.insert("listen".into(), toml::Value::String(listen.clone()));
        }
        if let Some(url) = &overrides.database_url {
            table.insert("database_url".into(), toml::Value::String(url.clone()));
        }
        let mut config: Config = table.try_into().context("invalid configuration")?;
        config.admin_password = read_secret(env, "TICKETD_ADMIN_PASSWORD")?;
        config.admin_token = read_secret(env, "TICKETD_ADMIN_TOKEN")?;
        config.validate()?;
        Ok((config, warnings))
    }

    /// The configured time zone.
    pub fn zone(&self) -> anyhow::Result<Tz> {
        self.time_zone.parse::<Tz>().map_err(|e| {
            anyhow::anyhow!(
                "time_zone {:?} is not an IANA time zone: {e}",
                self.time_zone
            )
        })
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.zone()?;
        if !matches!(self.durability.as_str(), "full" | "normal") {
            bail!(
                "durability must be \"full\" or \"normal\", got {:?}",
                self.durability
            );
        }
        if self.body_limit_bytes == 0 || self.max_page_size == 0 {
            bail!("body_limit_bytes and max_page_size must be positive");
        }
        if !(1..=MAX_JSON_DEPTH).contains(&self.json_max_depth) {
            bail!(
                "json_max_depth must be 1 to {MAX_JSON_DEPTH}: the JSON parser refuses deeper \
                 bodies on its own"
            );
        }
        if !(0..=MAX_DURATION_SECS).contains(&self.signature_max_skew_secs)
            || !(1..=MAX_DURATION_SECS).contains(&self.session_ttl_secs)
        {
            bail!(
                "signature_max_skew_secs must be 0 to {MAX_DURATION_SECS} and session_ttl_secs 1 \
                 to {MAX_DURATION_SECS} (100 years)"
            );
        }
        let longest = MAX_DURATION_SECS.unsigned_abs();
        if !(1..=longest).contains(&self.request_timeout_secs)
            || !(1..=longest).contains(&self.idle_timeout_secs)
        {
            bail!("request_timeout_secs and idle_timeout_secs must be 1 to {longest} (100 years)");
        }
        if self.database_acquire_timeout_ms > longest * 1000 {
            bail!(
                "database_acquire_timeout_ms must be at most {} (100 years)",
                longest * 1000
            );
        }
        if !(1..=MAX_SQLITE_READERS).contains(&self.sqlite_readers) {
            bail!(
                "sqlite_readers must be 1 to {MAX_SQLITE_READERS}: each is a connection opened at \
                 start, with a file handle and a page cache of its own"
            );
        }
        if !SQLITE_LOG_MB.contains(&self.sqlite_log_mb) {
            bail!(
                "sqlite_log_mb must be {} to {} (MiB of write-ahead log)",
                SQLITE_LOG_MB.start(),
                SQLITE_LOG_MB.end()
            );
        }
        if self.database_pool_size == 0 {
            bail!("database_pool_size must be at least 1");
        }
        if self.header_limit_bytes < 1024 {
            bail!("header_limit_bytes must be at least 1024");
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log) {
            bail!(
                "log {:?} is not a log filter (e.g. \"info\" or \"ticketd=debug,tower_http=info\"): {e}",
                self.log
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn an_empty_or_doubly_given_admin_secret_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "\n").unwrap();
        let path = file.to_str().unwrap();
        for pairs in [
            vec![("TICKETD_ADMIN_PASSWORD", "")],
            vec![("TICKETD_ADMIN_PASSWORD_FILE", path)],
            vec![("TICKETD_ADMIN_TOKEN", "")],
            vec![
                ("TICKETD_ADMIN_PASSWORD", "x"),
                ("TICKETD_ADMIN_PASSWORD_FILE", path),
            ],
        ] {
            let error = Config::load(None, &env(&pairs), &Overrides::default())
                .err()
                .unwrap_or_else(|| panic!("{pairs:?} accepted"));
            assert!(error.to_string().contains("TICKETD_ADMIN_"), "{error}");
        }
        // A file holding a null character is refused by name (start failed saying only that a
        // password may not hold one).
        std::fs::write(&file, "s3\0cret\n").unwrap();
        let error = Config::load(
            None,
            &env(&[("TICKETD_ADMIN_PASSWORD_FILE", path)]),
            &Overrides::default(),
        )
        .err()
        .unwrap();
        assert!(
            error
                .to_string()
                .contains("TICKETD_ADMIN_PASSWORD_FILE holds a null character"),
            "{error}"
        );
        std::fs::write(&file, "s3cret\n").unwrap();
        let (config, _) = Config::load(
            None,
            &env(&[("TICKETD_ADMIN_PASSWORD_FILE", path)]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(config.admin_password.unwrap().0, "s3cret");
    }

    #[test]
    fn defaults_then_file_then_environment_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:1\"\ntime_zone = \"Asia/Shanghai\"\nmax_page_size = 50\n",
        )
        .unwrap();
        let (config, warnings) = Config::load(
            Some(&file),
            &env(&[
                ("TICKETD_LISTEN", "0.0.0.0:2"),
                ("TICKETD_MAX_PAGE_SIZE", "70"),
                ("TICKETD_BOGUS", "x"),
                // Listed after `TICKETD_LISTEN`, it overrode it.
                ("TICKETD_listen", "0.0.0.0:3"),
                ("TICKETD_bogus", "y"),
            ]),
            &Overrides {
                listen: None,
                database_url: Some("sqlite://other.db".into()),
            },
        )
        .unwrap();
        assert_eq!(config.listen, "0.0.0.0:2");
        assert_eq!(config.time_zone, "Asia/Shanghai");
        assert_eq!(config.max_page_size, 70);
        assert_eq!(config.database_url, "sqlite://other.db");
        assert_eq!(
            warnings,
            vec![
                "unknown environment variable TICKETD_BOGUS is ignored",
                "unknown environment variable TICKETD_bogus is ignored",
                "unknown environment variable TICKETD_listen is ignored (keys are written in \
                 capitals: TICKETD_LISTEN)"
            ]
        );
        let (flagged, _) = Config::load(
            Some(&file),
            &env(&[("TICKETD_LISTEN", "0.0.0.0:2")]),
            &Overrides {
                listen: Some("1.2.3.4:5".into()),
                database_url: None,
            },
        )
        .unwrap();
        assert_eq!(flagged.listen, "1.2.3.4:5");
    }

    #[test]
    fn the_default_config_parses_to_the_defaults() {
        let table: toml::Table = DEFAULT_CONFIG_TOML.parse().unwrap();
        let parsed: Config = table.try_into().unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn bad_values_are_clear_errors_and_secrets_stay_hidden() {
        let bad_zone = Config::load(
            None,
            &env(&[("TICKETD_TIME_ZONE", "Mars/Olympus")]),
            &Overrides::default(),
        );
        assert!(bad_zone.unwrap_err().to_string().contains("IANA"));
        let bad_int = Config::load(
            None,
            &env(&[("TICKETD_MAX_PAGE_SIZE", "lots")]),
            &Overrides::default(),
        );
        assert!(bad_int.unwrap_err().to_string().contains("integer"));
        let too_large = Config::load(
            None,
            &env(&[("TICKETD_SQLITE_LOG_MB", "4294967296")]),
            &Overrides::default(),
        );
        let message = format!("{:#}", too_large.unwrap_err());
        assert!(message.contains("sqlite_log_mb"), "{message}");
        // A filter that does not parse used to fall back to "info" without a word.
        for filter in ["[[[", "ticketd=loud"] {
            let bad_log = Config::load(
                None,
                &env(&[("TICKETD_LOG", filter)]),
                &Overrides::default(),
            );
            let message = bad_log.unwrap_err().to_string();
            assert!(
                message.contains("is not a log filter"),
                "{filter}: {message}"
            );
        }
        let (filtered, _) = Config::load(
            None,
            &env(&[("TICKETD_LOG", "warn,ticketd=debug")]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(filtered.log, "warn,ticketd=debug");
        for (name, value) in [
            ("TICKETD_SESSION_TTL_SECS", "9223372036854775807"),
            ("TICKETD_SESSION_TTL_SECS", "3155760001"),
            ("TICKETD_SESSION_TTL_SECS", "0"),
            ("TICKETD_SIGNATURE_MAX_SKEW_SECS", "9223372036854775807"),
            ("TICKETD_SIGNATURE_MAX_SKEW_SECS", "-1"),
        ] {
            let out_of_range = Config::load(None, &env(&[(name, value)]), &Overrides::default());
            let message = out_of_range.unwrap_err().to_string();
            assert!(message.contains("(100 years)"), "{name}={value}: {message}");
        }
        let (longest, _) = Config::load(
            None,
            &env(&[
                ("TICKETD_SESSION_TTL_SECS", "3155760000"),
                ("TICKETD_SIGNATURE_MAX_SKEW_SECS", "3155760000"),
            ]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(longest.session_ttl_secs, MAX_DURATION_SECS);
        for (name, value, reason) in [
            (
                "TICKETD_IDLE_TIMEOUT_SECS",
                "9223372036854775807",
                "(100 years)",
            ),
            ("TICKETD_REQUEST_TIMEOUT_SECS", "0", "(100 years)"),
            (
                "TICKETD_DATABASE_ACQUIRE_TIMEOUT_MS",
                "3155760000001",
                "(100 years)",
            ),
            ("TICKETD_JSON_MAX_DEPTH", "5000", "1 to 127"),
            ("TICKETD_JSON_MAX_DEPTH", "128", "1 to 127"),
            ("TICKETD_JSON_MAX_DEPTH", "0", "1 to 127"),
            ("TICKETD_SQLITE_READERS", "257", "1 to 256"),
            ("TICKETD_SQLITE_READERS", "0", "1 to 256"),
            ("TICKETD_SQLITE_LOG_MB", "3", "4 to 1024"),
            ("TICKETD_SQLITE_LOG_MB", "1025", "4 to 1024"),
            ("TICKETD_DATABASE_POOL_SIZE", "0", "at least 1"),
        ] {
            let out_of_range = Config::load(None, &env(&[(name, value)]), &Overrides::default());
            let message = out_of_range.unwrap_err().to_string();
            assert!(message.contains(reason), "{name}={value}: {message}");
        }
        let (config, _) = Config::load(
            None,
            &env(&[("TICKETD_ADMIN_TOKEN", "very-secret")]),
            &Overrides::default(),
        )
        .unwrap();
        assert!(!format!("{config:?}").contains("very-secret"));
        assert_eq!(config.admin_token, Some(Secret("very-secret".into())));
    }
}
