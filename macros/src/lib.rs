//! placeholder docs
#![deny(missing_docs)]

mod attr;
mod expand;
mod valid;

use proc_macro::TokenStream;

/// Traces a function as a run.
#[proc_macro_attribute]
pub fn traced_run(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::traced_run(args.into(), item.into()).into()
}
