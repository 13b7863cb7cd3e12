use runtrace::prelude::*;

#[traced_run(kind = "tool", skip(password), redact(password))]
fn login(user: String, password: String) -> bool {
    user.len() == password.len()
}

fn main() {}
