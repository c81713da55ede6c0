//! JumpServer value formats: datetimes as `%Y/%m/%d %H:%M:%S %z` in the request's time zone.

use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ticketd_http::AppState;

/// The time zone of a request: `X-TZ` if it names a valid IANA zone, else the server's.
pub(crate) fn request_time_zone(parts: &Parts, state: &AppState) -> Tz {
    parts
        .headers
        .get("x-tz")
        .and_then(|v| v.to_str().ok())
        .and_then(|name| name.trim().parse::<Tz>().ok())
        .unwrap_or(state.settings.time_zone)
}

/// Renders a datetime as JumpServer does.
pub(crate) fn datetime(time: DateTime<Utc>, zone: Tz) -> String {
    time.with_timezone(&zone)
        .format("%Y/%m/%d %H:%M:%S %z")
        .to_string()
}

/// The request time zone as an extractor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Zone(pub(crate) Tz);

impl axum::extract::FromRequestParts<AppState> for Zone {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(request_time_zone(parts, state)))
    }
}
