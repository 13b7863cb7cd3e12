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
        let now = since_epoch(SystemTime::now());
        match self.0.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => now,
            Err(first) => first,
        }
    }
}

/// Nanoseconds since the Unix epoch, at least 1 (0 means unread); a clock set before 1970
/// reads as the epoch, and one past 2554 as that year.
fn since_epoch(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)).max(1)
}
