//! `crate = path` reaches runtrace through a re-export, for crates that depend on it under
//! another name.
mod deps {
    pub mod tracing_kit {
        pub use runtrace;
    }
}

use deps::tracing_kit::runtrace as rt;

#[rt::traced_run(kind = "tool", crate = deps::tracing_kit::runtrace)]
fn through_a_path(x: u32, run: &rt::RunManager) -> u32 {
    let _ = run;
    x + 1
}

#[rt::traced_run(crate = "crate::deps::tracing_kit::runtrace", metadata(n = 1), verbose = false)]
async fn through_a_string(x: u32) -> Result<u32, std::io::Error> {
    Ok(x + 1)
}

fn main() {
    let none = rt::CallbackManager::none();
    assert_eq!(through_a_path(1, none), 2);
    assert_eq!(futures::executor::block_on(through_a_string(1, none)).unwrap(), 2);
}
