use runtrace::prelude::*;

fn text(word: &String) -> &str {
    word
}

#[traced_run(tokens = text, reduce = join)]
fn answer() -> Vec<String> {
    vec!["4".to_owned()]
}

fn main() {}
