//! Ticket serial numbers: `YYYYMMDD` in the configured time zone plus a counter of at least 4 digits.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// The day part of a serial number for a ticket created at `now`.
pub fn serial_day(now: DateTime<Utc>, time_zone: Tz) -> String {
    now.with_timezone(&time_zone).format("%Y%m%d").to_string()
}

/// Formats the `counter`-th serial number of `day`.
///
/// The counter is zero-padded to 4 digits and simply widens past 9,999: the day part has a
/// fixed width, so wider counters never collide with another day's numbers.
pub fn format_serial(day: &str, counter: u64) -> String {
    format!("{day}{counter:04}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn serial_uses_the_configured_time_zone_and_widens() {
        let now = Utc.with_ymd_and_hms(2026, 8, 21, 17, 0, 0).unwrap();
        assert_eq!(serial_day(now, chrono_tz::UTC), "20260821");
        assert_eq!(serial_day(now, chrono_tz::Asia::Shanghai), "20260822");
        assert_eq!(format_serial("20260821", 1), "202608210001");
        assert_eq!(format_serial("20260821", 9_999), "202608219999");
        assert_eq!(format_serial("20260821", 10_000), "2026082110000");
    }
}
