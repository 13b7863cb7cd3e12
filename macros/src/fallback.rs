//! What is emitted when `#[traced_run]` reports an error: the `compile_error!`s beside the
//! user's item, so that the rest of the user's code does not drown in follow-on errors and
//! rust-analyzer keeps completing.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{FnArg, Path};

use crate::errors::Errors;
use crate::signature::{self, Manager};
use crate::valid::Item;

/// The attribute is not on a function: the item goes out as it came in.
pub fn untouched(error: syn::Error, input: TokenStream) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#error #input)
}

/// The function untraced but with its traced signature, so that its callers and its body
/// still type-check, no warning follows from the rewrite, and rust-analyzer keeps working.
pub fn untraced(item: Item, errors: Errors, krate: &Path) -> TokenStream {
    let error = errors.finish().err().map(|error| error.to_compile_error());
    let Item { attrs, vis, mut sig, body } = item;
    let mut runs = Vec::new();
    let mut takes_callbacks = false;
    for (index, arg) in sig.inputs.iter_mut().enumerate() {
        let FnArg::Typed(typed) = arg else { continue };
        match (signature::manager_type(&typed.ty), &mut *typed.pat) {
            (Some(Manager::Run), syn::Pat::Ident(pat)) => {
                // The parameter is only read; the binding that shadows it keeps the `mut`.
                runs.push((index, pat.mutability.take(), pat.ident.clone()));
            }
            (Some(Manager::Callback), _) => takes_callbacks = true,
            _ => {}
        }
    }
    // A function that already takes a `&CallbackManager` (a mistake reported beside) keeps
    // its arity, so its callers raise no second error.
    if !(runs.is_empty() && takes_callbacks) {
        signature::rewrite_signature(&mut sig, runs.first().map(|(index, ..)| *index), false, krate);
    }
    let Some(mut body) = body else {
        return quote!(#error #(#attrs)* #vis #sig;);
    };
    // Each run manager parameter is read (the rewritten one is now the parent) and shadowed
    // by a manager the body can use. The bindings go into the user's braces: braces of ours
    // around them would be needless to `unused_braces`.
    let binds = runs.iter().map(|(_, mutability, ident)| {
        syn::parse_quote!(let #mutability #ident: &#krate::__private::RunManager = { let _ = #ident; &#krate::__private::RunManager::noop() };)
    });
    body.stmts.splice(0..0, binds);
    quote!(#error #(#attrs)* #vis #sig #body)
}
