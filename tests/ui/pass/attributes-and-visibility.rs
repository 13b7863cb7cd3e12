//! The function's attributes, docs and visibility are kept.
#![deny(missing_docs)]
//! A crate.

use runtrace::prelude::*;

/// Documented, public, `#[must_use]` and `#[inline]`.
#[must_use]
#[inline]
#[traced_run(kind = "tool")]
pub fn documented(x: u8) -> u8 {
    x
}

pub(crate) mod inner {
    use runtrace::prelude::*;

    #[traced_run(kind = "tool")]
    #[allow(clippy::needless_pass_by_value)]
    pub(crate) fn restricted(x: String) -> usize {
        x.len()
    }
}

fn main() {
    assert_eq!(documented(1, CallbackManager::none()), 1);
    assert_eq!(inner::restricted("ab".into(), CallbackManager::none()), 2);
}
