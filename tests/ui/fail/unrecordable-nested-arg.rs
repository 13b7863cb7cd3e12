use runtrace::prelude::*;

pub trait Tool {}

#[traced_run(kind = "agent")]
fn plan(goal: String, tools: &[Box<dyn Tool>]) -> usize {
    goal.len() + tools.len()
}

fn main() {}
