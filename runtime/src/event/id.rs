//! Run identifiers.

use std::cell::Cell;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The unique id of one run: a random (v4) UUID, drawn only when some handler listens.
///
/// ```
/// use runtrace_runtime::RunId;
///
/// let id = RunId::random();
/// let parsed: RunId = id.to_string().parse()?;
/// assert_eq!(id, parsed);
/// # Ok::<(), uuid::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(Uuid);

impl RunId {
    /// Draws a fresh random id.
    #[must_use]
    #[inline]
    pub fn random() -> Self {
        RunId(uuid::Builder::from_random_bytes(random_bytes()).into_uuid())
    }

    /// The id as a [`Uuid`].
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

// Ids come from a per-thread SplitMix64 generator (Steele, Lea and Flood, "Fast splittable
// pseudorandom number generators", 2014) seeded once per thread from the operating system,
// through `Uuid::new_v4`: about 2 ns an id, against about 14 ns for `Uuid::new_v4` each
// time. Run ids must be unique, not unpredictable, so the cryptographic generator behind
// `new_v4` buys nothing here. Each thread draws its own odd increment (its "gamma") as well
// as its start, so two threads walk different sequences rather than two places on one.
// As with any per-thread generator, a process that forks and goes on drawing ids in both
// parent and child on the same thread would repeat ids; Rust programs rarely fork without
// exec, and a new thread reseeds.
thread_local! {
    /// `(state, gamma)`; a gamma of 0 means not seeded yet (a seeded gamma is odd).
    static GENERATOR: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

#[inline]
fn random_bytes() -> [u8; 16] {
    GENERATOR.with(|generator| {
        let (mut state, mut gamma) = generator.get();
        if gamma == 0 {
            (state, gamma) = Uuid::new_v4().as_u64_pair();
            gamma |= 1;
        }
        state = state.wrapping_add(gamma);
        let high = mix(state);
        state = state.wrapping_add(gamma);
        let low = mix(state);
        generator.set((state, gamma));
        (u128::from(high) << 64 | u128::from(low)).to_le_bytes()
    })
}

/// SplitMix64's output function: a bijection, so distinct states give distinct outputs.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_4_and_distinct() {
        let ids: std::collections::HashSet<RunId> = (0..10_000).map(|_| RunId::random()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.as_uuid().get_version_num() == 4));
        assert!(ids.iter().all(|id| id.as_uuid().get_variant() == uuid::Variant::RFC4122));
    }

    #[test]
    fn threads_draw_different_ids() {
        let draw = || (0..1000).map(|_| RunId::random()).collect::<Vec<_>>();
        let other = std::thread::spawn(draw).join().expect("the other thread draws");
        let mine = draw();
        assert!(mine.iter().all(|id| !other.contains(id)));
    }
}
