//! Writes the traced function: the body starts a run, runs the user's body (catching a
//! panic to report it), and ends the run; a handler that raises can stop it at either end.
//!
//! Every check that can fail on a user's value (an argument that cannot be recorded, a
//! `callbacks` expression of the wrong type, an error type that is not `Display`) is placed
//! on the user's tokens (see `respan`), so that rustc underlines the argument, the expression
//! or the type the user wrote, never the attribute.

use proc_macro2::{Delimiter, Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::{Ident, Path};

use crate::attr::{ErrRender, Options};
use crate::errors::Errors;
use crate::fallback;
use crate::respan::{call_about, call_as, call_on, extent, group, hidden, located, spread};
use crate::signature;
use crate::stream;
use crate::valid::{self, Item, Plan, Shape};

/// The whole attribute: parse, validate, expand; on error, the errors beside an untraced
/// copy of the function with the traced signature, so callers still type-check.
pub fn traced_run(args: TokenStream, input: TokenStream) -> TokenStream {
    let item = match Item::parse(input.clone()) {
        Ok(item) => item,
        Err(error) => return fallback::untouched(error, input),
    };
    let (options, mut errors) = match Options::parse_lenient(args) {
        Ok(parsed) => parsed,
        Err(syntax) => {
            let mut errors = Errors::default();
            errors.add(syntax);
            (Options::default(), errors)
        }
    };
    let krate = options.krate.clone().unwrap_or_else(|| syn::parse_quote!(::runtrace));
    // Validation runs even when an option was wrong, so that one compile shows every mistake.
    match valid::validate(item.clone(), options) {
        Ok(plan) if errors.is_empty() => expand(plan, &krate),
        plan => {
            errors.push(plan.map(drop));
            fallback::untraced(item, errors, &krate)
        }
    }
}

fn expand(plan: Plan, krate: &Path) -> TokenStream {
    let Plan { item, options, run_param, inputs, returns, shape } = plan;
    let Item { attrs, vis, mut sig, body } = item;
    let outlives_call = matches!(shape, Shape::Stream(_)) && !returns.nameable && sig.asyncness.is_none();
    let parent =
        signature::rewrite_signature(&mut sig, run_param.as_ref().map(|(index, _)| *index), outlives_call, krate);
    let Some(body) = body else {
        return quote!(#(#attrs)* #sig;);
    };

    let guard = hidden("__runtrace_guard");
    let ret = hidden("__runtrace_ret");
    let outcome = hidden("__runtrace_outcome");

    // `Box::pin(async move { .. })` (an `async fn` after `#[async_trait]`) is traced as the
    // async fn it was: its run starts at the call, and ends in the future.
    let pinned = match &shape {
        Shape::BoxedFuture(output) => valid::pinned_async(&body).map(|block| (output, block)),
        _ => None,
    };
    let is_async = sig.asyncness.is_some() || pinned.is_some();
    // What the body's value is to the run: the future's output for a pinned async block.
    let (value, shape) = match pinned {
        Some((output, _)) => (output, &Shape::Value),
        None => (&returns, &shape),
    };

    // The start's stop returns early from the function itself, with its declared type. When
    // the end's does too, both take one binding of it: each instance of its choice is code
    // in every traced function of a debug build.
    let (start_stop, end_stop, shared_stop) = if matches!(shape, Shape::Value) && pinned.is_none() {
        let stop = hidden("__runtrace_stop");
        let stopper = stopper(&returns, krate);
        (quote!(#stop), quote!(#stop), Some(quote!(let #stop = #stopper;)))
    } else {
        (stopper(&returns, krate), stopper(value, krate), None)
    };
    let start = start(&options, &sig, is_async, &inputs, &parent, &start_stop, krate);
    let ret_ty = &value.ty;
    let bind_run = run_param.map(|(_, pat)| {
        let run_ty = located(quote!(&#krate::__private::RunManager), pat.ident.span());
        quote!(let #pat: #run_ty = &#guard;)
    });

    // The closure and the async block take the span of the user's body: clippy skips code it
    // sees as generated, and would otherwise no longer lint a needless `return` in the body.
    let (stmts, body_span) = match pinned {
        Some((_, block)) => (&block.block.stmts, block.block.brace_token.span.join()),
        None => (&body.stmts, body.brace_token.span.join()),
    };
    let call = if is_async {
        // An async block's output is inferred from its body, so a mismatch would be reported
        // on the block, in our code. A `return` of the declared type before the body fixes
        // the output first, and the body's own returns are checked against it, where the
        // user wrote them (the edge `async-trait` uses).
        let edge = value.nameable.then(|| {
            quote! {
                #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::needless_return)]
                if let ::core::option::Option::Some(#ret) = ::core::option::Option::None::<#ret_ty> {
                    return #ret;
                }
            }
        });
        // The block goes straight into `CatchUnwind`, which the `.await` pins in place: a
        // `let` of it, or a pinned reference, would keep a second slot for it in the future.
        // It takes the body's statements, not the body: the user's braces inside ours would
        // be a needless block to `unused_braces`, which the user's own code must keep.
        let block = quote_spanned!(body_span=> async move { #edge #(#stmts)* });
        // Each poll enters the run's span, when a `TracingBridge` made one; outside
        // `CatchUnwind`, so that a panic is caught before it would unwind past the span.
        quote!(#krate::__private::in_run_span(&#guard, #krate::__private::CatchUnwind(#block)).await)
    } else {
        let closure = quote_spanned!(body_span=> move || #body);
        let closure =
            if value.nameable { quote!(#krate::__private::typed_fn::<#ret_ty, _>(#closure)) } else { closure };
        quote!(::std::panic::catch_unwind(::core::panic::AssertUnwindSafe(#closure)))
    };

    // A sync body's run leaves its span (see `__private::entered`) before the run ends.
    let (ending, end_fn) = if is_async {
        (quote!(#guard), quote!(#krate::__private::end))
    } else {
        (quote!(#krate::__private::left(#guard)), quote!(#krate::__private::end_sync))
    };
    let panicked = on_panic(&options, &ending, krate);
    let finish = match shape {
        Shape::Value => {
            let end = end(&options, value, &end_fn, &end_stop, krate);
            quote!(#end #ret)
        }
        Shape::Stream(item) => stream::wrap(&options, value, item, &ending, krate),
        Shape::BoxedFuture(output) => {
            let end = end(&options, output, &quote!(#krate::__private::end), &stopper(output, krate), krate);
            let panicked = on_panic(&options, &quote!(#guard), krate);
            stream::boxed_future(value, &end, &panicked, krate)
        }
    };
    // An async fn's body never trips this lint, but the async block made of it would when
    // the function returns a future (`async fn f() -> impl Future`).
    let allow_block = is_async.then(|| quote!(#[allow(clippy::async_yields_async)]));
    let traced = if is_async {
        let take_outcome = take_outcome(&panicked);
        quote! {
            #bind_run
            #allow_block
            let #outcome = #call;
            #take_outcome
            #finish
        }
    } else {
        // A panic ends the run and is resumed out of line (`__private::resume`).
        let redact = options.err.as_ref().is_some_and(|(render, _)| *render == ErrRender::Redact);
        quote! {
            #bind_run
            let #outcome = #call;
            let #ret = match #outcome {
                ::core::result::Result::Ok(#ret) => #ret,
                ::core::result::Result::Err(#outcome) => #krate::__private::resume(#guard, #outcome, #redact),
            };
            #finish
        }
    };
    let err_check = match shape {
        Shape::Value => err_check(&options, value, krate),
        Shape::BoxedFuture(output) => err_check(&options, output, krate),
        // On each item, in the stream's own code.
        Shape::Stream(_) => None,
    };
    let block = if pinned.is_some() {
        quote!({ #err_check #start ::std::boxed::Box::pin(async move { #traced }) })
    } else {
        quote!({ #err_check #shared_stop #start #traced })
    };
    quote!(#(#attrs)* #vis #sig #block)
}

/// `err(..)` where the run ends with a value of a type not written as a `Result` (`ends`: the
/// value, a boxed future's output, a stream's item) but may be one: a check, on the option,
/// that the type is one. A type that cannot be named goes unchecked.
pub(crate) fn err_check(options: &Options, ends: &valid::Returns, krate: &Path) -> Option<TokenStream> {
    let (render, err) = options.err.as_ref()?;
    if *render == ErrRender::Redact || !ends.probed || !ends.nameable {
        return None;
    }
    let ty = &ends.ty;
    let check = located(quote!(#krate::__private::returns_result::<#ty>), extent(err).0);
    Some(quote!(let _ = #check;))
}

/// `let ret = ..;`: the body's value from its `outcome`, or, after `panicked` ended the run,
/// its panic resumed.
pub(crate) fn take_outcome(panicked: &TokenStream) -> TokenStream {
    let ret = hidden("__runtrace_ret");
    let outcome = hidden("__runtrace_outcome");
    let panic = hidden("__runtrace_panic");
    quote! {
        let #ret = match #outcome {
            ::core::result::Result::Ok(#ret) => #ret,
            ::core::result::Result::Err(#panic) => {
                #panicked;
                ::std::panic::resume_unwind(#panic)
            }
        };
    }
}

/// Ends the run of `guard` on a panic (its payload in `panic`), by `ending` it first.
fn on_panic(options: &Options, ending: &TokenStream, krate: &Path) -> TokenStream {
    let panic = hidden("__runtrace_panic");
    if options.err.as_ref().is_some_and(|(render, _)| *render == ErrRender::Redact) {
        quote!(#krate::__private::panicked_redacted(#ending))
    } else {
        quote!(#ending.panicked(&*#panic))
    }
}

/// Ends the run with the value `ret` holds, by `end_fn`, returning early when a handler's
/// stop there reaches the caller. The check is inline (`__private::heard`); the end event,
/// and that stop, are made out of line: see `__private::outline`.
fn end(
    options: &Options,
    returns: &valid::Returns,
    end_fn: &TokenStream,
    stopper: &TokenStream,
    krate: &Path,
) -> TokenStream {
    let guard = hidden("__runtrace_guard");
    let ret = hidden("__runtrace_ret");
    let error = hidden("__runtrace_error");
    let early = hidden("__runtrace_early");
    let value = hidden("__runtrace_value");
    // A type not written as a `Result` may still be one, behind an alias (`ApiResult<T>`):
    // `ResultProbe` tells at compile time.
    let probed = returns.probed;
    let end_ok = end_ok(options, returns, probed, &guard, &value, krate);
    let end = match split(returns, &quote!(&#ret), krate) {
        Some(split) => {
            let mut render = render_error(options, returns, krate);
            if probed {
                // On the declared type, where an error that cannot be rendered is reported.
                let (first, last) = extent(&returns.ty);
                render = spread(render, first, last);
            }
            quote! {
                match #split {
                    ::core::result::Result::Ok(#value) => #end_ok,
                    ::core::result::Result::Err(#error) => #krate::__private::fail(#guard, #error, #render),
                }
            }
        }
        None => quote!({ let #value = &#ret; #end_ok }),
    };
    quote! {
        if let ::core::option::Option::Some(#guard) = #krate::__private::heard(#guard) {
            if let ::core::option::Option::Some(#early) = #end_fn(#guard, &mut |#guard: #krate::__private::RunGuard| #end, #stopper) {
                return #early;
            }
        }
    }
}

/// What a handler's stop becomes, as a function of the `CallbackError` made once per return
/// type (for `__private::outline`, `__private::end` and a traced stream's items):
/// `Ok(the early return)` when the function returns a `Result` whose error is
/// `From<CallbackError>`, else `Err(error)`, to be reported. The choice is made by autoref on
/// the return type, since a macro cannot see trait impls; a type it cannot name always
/// reports.
pub(crate) fn stopper(returns: &valid::Returns, krate: &Path) -> TokenStream {
    let ret_ty = &returns.ty;
    if returns.nameable {
        quote! {{
            #[allow(unused_imports)]
            use #krate::__private::{StopByReporting as _, StopByReturning as _};
            (&#krate::__private::Stop::<#ret_ty>::NEW).stopper()
        }}
    } else {
        quote!(#krate::__private::reported)
    }
}

/// `let guard = ...;`: the run's spec, its inputs, and the start, returning early when a
/// handler that raises refused the start and the function can say so.
fn start(
    options: &Options,
    sig: &syn::Signature,
    is_async: bool,
    inputs: &[valid::Input],
    parent: &TokenStream,
    stopper: &TokenStream,
    krate: &Path,
) -> TokenStream {
    let guard = hidden("__runtrace_guard");
    let early = hidden("__runtrace_early");
    let spec = hidden("__runtrace_spec");
    let callbacks = hidden("__runtrace_callbacks");
    let parent_var = hidden("__runtrace_parent");
    let verbose_var = hidden("__runtrace_verbose");

    let kind =
        options.kind.as_ref().map_or_else(|| Ident::new("Chain", Span::call_site()), |(variant, _)| variant.clone());
    let name = match (&options.name, sig.receiver()) {
        (Some(name), _) => quote!(#krate::__private::RunName::Static(#name)),
        (None, None) => {
            let name = unraw(&sig.ident);
            quote!(#krate::__private::RunName::Static(#name))
        }
        (None, Some(_)) => {
            let method = unraw(&sig.ident);
            quote!(#krate::__private::RunName::Method {
                type_name: ::core::any::type_name::<Self>,
                method: #method,
                cache: {
                    static NAME: #krate::__private::NameCache = #krate::__private::NameCache::new();
                    &NAME
                },
            })
        }
    };
    let tags = options.tags.iter().flatten();
    // `model = expr` and `provider = expr` are evaluated only when a handler hears the run,
    // each checked on the user's expression for `Display`.
    let model = if options.model.is_none() && options.provider.is_none() {
        quote!(::core::option::Option::None)
    } else {
        let name = |option: &Option<(Ident, syn::Expr)>| match option {
            Some((_, expr)) => {
                let text = call_on(quote!(#krate::__private::model_name), expr);
                quote!(::core::option::Option::Some(#text))
            }
            None => quote!(::core::option::Option::None),
        };
        let (model, provider) = (name(&options.model), name(&options.provider));
        quote!(::core::option::Option::Some(&|| #krate::__private::model_request(#model, #provider)))
    };
    let metadata = match &options.metadata {
        Some(entries) => {
            let entries = entries.iter().map(|(key, value)| {
                let key = unraw(key);
                let record = call_on(quote!(#krate::__private::metadata), value);
                quote!((#key, #record))
            });
            quote!(::core::option::Option::Some(&|| ::std::vec![#(#entries),*]))
        }
        None => quote!(::core::option::Option::None),
    };
    // `callbacks = expr` is checked by a typed `let`, so a value of another type is reported
    // on the expression, against the type it should have.
    let (bind_callbacks, callbacks_field) = match &options.callbacks {
        Some(expr) => {
            let (first, last) = extent(expr);
            let ty = spread(quote!(&#krate::__private::CallbackManager), first, last);
            let borrow = spread(quote!(&), first, first);
            let expr = group(Delimiter::Parenthesis, expr.to_token_stream(), last);
            (quote!(let #callbacks: #ty = #borrow #expr;), quote!(::core::option::Option::Some(#callbacks)))
        }
        None => (TokenStream::new(), quote!(::core::option::Option::None)),
    };
    // Bound by a typed `let`, so a `verbose` that is not a `bool` is reported on the
    // expression; bound once, as both the check and the spec read it.
    let (bind_verbose, verbose) = match &options.verbose {
        Some(expr) => {
            let (first, last) = extent(expr);
            let ty = spread(quote!(bool), first, last);
            let expr = group(Delimiter::Parenthesis, expr.to_token_stream(), last);
            (quote!(let #verbose_var: #ty = #expr;), quote!(#verbose_var))
        }
        None => (TokenStream::new(), quote!(false)),
    };

    let mut bind_inputs = Vec::new();
    let entries = inputs.iter().enumerate().map(|(index, input)| {
        let ident = &input.ident;
        let name = unraw(ident);
        let cfgs = &input.cfgs;
        let value = if input.redacted {
            quote!(#krate::__private::REDACTED)
        } else {
            // Checked (and erased to a `Sync` trait object) before the list of inputs, so an
            // argument that cannot be recorded is reported once, on its name. The type is
            // named in the call when it can be, so rustc reports it on the user's tokens of
            // that type.
            let erased = format_ident!("__runtrace_input_{}", index, span = Span::mixed_site());
            let check = match &input.ty {
                Some(ty) => {
                    let path = located(quote!(#krate::__private::input::), extent(ty).0);
                    quote!(#path<#ty>(&#ident))
                }
                None => located(quote!(#krate::__private::input(&#ident)), ident.span()),
            };
            bind_inputs.push(quote!(#(#cfgs)* let #erased = #check;));
            quote!(#erased)
        };
        quote!(#(#cfgs)* (#name, #value))
    });
    let entries: Vec<TokenStream> = entries.collect();
    // A sync body's run enters its span here, on the heard path only, and leaves it when it
    // ends (`__private::end_sync`, `__private::resume`); an async body enters it at each poll.
    let start = quote!(#krate::__private::start(#parent_var, #spec, &[#(#entries),*]));
    let started = if is_async { start } else { quote!(#start.map(#krate::__private::entered)) };

    // The check inline; the spec, the inputs and the start out of line (see
    // `__private::outline`), so the traced function's frame does not hold them. The spec is
    // built in the call, so that rustc makes a constant of it when every option is one.
    quote! {
        let #guard = {
            let #parent_var: &#krate::__private::CallbackManager = #parent;
            #bind_callbacks
            #bind_verbose
            if #krate::__private::unheard(#parent_var, #callbacks_field, #verbose) {
                #krate::__private::RunGuard::noop()
            } else {
                match #krate::__private::outline(&mut |(): ()| {
                    #(#bind_inputs)*
                    let #spec = &#krate::__private::RunSpec {
                        kind: #krate::__private::RunKind::#kind,
                        name: #name,
                        tags: &[#(#tags),*],
                        metadata: #metadata,
                        callbacks: #callbacks_field,
                        verbose: #verbose,
                        model: #model,
                    };
                    #started
                }, #stopper) {
                    ::core::result::Result::Ok(#guard) => #guard,
                    ::core::result::Result::Err(#early) => return #early,
                }
            }
        };
    }
}

/// `value` (of the type `returns` describes) as a `Result` to match on: itself when written
/// as one, split by `ResultProbe` into `Ok(value)` or `Err(error)` when it may be one behind
/// an alias; `None` when it plainly is none.
pub(crate) fn split(returns: &valid::Returns, value: &TokenStream, krate: &Path) -> Option<TokenStream> {
    if returns.is_result {
        Some(value.clone())
    } else if returns.probed {
        Some(quote!({
            #[allow(unused_imports)]
            use #krate::__private::{SplitPlain as _, SplitResult as _};
            (&#krate::__private::ResultProbe(#value)).split()
        }))
    } else {
        None
    }
}

/// Ends the run with `value`, the `Ok` value or the whole value returned; `probed` when its
/// type was read through `ResultProbe`, so that it is not the declared type.
fn end_ok(
    options: &Options,
    returns: &valid::Returns,
    probed: bool,
    guard: &Ident,
    value: &Ident,
    krate: &Path,
) -> TokenStream {
    // A returned value that knows its model usage and response (a `ModelOutput`) hands them
    // to the run, whatever the output recording: picked at compile time by autoref.
    let model_output = quote!({
        use #krate::__private::{IsModelOutput as _, NotModelOutput as _};
        (&#krate::__private::ModelProbe(#value)).model_output()
    });
    if options.skip_output.is_some() {
        return quote!(#krate::__private::end_output(#guard, &(), #model_output));
    }
    if options.redact_output.is_some() {
        return quote!(#krate::__private::end_output(#guard, #krate::__private::REDACTED, #model_output));
    }
    // Checked against the declared output type, named in the call, so that rustc reports a
    // type that cannot be recorded on the user's own tokens of that type.
    let output = quote!(#krate::__private::output);
    let check = match returns.output_ty() {
        Some(ty) if probed => call_about(output, value, ty),
        Some(ty) => call_as(output, ty, value),
        None => quote!(#output(#value)),
    };
    quote!(#krate::__private::end_output(#guard, #check, #model_output))
}

/// The function that renders the error of an `Err`: a function, not a closure, so that
/// what renders it is made once per error type. It is named on the declared error type,
/// where an error type that cannot be rendered is reported.
pub(crate) fn render_error(options: &Options, returns: &valid::Returns, krate: &Path) -> TokenStream {
    let function = match options.err.as_ref().map(|(render, _)| *render) {
        Some(ErrRender::Debug) => quote!(#krate::__private::debug_error),
        Some(ErrRender::Redact) => quote!(#krate::__private::redacted_error),
        Some(ErrRender::Display) | None => quote!(#krate::__private::display_error),
    };
    // Named with its type when written, so an error type that cannot be rendered is reported
    // on the user's tokens of that type.
    match returns.error_ty() {
        Some(ty) => {
            let (first, _) = extent(ty);
            let function = located(quote!(#function::), first);
            quote!(#function<#ty>)
        }
        None => function,
    }
}

/// An identifier's name without its `r#`.
fn unraw(ident: &Ident) -> String {
    let name = ident.to_string();
    name.strip_prefix("r#").map_or_else(|| name.clone(), ToOwned::to_owned)
}
