//! The handler traits: what a callback handler implements, sync or async, and the events it
//! can opt out of.

mod async_callback;
mod callback;
mod error;
mod ignore;

pub use async_callback::{AsyncCallbackHandler, BoxFuture};
pub use callback::CallbackHandler;
pub use error::{HandlerError, HandlerResult};
pub use ignore::Ignore;
