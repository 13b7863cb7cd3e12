use runtrace::prelude::*;

struct Calculator;

#[traced_run(kind = "tool")]
impl Calculator {
    fn add(&self, a: f64, b: f64) -> f64 {
        a + b
    }
}

fn main() {
    let _ = Calculator.add(1.0, 2.0);
}
