//! Run identifiers.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The unique id of one run: a version 7 UUID, LangSmith's kind of run id, drawn only when
/// some handler listens.
///
/// ```
/// use runtrace_runtime::RunId;
///
/// let id = RunId::random();
/// assert_eq!(id.as_uuid().get_version_num(), 7);
/// let parsed: RunId = id.to_string().parse()?;
/// assert_eq!(id, parsed);
/// # Ok::<(), uuid::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(Uuid);

/// The bits of `rand_a` that hold the drawing thread's stripe.
const STRIPE_MASK: u32 = crate::stripe::STRIPES as u32 - 1;
const _: () = assert!(crate::stripe::STRIPES.is_power_of_two() && crate::stripe::STRIPES <= 1 << 12);

impl RunId {
    /// Draws a fresh id: a version 7 UUID (RFC 9562), as LangSmith asks of run ids.
    ///
    /// - Its first 48 bits are the Unix time in milliseconds, so that ids sort by the time
    ///   they were drawn: the ids of one thread are in time order to the millisecond (in no
    ///   particular order within one), unless the system's clock is set back. The time is
    ///   the system's *coarse* wall clock (`CLOCK_REALTIME_COARSE` on Linux and Android,
    ///   the time of the kernel's last tick, read without asking the hardware), so it can
    ///   lag the precise time by up to a tick, 1 to 10 ms depending on the kernel. Other
    ///   systems read [`SystemTime::now`](std::time::SystemTime::now).
    /// - Its other 74 bits, past the version and variant, are random but for four, from
    ///   `rand`'s `ThreadRng`: a cryptographic generator (ChaCha with 12 rounds) per thread,
    ///   seeded from the operating system and reseeded after every 64 KiB it gives. So an id
    ///   seen by a client (the example server streams each token's run id) tells nothing
    ///   of the ids drawn after it, and the low 64 bits, the span id of
    ///   [OpenTelemetry](https://opentelemetry.io/) exports, are random.
    /// - The four (the last hex digit of the id's first half, `rand_a`'s low bits) number the
    ///   drawing thread among up to 16, so that a tracer keeps the trees a thread starts in
    ///   a shard of their own and two threads do not pass its memory back and forth. An id
    ///   is still unique by its 70 random bits per millisecond.
    ///
    /// A process that forks and goes on drawing ids on the same thread in parent and child
    /// would draw the same random bits in both, as with any per-thread generator; a new
    /// thread, or a fork that execs, starts afresh.
    ///
    /// # Panics
    ///
    /// When the operating system cannot seed the thread's generator (its random source
    /// fails), as `rand::rng()` does.
    ///
    /// ```
    /// use runtrace_runtime::RunId;
    ///
    /// let (first, second) = (RunId::random(), RunId::random());
    /// assert_ne!(first, second);
    /// let time = |id: RunId| id.as_uuid().get_timestamp().map(|time| time.to_unix());
    /// assert!(time(first) <= time(second), "in time order, to the millisecond");
    /// ```
    #[must_use]
    #[inline]
    pub fn random() -> Self {
        // RFC 9562's layout, from the high bits: unix_ts_ms (48), ver (4), rand_a (12),
        // var (2), rand_b (62). Composed here rather than by `uuid::Builder`, which takes the
        // random bits as bytes and showed in the one-handler benchmark's profile.
        const VERSION_7: u128 = 0x7 << 76;
        const VARIANT_RFC_9562: u128 = 0b10 << 62;
        let mut rng = rand::rng();
        let stripe = crate::stripe::this_thread() as u32;
        let (rand_a, rand_b) = (rng.next_u32() >> 20 & !STRIPE_MASK | stripe, rng.next_u64() >> 2);
        let millis = coarse_clock::unix_millis() & 0xffff_ffff_ffff;
        let bits =
            u128::from(millis) << 80 | VERSION_7 | u128::from(rand_a) << 64 | VARIANT_RFC_9562 | u128::from(rand_b);
        RunId(Uuid::from_u128(bits))
    }

    /// The [stripe](crate::stripe) of the thread that drew the id, for an id drawn here;
    /// any number in `0..16` for one from elsewhere.
    #[inline]
    pub(crate) fn stripe(self) -> usize {
        (self.0.as_u128() >> 64) as usize & STRIPE_MASK as usize
    }

    /// The id as a [`Uuid`].
    ///
    /// ```
    /// let id = runtrace_runtime::RunId::random();
    /// assert_eq!(id.as_uuid().get_variant(), uuid::Variant::RFC4122);
    /// ```
    #[must_use]
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl From<Uuid> for RunId {
    fn from(uuid: Uuid) -> Self {
        RunId(uuid)
    }
}

impl From<RunId> for Uuid {
    fn from(id: RunId) -> Self {
        id.0
    }
}

impl FromStr for RunId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(RunId)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RunId({})", self.0)
    }
}

/// A map keyed by run id, hashed by [`IdHasher`].
pub(crate) type IdMap<V> = HashMap<RunId, V, BuildHasherDefault<IdHasher>>;

/// Hashes a run id by folding its 16 bytes into 8. The ids inserted are those of runs this
/// process started, whose last 62 bits are random (v7), so they spread evenly, and are never
/// chosen by anyone outside. Ids from outside (a parent's, from trace headers) are only
/// looked up, never inserted, so they cannot pile keys into one bucket: SipHash's defence
/// against chosen keys buys nothing here, and it was a visible share of the tracer's and the
/// `tracing` bridge's profiles.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_ne_bytes(word);
        }
    }
}

mod coarse_clock {
    //! The wall clock that stamps run ids, read coarsely: this module exists so that a v7 id
    //! costs no precise clock read. The tracer and most handlers read the precise clock for
    //! their events anyway, but a run whose handlers do not ask for the time (the *one no-op
    //! sync handler* row of `benches/README.md`) would otherwise pay for one per run, which
    //! that row's instruction count shows. To remove it, return the milliseconds of
    //! `SystemTime::now()` from `unix_millis` everywhere.

    /// Milliseconds since the Unix epoch, as of the kernel's last tick; 0 for a clock set
    /// before 1970.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[inline]
    pub(super) fn unix_millis() -> u64 {
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `now` is a valid, writable `timespec`, and the clock id is one the kernel
        // has had since Linux 2.6.32; on an error `now` keeps its zeros.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &raw mut now) };
        let seconds = u64::try_from(now.tv_sec).unwrap_or(0);
        let millis = u64::try_from(now.tv_nsec / 1_000_000).unwrap_or(0);
        seconds.saturating_mul(1000).saturating_add(millis)
    }

    /// Milliseconds since the Unix epoch; 0 for a clock set before 1970.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    #[inline]
    pub(super) fn unix_millis() -> u64 {
        use std::time::{SystemTime, UNIX_EPOCH};
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::*;

    /// The id's Unix time in milliseconds.
    fn millis(id: RunId) -> u64 {
        id.as_uuid().get_timestamp().map_or(0, |time| {
            let (seconds, nanos) = time.to_unix();
            seconds * 1000 + u64::from(nanos / 1_000_000)
        })
    }

    /// The 74 random bits: `rand_a` (12) above `rand_b` (62).
    fn random_bits(id: RunId) -> u128 {
        let bits = id.as_uuid().as_u128();
        (bits >> 64 & 0xfff) << 62 | bits & ((1 << 62) - 1)
    }

    #[test]
    fn ids_are_version_7_with_the_rfc_variant() {
        for _ in 0..10_000 {
            let id = RunId::random();
            assert_eq!(id.as_uuid().get_version_num(), 7, "{id}");
            assert_eq!(id.as_uuid().get_variant(), uuid::Variant::RFC4122, "{id}");
        }
    }

    #[test]
    fn ids_carry_the_wall_clock_time_in_milliseconds() {
        let now = || SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis());
        let before = now();
        let id = RunId::random();
        let after = now();
        // The coarse clock lags the precise one by up to a kernel tick (at most 10 ms).
        let stamped = u128::from(millis(id));
        assert!((before.saturating_sub(20)..=after).contains(&stamped), "{before} <= {stamped} <= {after}");
    }

    #[test]
    fn ids_of_a_thread_are_in_time_order_to_the_millisecond() {
        let ids: Vec<RunId> = (0..200_000).map(|_| RunId::random()).collect();
        assert!(ids.windows(2).all(|pair| millis(pair[0]) <= millis(pair[1])));
    }

    #[test]
    fn ids_are_unique_over_many_draws_on_several_threads() {
        let draw = || (0..50_000).map(|_| RunId::random()).collect::<Vec<_>>();
        let threads: Vec<_> = (0..4).map(|_| std::thread::spawn(draw)).collect();
        let mut ids: HashSet<RunId> = draw().into_iter().collect();
        for thread in threads {
            for id in thread.join().expect("a drawing thread finishes") {
                assert!(ids.insert(id), "{id} was drawn twice");
            }
        }
        assert_eq!(ids.len(), 250_000);
    }

    #[test]
    fn ids_name_the_stripe_of_the_thread_that_drew_them() {
        let stripe_of_ids = || {
            let ids: Vec<RunId> = (0..100).map(|_| RunId::random()).collect();
            assert!(ids.iter().all(|id| id.stripe() == crate::stripe::this_thread()), "one thread, one stripe");
            ids[0].stripe()
        };
        let mine = stripe_of_ids();
        // Drawn while this thread lives, so with a stripe of its own.
        let theirs = std::thread::spawn(stripe_of_ids).join().expect("the other thread draws");
        assert_ne!(mine, theirs);
    }

    #[test]
    fn consecutive_ids_are_in_no_fixed_arithmetic_relation() {
        // SplitMix64 ids, as drawn before, were two outputs of a state stepped by a fixed
        // increment: undo the output mix and each id is the previous one plus a constant.
        // Here no difference, sum or xor of consecutive random parts repeats, and every
        // random bit is set in about half of the ids (past the four of the thread's stripe).
        let ids: Vec<u128> = (0..20_001).map(|_| random_bits(RunId::random())).collect();
        let mut differences = HashSet::new();
        let mut sums = HashSet::new();
        let mut xors = HashSet::new();
        for pair in ids.windows(2) {
            let (previous, next) = (pair[0], pair[1]);
            let mask = (1u128 << 74) - 1;
            assert!(differences.insert(next.wrapping_sub(previous) & mask));
            assert!(sums.insert(next.wrapping_add(previous) & mask));
            assert!(xors.insert(next ^ previous));
        }
        for bit in (0..62).chain(66..74) {
            let set = ids.iter().filter(|&&id| id >> bit & 1 == 1).count();
            assert!((9_000..=11_000).contains(&set), "bit {bit} is set in {set} of 20,001 ids");
        }
    }
}
