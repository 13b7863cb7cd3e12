//! UTC timestamps in the two text forms a trace uses: RFC 3339 with microseconds
//! (`2024-05-06T07:08:09.123456Z`) in run trees, and LangSmith's compact
//! `%Y%m%dT%H%M%S%fZ` (`20240506T070809123456Z`) in dotted orders.
//!
//! Hand-written: both are fixed-width UTC forms over one civil-date conversion (Howard
//! Hinnant's `days_from_civil` and its inverse), far less than a calendar crate brings.
//! Times are whole microseconds since the Unix epoch, the precision both forms carry.
//!
//! Both forms have four-digit years, so only UTC times in the years 0000–9999 have a text:
//! a time read with an offset that moves it out of them (`0000-01-01T00:30:00+01:00`) is
//! refused, as it could not be written back, and a time outside them, which no clock gives
//! but a tree edited by hand may hold, is written as the nearest end of that range, so that
//! what is written always reads back.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch, negative before it, saturating far outside it.
pub(crate) fn to_micros(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_micros()).map_or(i64::MIN, |micros| -micros),
    }
}

/// The time `micros` microseconds after the epoch; the epoch itself if the platform's clock
/// cannot hold it.
pub(crate) fn from_micros(micros: i64) -> SystemTime {
    let offset = Duration::from_micros(micros.unsigned_abs());
    let time = if micros >= 0 { UNIX_EPOCH.checked_add(offset) } else { UNIX_EPOCH.checked_sub(offset) };
    time.unwrap_or(UNIX_EPOCH)
}

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    micro: u32,
}

impl Civil {
    fn from_micros(micros: i64) -> Civil {
        let seconds = micros.div_euclid(1_000_000);
        let micro = micros.rem_euclid(1_000_000) as u32;
        let days = seconds.div_euclid(86_400);
        let of_day = seconds.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil { year, month, day, hour: of_day / 3600, minute: of_day / 60 % 60, second: of_day % 60, micro }
    }

    /// Microseconds since the epoch, or `None` for a date that does not exist.
    fn to_micros(&self) -> Option<i64> {
        let valid = (1..=12).contains(&self.month)
            && (1..=days_in_month(self.year, self.month)).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
            && self.micro < 1_000_000;
        if !valid {
            return None;
        }
        let days = days_from_civil(self.year, self.month, self.day);
        let seconds = days * 86_400 + i64::from(self.hour * 3600 + self.minute * 60 + self.second);
        Some(seconds * 1_000_000 + i64::from(self.micro))
    }
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let shifted_month = i64::from(if month > 2 { month - 3 } else { month + 9 });
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The separators of one text form: between date fields, between time fields, before the
/// fraction; and its slot in [`LAST_SECOND`].
struct Form {
    date: u8,
    time: u8,
    fraction: u8,
    slot: usize,
}

/// RFC 3339: `2024-05-06T07:08:09.123456Z`.
const RFC3339: Form = Form { date: b'-', time: b':', fraction: b'.', slot: 0 };

/// LangSmith's `%Y%m%dT%H%M%S%fZ`: `20240506T070809123456Z`. A zero separator is left out.
const COMPACT: Form = Form { date: 0, time: 0, fraction: 0, slot: 1 };

/// `2024-05-06T07:08:09.123456Z`.
pub(crate) fn format_rfc3339(micros: i64) -> String {
    let mut out = String::with_capacity(RFC3339_LEN);
    write(&mut out, micros, &RFC3339);
    out
}

/// `time` as RFC 3339 with microseconds, in UTC, as run trees write their times: for
/// exporters that write a time as text.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use runtrace_runtime::tracer::rfc3339;
///
/// let time = UNIX_EPOCH + Duration::from_micros(1_714_979_289_123_456);
/// assert_eq!(rfc3339(time), "2024-05-06T07:08:09.123456Z");
/// let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
/// assert!(rfc3339(leap).starts_with("2000-02-29T00:00:00"));
/// ```
#[must_use]
pub fn rfc3339(time: SystemTime) -> String {
    format_rfc3339(to_micros(time))
}

/// Appends `20240506T070809123456Z` (LangSmith's `%Y%m%dT%H%M%S%fZ`) to `out`.
pub(crate) fn write_compact(out: &mut String, micros: i64) {
    write(out, micros, &COMPACT);
}

/// The text of the last whole second this thread wrote, in each form.
struct LastSecond {
    second: i64,
    text: String,
}

thread_local! {
    /// The runs a tracer exports together mostly start within one second, and the calendar
    /// arithmetic and the twelve digits of a date and time are most of a stamp's cost: each
    /// second is written once per thread and form, and copied for the next stamps in it.
    static LAST_SECOND: RefCell<[LastSecond; 2]> = const {
        RefCell::new([LastSecond { second: 0, text: String::new() }, LastSecond { second: 0, text: String::new() }])
    };
}

/// The first and last microsecond that have a text: `0000-01-01T00:00:00.000000Z` and
/// `9999-12-31T23:59:59.999999Z`.
const WRITABLE: std::ops::RangeInclusive<i64> = -62_167_219_200_000_000..=253_402_300_799_999_999;

/// Appends `micros`, moved into [`WRITABLE`], in `form`: the whole second from
/// [`LAST_SECOND`] when it is the same, then the microseconds.
fn write(out: &mut String, micros: i64, form: &Form) {
    let micros = micros.clamp(*WRITABLE.start(), *WRITABLE.end());
    let second = micros.div_euclid(1_000_000);
    let copied = LAST_SECOND.try_with(|last| {
        let Ok(mut last) = last.try_borrow_mut() else {
            return false;
        };
        let last = &mut last[form.slot];
        if last.text.is_empty() || last.second != second {
            last.text.clear();
            write_second(&mut last.text, second, form);
            last.second = second;
        }
        out.push_str(&last.text);
        true
    });
    if copied != Ok(true) {
        write_second(out, second, form);
    }
    if form.fraction != 0 {
        out.push(char::from(form.fraction));
    }
    let mut fraction = Text::default();
    fraction.digits(micros.rem_euclid(1_000_000) as u32, 6);
    fraction.separator(b'Z');
    fraction.push_to(out);
}

/// Appends the whole second `second` in `form`: `2024-05-06T07:08:09`, digit by digit on the
/// stack, as `core::fmt`'s padded integers cost several times as much.
fn write_second(out: &mut String, second: i64, form: &Form) {
    let Civil { year, month, day, hour, minute, second, .. } = Civil::from_micros(second * 1_000_000);
    let mut text = Text::default();
    // `write` keeps the year within 0000–9999, so it has four digits.
    text.digits(u32::try_from(year).unwrap_or_default(), 4);
    text.separator(form.date);
    text.digits(month, 2);
    text.separator(form.date);
    text.digits(day, 2);
    text.separator(b'T');
    text.digits(hour, 2);
    text.separator(form.time);
    text.digits(minute, 2);
    text.separator(form.time);
    text.digits(second, 2);
    text.push_to(out);
}

/// The length of the RFC 3339 form.
const RFC3339_LEN: usize = 27;

/// ASCII text of at most [`RFC3339_LEN`] bytes, built on the stack.
#[derive(Default)]
struct Text {
    bytes: [u8; RFC3339_LEN],
    len: usize,
}

impl Text {
    /// Appends `value`'s last `width` decimal digits, zero-padded.
    fn digits(&mut self, value: u32, width: usize) {
        let mut rest = value;
        for digit in self.bytes[self.len..self.len + width].iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        self.len += width;
    }

    fn separator(&mut self, byte: u8) {
        if byte != 0 {
            self.bytes[self.len] = byte;
            self.len += 1;
        }
    }

    /// Appends the text to `out`, byte by byte: all ASCII, so no UTF-8 check is needed.
    fn push_to(&self, out: &mut String) {
        out.extend(self.bytes[..self.len].iter().copied().map(char::from));
    }
}

/// The length of the compact form.
pub(crate) const COMPACT_LEN: usize = 22;

/// Parses the compact form exactly: 22 ASCII characters naming a real UTC instant.
pub(crate) fn parse_compact(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != COMPACT_LEN || bytes[8] != b'T' || bytes[21] != b'Z' {
        return None;
    }
    Civil {
        year: i64::from(digits(bytes, 0, 4)?),
        month: digits(bytes, 4, 2)?,
        day: digits(bytes, 6, 2)?,
        hour: digits(bytes, 9, 2)?,
        minute: digits(bytes, 11, 2)?,
        second: digits(bytes, 13, 2)?,
        micro: digits(bytes, 15, 6)?,
    }
    .to_micros()
}

/// Parses RFC 3339 as run trees write it, and the variants other tools write: `T`, `t` or a
/// space between date and time; 0 to 9 fractional digits (cut to microseconds); `Z`, `z`, a
/// `±HH:MM` offset, or no zone at all (read as UTC, as Python's naive `isoformat` means it).
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 19
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let mut civil = Civil {
        year: i64::from(digits(bytes, 0, 4)?),
        month: digits(bytes, 5, 2)?,
        day: digits(bytes, 8, 2)?,
        hour: digits(bytes, 11, 2)?,
        minute: digits(bytes, 14, 2)?,
        second: digits(bytes, 17, 2)?,
        micro: 0,
    };
    let mut rest = &bytes[19..];
    if let [b'.', fraction @ ..] = rest {
        let len = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 || len > 9 {
            return None;
        }
        let kept = len.min(6);
        civil.micro = digits(fraction, 0, kept)? * 10u32.pow((6 - kept) as u32);
        rest = &fraction[len..];
    }
    let offset_seconds: i64 = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let hours = i64::from(digits(rest, 1, 2)?);
            let minutes = i64::from(digits(rest, 4, 2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let magnitude = hours * 3600 + minutes * 60;
            if *sign == b'+' { magnitude } else { -magnitude }
        }
        _ => return None,
    };
    Some(civil.to_micros()? - offset_seconds * 1_000_000).filter(|micros| WRITABLE.contains(micros))
}

/// The decimal number in `bytes[start..start + len]`, all ASCII digits.
fn digits(bytes: &[u8], start: usize, len: usize) -> Option<u32> {
    bytes
        .get(start..start + len)?
        .iter()
        .try_fold(0u32, |value, &byte| byte.is_ascii_digit().then(|| value * 10 + u32::from(byte - b'0')))
}

/// Serde for a [`SystemTime`] as RFC 3339 text.
pub(crate) mod rfc3339 {
    use std::time::SystemTime;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_rfc3339(super::to_micros(*time)))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SystemTime, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        super::parse_rfc3339(&text)
            .map(super::from_micros)
            .ok_or_else(|| D::Error::custom(format_args!("`{text}` is not an RFC 3339 timestamp")))
    }

    /// The same, for an optional time (`null` when absent).
    pub(crate) mod option {
        use std::time::SystemTime;

        use serde::{Deserialize, Deserializer, Serializer};

        pub(crate) fn serialize<S: Serializer>(time: &Option<SystemTime>, serializer: S) -> Result<S::Ok, S::Error> {
            match time {
                Some(time) => super::serialize(time, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SystemTime>, D::Error> {
            #[derive(Deserialize)]
            struct Wrapped(#[serde(with = "super")] SystemTime);
            Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(time)| time))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_both_forms_across_the_calendar() {
        for micros in
            [0, 1, -1, 951_782_400_123_456, 1_709_251_199_999_999, -62_135_596_800_000_000, 253_402_300_799_999_999]
        {
            let rfc = format_rfc3339(micros);
            assert_eq!(parse_rfc3339(&rfc), Some(micros), "{rfc}");
            let mut compact = String::new();
            write_compact(&mut compact, micros);
            assert_eq!(compact.len(), COMPACT_LEN);
            assert_eq!(parse_compact(&compact), Some(micros), "{compact}");
        }
        assert_eq!(format_rfc3339(951_782_400_123_456), "2000-02-29T00:00:00.123456Z");
        let mut compact = String::new();
        write_compact(&mut compact, 1_694_730_715_649_014);
        assert_eq!(compact, "20230914T223155649014Z");
    }

    #[test]
    fn stamps_sharing_a_second_differ_in_their_microseconds_only() {
        // Each form keeps the text of its last second: the second form written in between,
        // a second before the epoch and the next second must not leak into the others.
        let compact = |micros| {
            let mut out = String::new();
            write_compact(&mut out, micros);
            out
        };
        assert_eq!(compact(1_694_730_715_649_014), "20230914T223155649014Z");
        assert_eq!(format_rfc3339(1_694_730_715_000_001), "2023-09-14T22:31:55.000001Z");
        assert_eq!(compact(1_694_730_715_000_002), "20230914T223155000002Z");
        assert_eq!(format_rfc3339(1_694_730_715_999_999), "2023-09-14T22:31:55.999999Z");
        assert_eq!(compact(1_694_730_716_000_000), "20230914T223156000000Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn every_day_of_four_centuries_round_trips() {
        for days in -146_097..146_097 {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
    }

    #[test]
    fn reads_what_other_tools_write() {
        let utc = parse_rfc3339("2024-05-06T07:08:09.123456Z");
        assert_eq!(parse_rfc3339("2024-05-06 07:08:09.123456"), utc);
        assert_eq!(parse_rfc3339("2024-05-06T09:08:09.123456789+02:00"), utc);
        assert_eq!(parse_rfc3339("2024-05-06T07:08:09Z"), parse_rfc3339("2024-05-06T07:08:09.000000Z"));
    }

    /// Regression: a time an offset moved out of the years 0000–9999 was read, then written
    /// with a five-digit or negative year that did not read back.
    #[test]
    fn times_outside_years_0000_to_9999_are_refused_when_read_and_clamped_when_written() {
        for outside in ["0000-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00"] {
            assert_eq!(parse_rfc3339(outside), None, "{outside}");
        }
        for edge in ["0000-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z"] {
            let micros = parse_rfc3339(edge);
            assert_eq!(micros.map(format_rfc3339).as_deref(), Some(edge));
        }
        assert_eq!(
            parse_rfc3339("0000-01-01T01:00:00+01:00").map(format_rfc3339).as_deref(),
            Some("0000-01-01T00:00:00.000000Z")
        );
        for (micros, written) in [(i64::MIN, "0000-01-01T00:00:00.000000Z"), (i64::MAX, "9999-12-31T23:59:59.999999Z")]
        {
            assert_eq!(format_rfc3339(micros), written);
            let mut compact = String::new();
            write_compact(&mut compact, micros);
            assert_eq!(parse_compact(&compact).map(format_rfc3339).as_deref(), Some(written));
        }
    }

    #[test]
    fn rejects_impossible_dates_and_garbage() {
        for bad in
            ["20230230T000000000000Z", "20231301T000000000000Z", "20230101T240000000000Z", "2023010aT000000000000Z"]
        {
            assert_eq!(parse_compact(bad), None, "{bad}");
        }
        for bad in ["", "2024-05-06", "2024-05-06T07:08:09.Z", "2024-05-06T07:08:09+2:00", "2024-05-06T07:08:09é"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
