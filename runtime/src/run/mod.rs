//! Runs: the managers that start them ([`CallbackManager`]), the handle of a started run
//! ([`RunManager`]) and the guard that ends it ([`RunGuard`]), what a run can start from
//! ([`AsParent`]), and the ambient trace scopes that add handlers to runs started inside them.
//!
//! The hot path is here: a run start asks "does anyone listen?" first, and draws an id,
//! reads a clock or makes a payload only after it says yes.

pub(crate) mod ambient;
mod callback_manager;
mod callbacks;
mod model;
mod parent;
mod run_guard;
mod run_manager;
mod spare_states;
mod start;
mod supplied_id;

pub use ambient::{install_process_handlers, scoped_callbacks};
pub use callback_manager::CallbackManager;
pub use parent::AsParent;
pub use run_guard::RunGuard;
pub(crate) use run_manager::HeardRun;
pub use run_manager::RunManager;
