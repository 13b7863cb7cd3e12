//! The compile-time contract of `#[traced_run]`: every misuse in `ui/fail/` is a compile error
//! on the user's own tokens, with the message checked in beside it; every form in `ui/pass/`
//! compiles.
//!
//! Regenerate the expected messages with `TRYBUILD=overwrite cargo test --test macros ui`,
//! then read each `.stderr` as a user would before committing it.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
