//! Writes the end of a traced function whose run outlives the call: one returning a stream
//! (the run ends with the stream) or a boxed future (the run ends with the future).
//!
//! Either way the body has run, its panic handled, and `__runtrace_ret` holds what it made.
//! When no handler hears the run, a boxed stream or future is returned as it is; an
//! `impl Stream` is wrapped in `TracedStream`, whose unheard poll only forwards.

use proc_macro2::TokenStream;
use quote::quote;
use syn::Path;

use crate::attr::Options;
use crate::expand::{err_check, render_error, split, stopper, take_outcome};
use crate::respan::{call_about, call_as, extent, hidden, located};
use crate::valid::{self, Returns};

/// The stream `__runtrace_ret`, wrapped so that it ends the run (`ending` hands over the
/// guard); boxed again when the declared type is a boxed stream.
pub fn wrap(options: &Options, returns: &Returns, item: &Returns, ending: &TokenStream, krate: &Path) -> TokenStream {
    let guard = hidden("__runtrace_guard");
    let ret = hidden("__runtrace_ret");
    let output = output(options, krate);
    // Behind an alias the item type is unwritten, but the stream's own type names it, and
    // what is wrong with the item is reported on the alias.
    let named;
    let item = if !item.written && returns.nameable {
        let ret_ty = &returns.ty;
        let projection = located(quote!(<#ret_ty as #krate::__private::Stream>::Item), extent(ret_ty).0);
        named = Returns {
            ty: syn::parse_quote!(#projection),
            is_result: false,
            nameable: true,
            written: false,
            probed: true,
        };
        &named
    } else {
        item
    };
    let on_item = on_item(options, item, krate);
    // A handler's stop on an item's token or usage reaches the caller as an `Err` item when
    // the items are a `Result` whose error is `From<CallbackError>`: chosen by autoref on the
    // item type, as for a function's return type.
    let stop = stopper(item, krate);
    let traced = quote!(#krate::__private::traced_stream(#ending, #ret, #output, #on_item, #stop));
    // A type that can be named is a boxed stream's (an alias of one, with `stream`). The box
    // is the function's tail, which coerces it to the declared type: a type naming an opaque
    // item could not be written here.
    if !returns.nameable && !valid::boxed_stream(&returns.ty) {
        return traced;
    }
    quote! {
        if !#guard.is_recording() {
            return #ret;
        }
        ::std::boxed::Box::pin(#traced)
    }
}

/// How the stream's run records its output.
fn output(options: &Options, krate: &Path) -> TokenStream {
    let values = hidden("__runtrace_values");
    if options.skip_output.is_some() {
        quote!(#krate::__private::StreamOutput::Skip)
    } else if options.redact_output.is_some() {
        quote!(#krate::__private::StreamOutput::Redact)
    } else if let Some((_, reduce)) = &options.reduce {
        // Checked on the user's path, so a reduction whose output cannot be recorded is
        // reported there.
        let check = located(quote!(#krate::__private::output), extent(reduce).0);
        quote!(#krate::__private::StreamOutput::Reduce(|#values| {
            #krate::__private::Recorded::to_json(#check(&(#reduce)(#values)))
        }))
    } else {
        quote!(#krate::__private::StreamOutput::Items)
    }
}

/// The closure that records an item on the run: an `Err` item fails it; any other value
/// (an `Ok` value) is checked for recording, then sent as a token and kept for the output.
/// Items that may be `Result`s behind an alias (`SearchResult<Hit>`, or any item of a
/// stream behind an alias) are told apart by `ResultProbe`.
fn on_item(options: &Options, item: &Returns, krate: &Path) -> TokenStream {
    let run = hidden("__runtrace_run");
    let item_var = hidden("__runtrace_item");
    let value = hidden("__runtrace_value");
    let error = hidden("__runtrace_error");
    let recorded = hidden("__runtrace_recorded");
    let check = if options.skip_output.is_some() || options.redact_output.is_some() {
        quote!(#krate::__private::REDACTED)
    } else {
        let output = quote!(#krate::__private::output);
        match item.output_ty() {
            Some(ty) if !item.probed => call_as(output, ty, &value),
            // An item that may be a `Result` (or behind an alias, reported on the alias).
            _ => call_about(output, &value, &item.ty),
        }
    };
    let token = match &options.tokens {
        None => quote!(::core::option::Option::None),
        Some((name, None)) => {
            let token_text_of = quote!(#krate::__private::token_text_of);
            let text = match item.output_ty() {
                Some(ty) if !item.probed => call_as(token_text_of, ty, &value),
                _ => call_about(token_text_of, &value, name),
            };
            quote!(#text.as_deref())
        }
        Some((_, Some(path))) => {
            let text = located(quote!(#krate::__private::token_text_of), extent(path).0);
            quote!(#text(&(#path)(#value)).as_deref())
        }
    };
    let model = quote!({
        use #krate::__private::{IsModelOutput as _, NotModelOutput as _};
        (&#krate::__private::ModelProbe(#value)).model_output()
    });
    let record = quote!({
        let #recorded: &dyn #krate::__private::Recorded = #check;
        #run.item(#recorded, #token, #model);
    });
    let body = match split(item, &quote!(#item_var), krate) {
        Some(split) => {
            let mut render = render_error(options, item, krate);
            if item.probed {
                // Called, not passed, so that an error type that cannot be rendered is one
                // error, on the item type (the alias, when it is not written).
                let error = hidden("__runtrace_unseen_error");
                let call = call_about(render, &error, &item.ty);
                render = quote!(|#error| #call);
            }
            quote! {
                match #split {
                    ::core::result::Result::Ok(#value) => #record,
                    ::core::result::Result::Err(#error) => #run.fail(#error, #render),
                }
            }
        }
        None => quote!({ let #value = #item_var; #record }),
    };
    let err_check = err_check(options, item, krate);
    quote!(|#run: &mut #krate::__private::StreamRun, #item_var| { #err_check #body })
}

/// The boxed future `__runtrace_ret`, boxed again in one that ends the run when it finishes:
/// `end` ends it with the output, `panicked` when the future panics.
pub fn boxed_future(returns: &Returns, end: &TokenStream, panicked: &TokenStream, krate: &Path) -> TokenStream {
    let guard = hidden("__runtrace_guard");
    let ret = hidden("__runtrace_ret");
    let boxed = hidden("__runtrace_boxed");
    let outcome = hidden("__runtrace_outcome");
    let ret_ty = &returns.ty;
    let take_outcome = take_outcome(panicked);
    quote! {
        let #guard = #krate::__private::left(#guard);
        if !#guard.is_recording() {
            return #ret;
        }
        let #boxed: #ret_ty = ::std::boxed::Box::pin(async move {
            let #outcome = #krate::__private::in_run_span(&#guard, #krate::__private::CatchUnwind(#ret)).await;
            #take_outcome
            #end
            #ret
        });
        #boxed
    }
}
