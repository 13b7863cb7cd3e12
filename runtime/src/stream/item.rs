//! What an item of a traced stream gives the run: the text of its token, with `tokens`.

use std::borrow::Cow;

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
