//! What an item of a traced stream gives the run: the text of its token, with `tokens`, and
//! for items the expansion cannot see, whether they are `Result`s.

use std::borrow::Cow;
use std::fmt;

/// What `tokens` (each item) or `tokens = path` (what the path makes of each item) streams
/// as the run's tokens.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be streamed as a token: it is not text",
    label = "`tokens` sends each item as a token",
    note = "pick the text of each item with `tokens = path::to::fn`, a function from `&Item` to `&str`, \
            `String` or `Option<..>` of them (`None` sends no token)"
)]
pub trait TokenText {
    /// The token's text, or `None` for an item that carries none (a usage-only chunk).
    fn token_text(&self) -> Option<Cow<'_, str>>;
}

impl TokenText for str {
    #[inline]
    fn token_text(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(self))
    }
}

impl TokenText for String {
    #[inline]
    fn token_text(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(self))
    }
}

impl TokenText for Cow<'_, str> {
    #[inline]
    fn token_text(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(self))
    }
}

impl<T: TokenText + ?Sized> TokenText for &T {
    #[inline]
    fn token_text(&self) -> Option<Cow<'_, str>> {
        (**self).token_text()
    }
}

impl<T: TokenText> TokenText for Option<T> {
    #[inline]
    fn token_text(&self) -> Option<Cow<'_, str>> {
        self.as_ref().and_then(TokenText::token_text)
    }
}

/// The token of an item, checked for [`TokenText`] where the expansion names the item.
#[inline]
pub fn token_text_of<T: TokenText + ?Sized>(item: &T) -> Option<Cow<'_, str>> {
    item.token_text()
}

/// An item of a stream whose item type the expansion cannot read (`stream`, on an alias),
/// split into its `Ok` value or its error as [`SplitResult`] and [`SplitPlain`] pick by
/// autoref: `(&ItemProbe(item)).split()` with both traits in scope. The split values keep
/// their types, so what the expansion does with them next (recording, tokens, model
/// output) is checked and chosen for the real type, as for a written one.
pub struct ItemProbe<'a, I>(pub &'a I);

/// The `Result` arm of [`ItemProbe`]: `Ok` values are recorded, errors fail the run.
pub trait SplitResult<'a> {
    /// The `Ok` value's type.
    type Value;
    /// The error's type.
    type Error;
    /// The item's `Ok` value or its error.
    ///
    /// # Errors
    ///
    /// The item's error, for an `Err` item.
    fn split(&self) -> Result<&'a Self::Value, &'a Self::Error>;
}

impl<'a, T, E> SplitResult<'a> for ItemProbe<'a, Result<T, E>> {
    type Value = T;
    type Error = E;

    #[inline]
    fn split(&self) -> Result<&'a T, &'a E> {
        self.0.as_ref()
    }
}

/// The fallback arm of [`ItemProbe`]: the whole item is the value.
pub trait SplitPlain<'a> {
    /// The item's type.
    type Value;
    /// [`NoError`]: such an item is never an error.
    type Error;
    /// The item, as `Ok`.
    ///
    /// # Errors
    ///
    /// Never.
    fn split(&self) -> Result<&'a Self::Value, &'a Self::Error>;
}

impl<'a, I> SplitPlain<'a> for &ItemProbe<'a, I> {
    type Value = I;
    type Error = NoError;

    #[inline]
    fn split(&self) -> Result<&'a I, &'a NoError> {
        Ok(self.0)
    }
}

/// The error of items that are not `Result`s: there is none. It renders as any error does,
/// so the expansion's error arm compiles for them too, and is never reached.
#[derive(Debug)]
pub enum NoError {}

impl fmt::Display for NoError {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}
