//! When an event happened: the wall clock, read only when a handler first asks.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The time of an event, read on first use: nanoseconds since the Unix epoch, 0 until read.
///
/// An atomic rather than a cell so that events stay `Sync`: a handler may share the event
/// it is given with threads it starts. The first reader's time wins.
pub(super) struct EventTime(AtomicU64);

impl fmt::Debug for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.get(), f)
    }
}

impl EventTime {
    pub(super) const fn unread() -> Self {
        EventTime(AtomicU64::new(0))
    }

    /// The same time for an owned copy of the event, read now if no one asked before.
    pub(super) fn fixed(&self) -> Self {
        EventTime(AtomicU64::new(self.nanos()))
    }

    pub(super) fn get(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.nanos())
    }

    pub(super) fn nanos(&self) -> u64 {
        let nanos = self.0.load(Ordering::Relaxed);
        if nanos != 0 {
            return nanos;
        }
        let now = now_since_epoch();
        match self.0.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => now,
            Err(first) => first,
        }
    }
}

/// The wall clock now, in nanoseconds since the Unix epoch, at least 1 (0 means unread); a
/// clock set before 1970 reads as the epoch, and one past 2554 as that year.
///
/// On Linux the clock is read with `clock_gettime` directly: through `SystemTime`, the
/// conversion to a count since the epoch (a general `Timespec` subtraction, then a
/// `Duration`) takes more instructions than the read itself, paid by every event a handler
/// times, on the traced call's thread for background handlers (the `otel`, `async_handler`
/// and `tracer` rows of `benches/instructions.sh`). To remove it, use the portable version
/// below everywhere.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn now_since_epoch() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable `timespec` and `CLOCK_REALTIME` always exists; on
    // an error `now` keeps its zeros, which read as the epoch.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &raw mut now) };
    let (Ok(seconds), Ok(nanos)) = (u64::try_from(now.tv_sec), u64::try_from(now.tv_nsec)) else { return 1 };
    seconds.saturating_mul(1_000_000_000).saturating_add(nanos).max(1)
}

/// The wall clock now, in nanoseconds since the Unix epoch, at least 1 (0 means unread); a
/// clock set before 1970 reads as the epoch, and one past 2554 as that year.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn now_since_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
        .max(1)
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::now_since_epoch;

    fn system_nanos() -> u128 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos())
    }

    #[test]
    fn the_clock_reads_the_system_time_in_nanoseconds() {
        let before = system_nanos();
        let now = u128::from(now_since_epoch());
        let after = system_nanos();
        assert!(before <= now && now <= after, "{before} <= {now} <= {after}");
    }
}
