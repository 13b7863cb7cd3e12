use runtrace::prelude::*;

#[traced_run(kind = "tool")]
fn calculator(expr: String) -> f64 {
    if expr.is_empty() {
        return 0.0;
    }
    expr.len()
}

#[traced_run(kind = "tool")]
async fn fetch(url: String) -> Result<String, std::io::Error> {
    if url.is_empty() {
        return Ok(String::new());
    }
    Ok(url.len())
}

fn main() {}
