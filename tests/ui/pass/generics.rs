//! Generic functions, where clauses, lifetimes and elided lifetimes.
use std::fmt::Display;

use runtrace::prelude::*;
use serde::Serialize;

#[traced_run(kind = "parser")]
fn first_word(text: &str) -> &str {
    text.split_whitespace().next().unwrap_or_default()
}

#[traced_run(kind = "parser")]
fn longest<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.len() >= b.len() { a } else { b }
}

// The output elides a lifetime the input names, which rustc warns about in the user's own
// code; the expansion must keep it borrowing from `text`.
#[allow(mismatched_lifetime_syntaxes)]
#[traced_run(kind = "parser")]
fn named<'a>(text: &'a str) -> &str {
    text
}

#[traced_run(kind = "parser")]
fn anonymous(text: &'_ str) -> Option<&'_ str> {
    text.get(..1)
}

#[traced_run(kind = "parser")]
fn split(text: &str) -> (&str, Vec<&str>) {
    (text, text.split(' ').collect())
}

#[traced_run(kind = "parser")]
async fn first_word_async(text: &str) -> &str {
    text.split_whitespace().next().unwrap_or_default()
}

struct Document(String);

impl Document {
    #[traced_run(kind = "parser")]
    fn title(&self, prefix: &str) -> &str {
        let _ = prefix;
        &self.0
    }

    #[traced_run(kind = "parser", skip_output)]
    fn words(self: &Self, at: &str) -> impl Iterator<Item = &str> {
        self.0.split(at.chars().next().unwrap_or(' '))
    }
}

#[traced_run(kind = "tool")]
fn describe<T>(value: T, label: &str) -> String
where
    T: Serialize + Display + Sync,
{
    format!("{label}: {value}")
}

#[traced_run(kind = "tool")]
fn largest<T: PartialOrd + Copy + Serialize + Sync, const N: usize>(values: &[T]) -> Option<T> {
    values.iter().copied().take(N).reduce(|a, b| if b > a { b } else { a })
}

#[traced_run(kind = "chain")]
async fn pair<A, B>(a: A, b: B, run: &RunManager) -> (A, B)
where
    A: Serialize + Send + Sync,
    B: Serialize + Send + Sync,
{
    let _ = run.run_id();
    (a, b)
}

struct Wrapper<T>(T);

impl<T: Serialize + Sync + Clone> Wrapper<T>
where
    T: Default,
{
    #[traced_run(kind = "tool")]
    fn get(&self) -> T {
        self.0.clone()
    }
}

fn main() {
    let none = CallbackManager::none();
    assert_eq!(first_word("hello world", none), "hello");
    assert_eq!(longest("a", "bb", none), "bb");
    assert_eq!(named("n", none), "n");
    assert_eq!(anonymous("ab", none), Some("a"));
    assert_eq!(split("a b", none).1, ["a", "b"]);
    assert_eq!(futures::executor::block_on(first_word_async("a b", none)), "a");
    let document = Document("the title".into());
    assert_eq!(document.title("x", none), "the title");
    assert_eq!(document.words(" ", none).count(), 2);
    assert_eq!(describe(3, "x", none), "x: 3");
    assert_eq!(largest::<_, 3>(&[1, 5, 2, 9], none), Some(5));
    assert_eq!(futures::executor::block_on(pair(1, "b", none)), (1, "b"));
    assert_eq!(Wrapper(7u8).get(none), 7);
    assert_eq!(Wrapper(String::new()).get(none), "");
}
