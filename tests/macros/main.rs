//! `#[traced_run]`: its forms, its scoping, how its runs end, each of its options, its
//! compile-time contract (`ui`, checked by trybuild) and its expansion under
//! `clippy::pedantic` (`pedantic`). One module per concern, in one test binary so that it is
//! linked once.

#[path = "../common/mod.rs"]
mod common;

mod boxed_futures;
mod macro_ends;
mod macro_forms;
mod macro_scoping;
mod model_runs;
mod option_callbacks;
mod option_crate;
mod option_err;
mod option_kind;
mod option_metadata;
mod option_name;
mod option_output;
mod option_redact;
mod option_skip;
mod option_tags;
mod option_verbose;
mod pedantic;
mod recorded_values;
mod stack;
mod traced_streams;
mod tracing_bridge;
mod ui;
