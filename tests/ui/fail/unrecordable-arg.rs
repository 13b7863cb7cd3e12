use runtrace::prelude::*;

struct Connection;

#[traced_run(kind = "retriever")]
fn search(query: String, db: &Connection) -> Vec<String> {
    let _ = db;
    vec![query]
}

fn main() {}
