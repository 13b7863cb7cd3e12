//! Text made by the user's `Display` and `Debug` impls: an error's message, a retry's
//! reason, a handler's error in a warning.
//!
//! Those impls run inside runtrace, between a run's start and its end, while the traced
//! function's own value waits to be returned. A panic there would replace that value with a
//! panic and leave the run without its end; `to_string` would panic too when an impl returns
//! `fmt::Error`. So the text is made here, where either failure becomes a message saying so.

use std::fmt::{self, Debug, Display, Write as _};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// `value` rendered with `Display`, or a message saying why it could not be.
pub(crate) fn display<T: Display + ?Sized>(value: &T) -> String {
    render(format_args!("{value}"), "Display")
}

/// `value` rendered with `Debug`, or a message saying why it could not be.
pub(crate) fn debug<T: Debug + ?Sized>(value: &T) -> String {
    render(format_args!("{value:?}"), "Debug")
}

fn render(value: fmt::Arguments<'_>, with: &str) -> String {
    let mut text = String::new();
    match catch_unwind(AssertUnwindSafe(|| text.write_fmt(value))) {
        Ok(Ok(())) => text,
        Ok(Err(fmt::Error)) => format!("<unrenderable: its {with} impl returned an error>"),
        Err(_) => format!("<unrenderable: its {with} impl panicked>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Panics;

    impl Display for Panics {
        fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
            panic!("the formatter is broken")
        }
    }

    impl Debug for Panics {
        fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
            Err(fmt::Error)
        }
    }

    #[test]
    fn a_value_renders_as_its_impl_says() {
        assert_eq!(display(&"timeout"), "timeout");
        assert_eq!(debug(&"timeout"), "\"timeout\"");
    }

    #[test]
    fn an_impl_that_panics_or_fails_renders_as_a_message_saying_so() {
        assert_eq!(display(&Panics), "<unrenderable: its Display impl panicked>");
        assert_eq!(debug(&Panics), "<unrenderable: its Debug impl returned an error>");
    }
}
