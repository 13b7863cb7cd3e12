use runtrace::prelude::*;

#[traced_run(kind = "tool", err(Json))]
fn parse(x: String) -> Result<u32, std::num::ParseIntError> {
    x.parse()
}

fn main() {}
