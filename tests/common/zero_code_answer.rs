//! The traced call of the exporter crates' zero-code tests (`otel/tests`, `langsmith/tests`),
//! each a binary of its own, as a switch is read once per process: two runs, a chain and the
//! tool it calls.

use runtrace::prelude::*;

#[traced_run(kind = "tool")]
fn calculator(expr: String) -> f64 {
    expr.split('+').filter_map(|n| n.trim().parse::<f64>().ok()).sum()
}

#[traced_run(kind = "chain")]
pub fn answer(question: String, run: &RunManager) -> String {
    format!("{question} {}", calculator("2 + 2".into(), run))
}
