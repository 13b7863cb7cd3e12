//! Writes the traced function: the signature takes the parent manager, the body starts a
//! run, runs the user's body (catching a panic to report it), and ends the run.
//!
//! Every check that can fail on a user's value (an argument that cannot be recorded, a
//! `callbacks` expression of the wrong type, an error type that is not `Display`) is placed
//! on the user's tokens: the generated call or type annotation is given their location (with
//! our own hygiene), so that rustc underlines the argument, the expression or the type the
//! user wrote, never the attribute.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::{FnArg, Ident, Lifetime, Path, Type};

use crate::attr::{ErrRender, Errors, Options};
use crate::valid::{self, Item, Manager, Plan};

/// The whole attribute: parse, validate, expand; on error, the errors beside an untraced
/// copy of the function with the traced signature, so callers still type-check.
pub fn traced_run(args: TokenStream, input: TokenStream) -> TokenStream {
    let item = match parse_item(input.clone()) {
        Ok(item) => item,
        Err(error) => {
            let error = error.to_compile_error();
            return quote!(#error #input);
        }
    };
    let fallback_item =
        Item { attrs: item.attrs.clone(), vis: item.vis.clone(), sig: item.sig.clone(), body: item.body.clone() };
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
    match valid::validate(item, options) {
        Ok(plan) if errors.is_empty() => expand(plan, &krate),
        plan => {
            errors.push(plan.map(drop));
            let error = errors.finish().err().map(|error| error.to_compile_error());
            let fallback = fallback(fallback_item, &krate);
            quote!(#error #fallback)
        }
    }
}

fn parse_item(input: TokenStream) -> syn::Result<Item> {
    if let Ok(item) = syn::parse2::<syn::ItemFn>(input.clone()) {
        return Ok(Item { attrs: item.attrs, vis: item.vis, sig: item.sig, body: Some(item.block) });
    }
    if let Ok(item) = syn::parse2::<syn::TraitItemFn>(input.clone()) {
        return Ok(Item {
            attrs: item.attrs,
            vis: syn::Visibility::Inherited,
            sig: item.sig,
            body: item.default.map(Box::new),
        });
    }
    let what = match syn::parse2::<syn::Item>(input.clone()) {
        Ok(syn::Item::Struct(_)) => "a struct",
        Ok(syn::Item::Enum(_)) => "an enum",
        Ok(syn::Item::Impl(_)) => "an impl block: put it on the methods inside",
        Ok(syn::Item::Trait(_)) => "a trait: put it on the methods inside",
        Ok(syn::Item::Mod(_)) => "a module",
        Ok(syn::Item::Const(_) | syn::Item::Static(_)) => "a constant or static",
        _ => "this item",
    };
    let first =
        input.into_iter().find(|token| !matches!(token, proc_macro2::TokenTree::Punct(p) if p.as_char() == '#'));
    let span = first.map_or_else(Span::call_site, |token| token.span());
    Err(syn::Error::new(span, format!("#[traced_run] goes on a function, not on {what}")))
}

/// A name for generated code that the user's body cannot see or shadow.
fn hidden(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

fn expand(plan: Plan, krate: &Path) -> TokenStream {
    let Plan { item, options, run_param, inputs, returns } = plan;
    let Item { attrs, vis, mut sig, body } = item;
    let parent = rewrite_signature(&mut sig, run_param.as_ref().map(|(index, _)| *index), krate);
    let Some(body) = body else {
        return quote!(#(#attrs)* #sig;);
    };

    let guard = hidden("__runtrace_guard");
    let ret = hidden("__runtrace_ret");
    let outcome = hidden("__runtrace_outcome");
    let error = hidden("__runtrace_error");
    let early = hidden("__runtrace_early");
    let panic = hidden("__runtrace_panic");
    let value = hidden("__runtrace_value");

    let ret_ty = &returns.ty;
    let stop = if returns.nameable {
        quote! {{
            #[allow(unused_imports)]
            use #krate::__private::{StopByReporting as _, StopByReturning as _};
            (&#krate::__private::Stop::<#ret_ty>::new()).stop(#error)
        }}
    } else {
        quote!(::core::result::Result::Err(#error))
    };
    let start = start(&options, &sig, &inputs, &parent, &stop, krate);
    let bind_run = run_param.map(|(_, pat)| {
        let run_ty = located(quote!(&#krate::RunManager), pat.ident.span());
        quote!(let #pat: #run_ty = &#guard;)
    });

    // The closure and the async block take the span of the user's body: clippy skips code it
    // sees as generated, and would otherwise no longer lint a needless `return` in the body.
    let body_span = body.brace_token.span.join();
    let call = if sig.asyncness.is_some() {
        // An async block's output is inferred from its body, so a mismatch would be reported
        // on the block, in our code. A `return` of the declared type before the body fixes
        // the output first, and the body's own returns are checked against it, where the
        // user wrote them (the edge `async-trait` uses).
        let edge = returns.nameable.then(|| {
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
        let stmts = &body.stmts;
        let block = quote_spanned!(body_span=> async move { #edge #(#stmts)* });
        quote!(#krate::__private::CatchUnwind(#block).await)
    } else {
        let closure = quote_spanned!(body_span=> move || #body);
        let closure =
            if returns.nameable { quote!(#krate::__private::typed_fn::<#ret_ty, _>(#closure)) } else { closure };
        quote!(::std::panic::catch_unwind(::core::panic::AssertUnwindSafe(#closure)))
    };

    let end_ok = end_ok(&options, &returns, &guard, &value, krate);
    let end = if returns.is_result {
        let render = render_error(&options, &returns, krate);
        quote! {
            match &#ret {
                ::core::result::Result::Ok(#value) => #end_ok,
                ::core::result::Result::Err(#error) => #krate::__private::fail(#guard, #error, #render),
            }
        }
    } else {
        quote!({ let #value = &#ret; #end_ok })
    };

    // An async fn's body never trips this lint, but the async block made of it would when
    // the function returns a future (`async fn f() -> impl Future`).
    let allow_block = sig.asyncness.is_some().then(|| quote!(#[allow(clippy::async_yields_async)]));
    let block = quote! {{
        #start
        #bind_run
        #allow_block
        let #outcome = #call;
        let #ret = match #outcome {
            ::core::result::Result::Ok(#ret) => #ret,
            ::core::result::Result::Err(#panic) => {
                #guard.panicked(&*#panic);
                ::std::panic::resume_unwind(#panic)
            }
        };
        if let ::core::result::Result::Err(#error) = #end {
            if let ::core::option::Option::Some(#early) = #krate::__private::stopped(#stop) {
                return #early;
            }
        }
        #ret
    }};
    quote!(#(#attrs)* #vis #sig #block)
}

/// `let guard = ...;`: the run's spec, its inputs, and the start, returning early when a
/// handler that raises refused the start and the function can say so.
fn start(
    options: &Options,
    sig: &syn::Signature,
    inputs: &[valid::Input],
    parent: &TokenStream,
    stop: &TokenStream,
    krate: &Path,
) -> TokenStream {
    let guard = hidden("__runtrace_guard");
    let error = hidden("__runtrace_error");
    let early = hidden("__runtrace_early");
    let spec = hidden("__runtrace_spec");
    let callbacks = hidden("__runtrace_callbacks");

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
            let ty = spread(quote!(&#krate::CallbackManager), first, last);
            let borrow = spread(quote!(&), first, first);
            let expr = group(Delimiter::Parenthesis, expr.to_token_stream(), last);
            (quote!(let #callbacks: #ty = #borrow #expr;), quote!(::core::option::Option::Some(#callbacks)))
        }
        None => (TokenStream::new(), quote!(::core::option::Option::None)),
    };
    // A struct field is typed: a `verbose` that is not a `bool` is reported on the expression.
    let verbose = match &options.verbose {
        Some(expr) => expr.to_token_stream(),
        None => quote!(false),
    };

    let mut bind_inputs = Vec::new();
    let entries = inputs.iter().enumerate().map(|(index, input)| {
        let ident = &input.ident;
        let name = unraw(ident);
        let cfgs = &input.cfgs;
        let value = if input.redacted {
            quote!(#krate::__private::REDACTED)
        } else {
            // Checked (and erased to a `Sync` trait object) outside the closure that lists the
            // inputs, so an argument that cannot be recorded is reported once, on its name.
            // The type is named in the call when it can be, so rustc reports it on the user's
            // tokens of that type.
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

    quote! {
        let #guard = {
            #bind_callbacks
            #(#bind_inputs)*
            let #spec = #krate::__private::RunSpec {
                kind: #krate::__private::RunKind::#kind,
                name: #name,
                tags: &[#(#tags),*],
                metadata: #metadata,
                callbacks: #callbacks_field,
                verbose: #verbose,
            };
            match #krate::__private::start(#parent, &#spec, move || [#(#entries),*]) {
                ::core::result::Result::Ok(#guard) => #guard,
                ::core::result::Result::Err(#error) => match #krate::__private::stopped(#stop) {
                    ::core::option::Option::Some(#early) => return #early,
                    ::core::option::Option::None => #krate::__private::RunGuard::noop(),
                },
            }
        };
    }
}

/// Ends the run with the value `value` refers to (the `Ok` value of a `Result`), recorded as
/// `skip_output` / `redact_output` say.
fn end_ok(options: &Options, returns: &valid::Returns, guard: &Ident, value: &Ident, krate: &Path) -> TokenStream {
    if options.skip_output.is_some() {
        return quote!({ let _ = #value; #guard.end_with(&|| #krate::__private::Value::Null) });
    }
    if options.redact_output.is_some() {
        return quote!({ let _ = #value; #guard.end_with(&|| #krate::__private::Recorded::to_json(#krate::__private::REDACTED)) });
    }
    // Checked against the declared output type, named in the call, so that rustc reports a
    // type that cannot be recorded on the user's own tokens of that type.
    let output = hidden("__runtrace_output");
    let check = match returns.output_ty() {
        Some(ty) => {
            let (first, _) = extent(ty);
            let path = located(quote!(#krate::__private::output::), first);
            quote!(#path<#ty>(#value))
        }
        None => quote!(#krate::__private::output(#value)),
    };
    quote!({
        let #output = #check;
        #guard.end_with(&|| #krate::__private::Recorded::to_json(#output))
    })
}

/// The closure that renders the error of an `Err`. Its call is placed on the declared error
/// type, where an error type that cannot be rendered is reported.
fn render_error(options: &Options, returns: &valid::Returns, krate: &Path) -> TokenStream {
    let error = hidden("__runtrace_error");
    let function = match options.err.as_ref().map(|(render, _)| *render) {
        Some(ErrRender::Debug) => quote!(#krate::__private::debug_error),
        _ => quote!(#krate::__private::display_error),
    };
    // Named in the call when written, so an error type that cannot be rendered is reported on
    // the user's tokens of that type.
    let call = match returns.error_ty() {
        Some(ty) => {
            let (first, _) = extent(ty);
            let function = located(quote!(#function::), first);
            quote!(#function<#ty>(#error))
        }
        None => quote!(#function(#error)),
    };
    quote!(|#error| #call)
}

/// Turns the `run: &RunManager` parameter into the parent parameter callers pass (or adds
/// one, `callbacks`) and returns the expression of the manager to start the run from.
fn rewrite_signature(sig: &mut syn::Signature, run_param: Option<usize>, krate: &Path) -> TokenStream {
    // Methods take a plain `&CallbackManager`, which keeps traits with traced methods
    // object-safe; other functions take any parent, a manager by value included. (A `const`
    // or `extern` fn is an error reported beside; its fallback keeps the plain reference,
    // which adds no error of its own.)
    let generic = sig.receiver().is_none() && sig.constness.is_none() && sig.abi.is_none();
    if let Some(index) = run_param {
        if let Some(FnArg::Typed(typed)) = sig.inputs.iter_mut().nth(index) {
            if let (Type::Reference(_), syn::Pat::Ident(pat)) = (&*typed.ty, &mut *typed.pat) {
                // The parent is only read; the body's `mut run` is the binding made for it.
                pat.mutability = None;
                let ident = pat.ident.clone();
                let (first, last) = extent(&typed.ty);
                if generic {
                    *typed.ty = syn::parse2(spread(quote!(impl #krate::AsParent), first, last))
                        .unwrap_or_else(|_| syn::parse_quote!(impl #krate::AsParent));
                    return quote!(#krate::AsParent::as_parent(&#ident));
                }
                if let Type::Reference(reference) = &mut *typed.ty {
                    let (first, last) = extent(&reference.elem);
                    *reference.elem = syn::parse2(spread(quote!(#krate::CallbackManager), first, last))
                        .unwrap_or_else(|_| syn::parse_quote!(#krate::CallbackManager));
                }
                return quote!(#ident);
            }
        }
    }
    let parent = Ident::new("callbacks", Span::mixed_site());
    if generic {
        sig.inputs.push(syn::parse_quote!(#parent: impl #krate::AsParent));
        return quote!(#krate::AsParent::as_parent(&#parent));
    }
    name_elided_output_lifetime(sig);
    sig.inputs.push(syn::parse_quote!(#parent: &#krate::CallbackManager));
    quote!(#parent)
}

/// A lifetime position in a type: a reference's lifetime (`None` when elided) or a lifetime
/// written in a path or a bound (elided when it is `'_`).
enum Slot<'a> {
    Reference(&'a mut Option<Lifetime>),
    Written(&'a mut Lifetime),
}

impl Slot<'_> {
    fn elided(&self) -> bool {
        match self {
            Slot::Reference(lifetime) => lifetime.as_ref().is_none_or(|lifetime| lifetime.ident == "_"),
            Slot::Written(lifetime) => lifetime.ident == "_",
        }
    }

    fn named(&self) -> Option<&Lifetime> {
        let lifetime = match self {
            Slot::Reference(lifetime) => lifetime.as_ref()?,
            Slot::Written(lifetime) => &**lifetime,
        };
        (lifetime.ident != "_").then_some(lifetime)
    }

    fn set(&mut self, to: &Lifetime) {
        match self {
            Slot::Reference(lifetime) => **lifetime = Some(to.clone()),
            Slot::Written(lifetime) => **lifetime = to.clone(),
        }
    }
}

/// The added `&CallbackManager` would be a second input lifetime and break the elision of
/// the output's (`fn first_word(text: &str) -> &str`). Where elision picked the one input
/// lifetime, name it, so the output keeps borrowing from the same input. Where it did not
/// (a `&self` method, several or hidden lifetimes), there is nothing to keep.
fn name_elided_output_lifetime(sig: &mut syn::Signature) {
    let by_reference = sig.receiver().is_some_and(|receiver| match &receiver.kind {
        syn::ReceiverKind::Value => false,
        syn::ReceiverKind::Typed(_, ty) => matches!(**ty, Type::Reference(_)),
        _ => true,
    });
    let syn::ReturnType::Type(_, output) = &mut sig.output else { return };
    let mut output_elides = false;
    lifetimes(output, &mut |slot| output_elides |= slot.elided());
    if by_reference || !output_elides {
        return;
    }
    let mut inputs: Vec<Option<Lifetime>> = Vec::new();
    for arg in &mut sig.inputs {
        if let FnArg::Typed(typed) = arg {
            lifetimes(&mut typed.ty, &mut |slot| inputs.push(slot.named().cloned()));
        }
    }
    let name = match inputs.as_slice() {
        [Some(named)] => named.clone(),
        [None] => {
            let taken = |name: &str| sig.generics.lifetimes().any(|param| param.lifetime.ident == name);
            let name = if taken("elided") { "__runtrace_elided" } else { "elided" };
            let name = Lifetime::new(&format!("'{name}"), Span::call_site());
            sig.generics.params.insert(0, syn::GenericParam::Lifetime(syn::LifetimeParam::new(name.clone())));
            for arg in &mut sig.inputs {
                if let FnArg::Typed(typed) = arg {
                    lifetimes(&mut typed.ty, &mut |mut slot| slot.set(&name));
                }
            }
            name
        }
        _ => return,
    };
    if let syn::ReturnType::Type(_, output) = &mut sig.output {
        lifetimes(output, &mut |mut slot| {
            if slot.elided() {
                slot.set(&name);
            }
        });
    }
}

/// Visits the lifetime positions of `ty` that take part in the elision of its function's
/// signature: not those of `fn(..)` pointers and `Fn(..)` bounds, which elide on their own.
fn lifetimes(ty: &mut Type, visit: &mut dyn FnMut(Slot<'_>)) {
    match ty {
        Type::Reference(reference) => {
            visit(Slot::Reference(&mut reference.lifetime));
            lifetimes(&mut reference.elem, visit);
        }
        Type::Path(path) => {
            if let Some(qself) = &mut path.qself {
                lifetimes(&mut qself.ty, visit);
            }
            path_lifetimes(&mut path.path, visit);
        }
        Type::TraitObject(syn::TypeTraitObject { bounds, .. }) | Type::ImplTrait(syn::TypeImplTrait { bounds, .. }) => {
            for bound in bounds {
                match bound {
                    syn::TypeParamBound::Lifetime(lifetime) => visit(Slot::Written(lifetime)),
                    syn::TypeParamBound::Trait(bound) => path_lifetimes(&mut bound.path, visit),
                    _ => {}
                }
            }
        }
        Type::Tuple(tuple) => tuple.elems.iter_mut().for_each(|elem| lifetimes(elem, visit)),
        Type::Array(syn::TypeArray { elem, .. })
        | Type::Slice(syn::TypeSlice { elem, .. })
        | Type::Paren(syn::TypeParen { elem, .. })
        | Type::Group(syn::TypeGroup { elem, .. })
        | Type::Ptr(syn::TypePtr { elem, .. }) => lifetimes(elem, visit),
        _ => {}
    }
}

fn path_lifetimes(path: &mut Path, visit: &mut dyn FnMut(Slot<'_>)) {
    for segment in &mut path.segments {
        let syn::PathArguments::AngleBracketed(args) = &mut segment.arguments else { continue };
        for arg in &mut args.args {
            match arg {
                syn::GenericArgument::Lifetime(lifetime) => visit(Slot::Written(lifetime)),
                syn::GenericArgument::Type(ty) => lifetimes(ty, visit),
                syn::GenericArgument::AssocType(assoc) => lifetimes(&mut assoc.ty, visit),
                _ => {}
            }
        }
    }
}

/// `function(&(node))`, spread over `node`'s tokens, so that an unmet bound of `function`
/// is reported on the whole of `node`.
fn call_on(function: TokenStream, node: &impl ToTokens) -> TokenStream {
    let (first, last) = extent(node);
    let function = spread(function, first, first);
    let borrow = spread(quote!(&), first, first);
    let node = group(Delimiter::Parenthesis, node.to_token_stream(), last);
    let args = group(Delimiter::Parenthesis, quote!(#borrow #node), last);
    quote!(#function #args)
}

/// The first and last tokens' spans of `node`. A span cannot be joined on stable, but
/// generated code that starts at `first` and ends at `last` reads to rustc as covering the
/// whole of the user's expression or type.
fn extent(node: &impl ToTokens) -> (Span, Span) {
    let mut tokens = node.to_token_stream().into_iter();
    let first = tokens.next().map_or_else(Span::call_site, |token| token.span());
    let last = tokens.last().map_or(first, |token| token.span());
    (first, last)
}

/// Generated `tokens` placed at `span`, keeping their own hygiene.
fn located(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|token| match token {
            TokenTree::Group(inner) => TokenTree::Group(group(inner.delimiter(), located(inner.stream(), span), span)),
            mut token => {
                token.set_span(token.span().located_at(span));
                token
            }
        })
        .collect()
}

/// Generated `tokens` placed from `first` to `last`: the last token at `last`, the others at
/// `first`.
fn spread(tokens: TokenStream, first: Span, last: Span) -> TokenStream {
    let mut tokens: Vec<TokenTree> = located(tokens, first).into_iter().collect();
    if let Some(end) = tokens.pop() {
        tokens.extend(located(end.into(), last));
    }
    tokens.into_iter().collect()
}

/// A group of generated delimiters placed at `span` around `stream`.
fn group(delimiter: Delimiter, stream: TokenStream, span: Span) -> Group {
    let mut group = Group::new(delimiter, stream);
    group.set_span(Span::call_site().located_at(span));
    group
}

/// An identifier's name without its `r#`.
fn unraw(ident: &Ident) -> String {
    let name = ident.to_string();
    name.strip_prefix("r#").map_or_else(|| name.clone(), ToOwned::to_owned)
}

/// The function untraced but with its traced signature, emitted beside compile errors so
/// that its callers and its body still type-check, no warning follows from the rewrite, and
/// rust-analyzer keeps working.
fn fallback(item: Item, krate: &Path) -> TokenStream {
    let Item { attrs, vis, mut sig, body } = item;
    let mut runs = Vec::new();
    let mut takes_callbacks = false;
    for (index, arg) in sig.inputs.iter_mut().enumerate() {
        let FnArg::Typed(typed) = arg else { continue };
        match (valid::manager_type(&typed.ty), &mut *typed.pat) {
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
        rewrite_signature(&mut sig, runs.first().map(|(index, ..)| *index), krate);
    }
    let Some(body) = body else {
        return quote!(#(#attrs)* #vis #sig;);
    };
    // Each run manager parameter is read (the rewritten one is now the parent) and shadowed
    // by a manager the body can use.
    let binds = runs.iter().map(|(_, mutability, ident)| {
        quote!(let #mutability #ident: &#krate::RunManager = { let _ = #ident; &#krate::RunManager::noop() };)
    });
    quote! {
        #(#attrs)* #vis #sig {
            #(#binds)*
            #body
        }
    }
}
