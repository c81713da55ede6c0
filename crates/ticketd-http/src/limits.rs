//! Request rate limits: a per-key GCRA limiter (per user after authentication, per account name for logins).
//!
//! The limiter allows `per_minute` requests in any one-minute window, all at once if they come in
//! a burst, then one every `60 s / per_minute` (GCRA: one stored instant per key, no timers).
//! Limits are per process: behind a load balancer with N processes a user gets up to N times the
//! configured rate, which still bounds what one credential can cost the service.

use axum::extract::Request;
use axum::response::Response;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::hash::{BuildHasher, Hash, RandomState};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use ticketd_core::ids::UserId;

/// Shards of the key map: requests of different users rarely contend on one lock.
const SHARDS: usize = 16;
/// Above this many keys in a shard, keys whose allowance is full again are dropped, at most once
/// a second (so a shard full of active keys does not pay for a sweep on every request).
const PRUNE_ABOVE: usize = 4096;

/// A refused request: retry after this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttled {
    /// Whole seconds until a request would be accepted (at least 1), for `Retry-After`.
    pub retry_after_secs: u64,
}

/// A GCRA limiter over keys of type `K`.
#[derive(Debug)]
pub struct RateLimiter<K> {
    /// Time one request "costs" (60 s / rate).
    interval: Duration,
    /// How far ahead of now the allowance may be spent (a minute's worth minus one interval).
    tolerance: Duration,
    hasher: RandomState,
    shards: Vec<Mutex<Shard<K>>>,
}

#[derive(Debug)]
struct Shard<K> {
    /// Per key: the theoretical arrival time of the next request.
    next_allowed: HashMap<K, Instant>,
    /// No sweep before this instant.
    next_prune: Instant,
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// A limiter allowing `per_minute` requests per key per minute; `None` when 0 (no limit).
    pub fn per_minute(per_minute: u32) -> Option<Self> {
        if per_minute == 0 {
            return None;
        }
        let interval = Duration::from_secs(60) / per_minute;
        Some(Self {
            interval,
            tolerance: Duration::from_secs(60).saturating_sub(interval),
            hasher: RandomState::new(),
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        next_allowed: HashMap::new(),
                        next_prune: Instant::now(),
                    })
                })
                .collect(),
        })
    }

    /// Counts one request of `key` at `now`; refuses it if the key's allowance is spent.
    pub fn check(&self, key: K, now: Instant) -> Result<(), Throttled> {
        let shard = self.hasher.hash_one(&key) as usize % SHARDS;
        // A poisoned shard only means another request panicked mid-update; the map is still a
        // valid set of instants, so keep limiting with it.
        let mut shard = self.shards[shard]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if shard.next_allowed.len() > PRUNE_ABOVE && shard.next_prune <= now {
            shard.next_allowed.retain(|_, tat| *tat > now);
            shard.next_prune = now + Duration::from_secs(1);
        }
        let map = &mut shard.next_allowed;
        let tat = map.get(&key).copied().filter(|t| *t > now).unwrap_or(now);
        let allowed_at = tat.checked_sub(self.tolerance).unwrap_or(now);
        if allowed_at > now {
            let wait = allowed_at - now;
            return Err(Throttled {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            });
        }
        map.insert(key, tat + self.interval);
        Ok(())
    }
}

/// The limiters of one server process.
#[derive(Debug, Default)]
pub struct Limits {
    /// Requests per authenticated user.
    pub per_user: Option<RateLimiter<UserId>>,
    /// Login attempts per account name (lowercase): bounds password guessing against one
    /// account and the password-hashing work one name can cause. Kept by the name's SHA-256,
    /// whatever its length: kept as sent, each name of a login body up to the body limit
    /// stayed in memory (300 logins naming 2 MiB each took 750 MB, until 2026-12-07).
    pub logins: Option<RateLimiter<[u8; 32]>>,
}

impl Limits {
    /// Limits of `per_user` requests per user and `logins` login attempts per account name per
    /// minute (0: unlimited).
    pub fn new(per_user: u32, logins: u32) -> Self {
        Self {
            per_user: RateLimiter::per_minute(per_user),
            logins: RateLimiter::per_minute(logins),
        }
    }

    /// Counts a request of an authenticated user.
    pub fn admit_user(&self, user: UserId) -> Result<(), Throttled> {
        match &self.per_user {
            Some(limiter) => limiter.check(user, Instant::now()),
            None => Ok(()),
        }
    }

    /// Counts a login attempt for the account `name`.
    pub fn admit_login(&self, name: &str) -> Result<(), Throttled> {
        match &self.logins {
            Some(limiter) => limiter.check(login_key(name), Instant::now()),
            None => Ok(()),
        }
    }
}

/// The key a login attempt for `name` is counted under: the SHA-256 of the name without its
/// surrounding whitespace, lowercased (as the dialects look accounts up).
fn login_key(name: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(name.trim().to_lowercase().as_bytes()).into()
}

/// A JSON error answer with `Retry-After: seconds`, as every dialect sends with 429 and 503.
pub fn json_with_retry_after(
    status: axum::http::StatusCode,
    body: serde_json::Value,
    seconds: u64,
) -> Response {
    use axum::response::IntoResponse;
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(seconds),
    );
    response
}

/// A layer that answers `render()` to a request still unanswered after `limit` (reading its
/// body included), so a slow client or a stuck store cannot hold a worker indefinitely. Each
/// dialect passes its own renderer, so the answer is in its error format.
pub fn deadline_layer(limit: Duration, render: fn() -> Response) -> DeadlineLayer {
    DeadlineLayer { limit, render }
}

/// See [`deadline_layer`].
#[derive(Clone, Copy, Debug)]
pub struct DeadlineLayer {
    limit: Duration,
    render: fn() -> Response,
}

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            limit: self.limit,
            render: self.render,
        }
    }
}

/// The service of [`DeadlineLayer`].
#[derive(Clone, Debug)]
pub struct Deadline<S> {
    inner: S,
    limit: Duration,
    render: fn() -> Response,
}

impl<S> tower::Service<Request> for Deadline<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let answer = self.inner.call(request);
        let (limit, render) = (self.limit, self.render);
        Box::pin(async move {
            match tokio::time::timeout(limit, answer).await {
                Ok(response) => response,
                Err(_elapsed) => {
                    tracing::warn!(%method, %path, ?limit, "request timed out");
                    Ok(render())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_of_requests_passes_at_once_then_the_rate_is_enforced() {
        let limiter = RateLimiter::per_minute(60).unwrap();
        let start = Instant::now();
        for i in 0..60 {
            assert_eq!(limiter.check(1u8, start), Ok(()), "request {i}");
        }
        assert_eq!(
            limiter.check(1u8, start),
            Err(Throttled {
                retry_after_secs: 1
            })
        );
        // Another key has its own allowance.
        assert_eq!(limiter.check(2u8, start), Ok(()));
        // One interval later, exactly one more request fits.
        let later = start + Duration::from_secs(1);
        assert_eq!(limiter.check(1u8, later), Ok(()));
        assert!(limiter.check(1u8, later).is_err());
        // A quiet minute restores the whole allowance.
        let quiet = start + Duration::from_secs(61);
        for _ in 0..60 {
            assert_eq!(limiter.check(1u8, quiet), Ok(()));
        }
        assert!(limiter.check(1u8, quiet).is_err());
    }

    #[test]
    fn retry_after_says_when_the_next_request_fits() {
        let limiter = RateLimiter::per_minute(2).unwrap();
        let start = Instant::now();
        assert!(limiter.check(7u8, start).is_ok());
        assert!(limiter.check(7u8, start).is_ok());
        assert_eq!(
            limiter.check(7u8, start),
            Err(Throttled {
                retry_after_secs: 30
            })
        );
        assert_eq!(
            limiter.check(7u8, start + Duration::from_millis(29_500)),
            Err(Throttled {
                retry_after_secs: 1
            })
        );
        assert!(limiter.check(7u8, start + Duration::from_secs(30)).is_ok());
    }

    #[test]
    fn zero_means_unlimited_and_idle_keys_are_pruned() {
        assert!(RateLimiter::<u8>::per_minute(0).is_none());
        let limits = Limits::new(0, 0);
        for _ in 0..1000 {
            assert!(limits.admit_login("admin").is_ok());
        }
        let limits = Limits::new(0, 1);
        assert!(limits.admit_login("Admin").is_ok());
        assert!(limits.admit_login(" admin").is_err());
        assert!(limits.admit_login("alice").is_ok());
        // A name of any length is kept as 32 bytes, and still counted as itself.
        let long = "x".repeat(2 << 20);
        assert!(limits.admit_login(&long).is_ok());
        assert!(
            limits
                .admit_login(&format!(" {}", long.to_uppercase()))
                .is_err()
        );
        assert_ne!(login_key(&long), login_key(&long[1..]));
        let limiter = RateLimiter::per_minute(600).unwrap();
        let start = Instant::now();
        for key in 0..(PRUNE_ABOVE as u32 * SHARDS as u32 * 2) {
            assert!(limiter.check(key, start).is_ok());
        }
        let later = start + Duration::from_secs(2);
        for key in 0..(SHARDS as u32 * 64) {
            assert!(limiter.check(key, later).is_ok());
        }
        let largest = limiter
            .shards
            .iter()
            .map(|s| s.lock().unwrap().next_allowed.len())
            .max()
            .unwrap();
        assert!(largest <= PRUNE_ABOVE + 1, "{largest} keys kept in a shard");
    }
}
