use runtrace::prelude::*;

#[derive(Debug)]
struct Refused(String);

#[traced_run(kind = "tool", redact(api_key), err(redacted))]
fn rotate(api_key: String) -> Result<String, Refused> {
    Err(Refused(api_key))
}

fn main() {}
