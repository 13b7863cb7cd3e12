use runtrace::prelude::*;

#[traced_run(kind = "llm", redact(pasword))]
fn login(user: String, password: String) -> bool {
    user.len() == password.len()
}

fn main() {}
