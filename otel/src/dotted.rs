//! LangSmith's dotted order: each ancestor's start time in the compact form
//! `%Y%m%dT%H%M%S%fZ` followed by its run id, root first, joined by `.`
//! (`20240506T070809123456Z0b3a...9a10.20240506T070809123999Z5c1e...`).
//!
//! Formatted here from the start times this handler saw, with a small civil-date
//! conversion (Howard Hinnant's `civil_from_days`) instead of a calendar crate.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use runtrace_runtime::RunId;

/// Appends `time` as `%Y%m%dT%H%M%S%fZ` (UTC, microseconds).
pub(crate) fn push_compact_time(out: &mut String, time: SystemTime) {
    let (date, clock, micros) = split(time);
    let (year, month, day) = date;
    let (hour, minute, second) = clock;
    let _ = write!(out, "{year:04}{month:02}{day:02}T{hour:02}{minute:02}{second:02}{micros:06}Z");
}

/// `time` as RFC 3339 with microseconds (`2024-05-06T07:08:09.123456Z`), for attributes
/// that take a timestamp as text.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let ((year, month, day), (hour, minute, second), micros) = split(time);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{micros:06}Z")
}

/// The dotted order of `run` started at `start`, under a parent whose dotted order is
/// `parent` (`None` for a root).
pub(crate) fn dotted_order(parent: Option<&str>, start: SystemTime, run: RunId) -> String {
    let mut order = String::with_capacity(parent.map_or(0, |p| p.len() + 1) + 58);
    if let Some(parent) = parent.filter(|parent| !parent.is_empty()) {
        order.push_str(parent);
        order.push('.');
    }
    push_compact_time(&mut order, start);
    let _ = write!(order, "{run}");
    order
}

type Date = (i64, u32, u32);
type Clock = (i64, i64, i64);

fn split(time: SystemTime) -> (Date, Clock, u32) {
    // Times before 1970 do not come from a clock that runs; they format as the epoch.
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 2);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    (civil_from_days(days), (of_day / 3600, of_day / 60 % 60, of_day % 60), since.subsec_micros())
}

fn civil_from_days(days: i64) -> Date {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = u32::try_from(day_of_year - (153 * shifted_month + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 }).unwrap_or(1);
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn formats_langsmith_segments() {
        let start = UNIX_EPOCH + Duration::from_micros(1_714_979_289_123_456);
        let root: RunId = "0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10".parse().unwrap();
        let child: RunId = "5c1e8c7e-0d5c-4a43-9d3a-2f1d6e1c9a11".parse().unwrap();
        let root_order = dotted_order(None, start, root);
        assert_eq!(root_order, "20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10");
        let child_order = dotted_order(Some(&root_order), start + Duration::from_micros(1), child);
        assert_eq!(child_order, format!("{root_order}.20240506T070809123457Z{child}"));
        assert_eq!(rfc3339(start), "2024-05-06T07:08:09.123456Z");
    }

    #[test]
    fn leap_days() {
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert!(rfc3339(leap).starts_with("2000-02-29T00:00:00"));
    }
}
