//! Writes the traced function: the signature takes the parent manager, the body starts a
//! run, runs the user's body (catching a panic to report it), and ends the run.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, Path, Type};

use crate::attr::{ErrRender, Options};
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
    let options = Options::parse(args);
    let krate = options
        .as_ref()
        .ok()
        .and_then(|options| options.krate.clone())
        .unwrap_or_else(|| syn::parse_quote!(::runtrace));
    match options.and_then(|options| valid::validate(item, options)) {
        Ok(plan) => expand(plan, &krate),
        Err(error) => {
            let error = error.to_compile_error();
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

    let spec = spec(&options, &sig, krate);
    let record_inputs = record_inputs(&inputs, krate);
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
    let bind_run = run_param.map(|(_, pat)| {
        let run_ty = quote_spanned!(pat.ident.span()=> &#krate::RunManager);
        quote!(let #pat: #run_ty = &#guard;)
    });

    let typed = |wrapper: &str, code: TokenStream| {
        let wrapper = format_ident!("{wrapper}");
        if returns.nameable { quote!(#krate::__private::#wrapper::<#ret_ty, _>(#code)) } else { code }
    };
    let call = if sig.asyncness.is_some() {
        let future = typed("typed_future", quote!(async move #body));
        quote!(#krate::__private::CatchUnwind(::core::pin::pin!(#future)).await)
    } else {
        let closure = typed("typed_fn", quote!(move || #body));
        quote!(::std::panic::catch_unwind(::core::panic::AssertUnwindSafe(#closure)))
    };

    let output = output(&options, ret_ty, &value, krate);
    let end = if returns.is_result {
        let render = match options.err.as_ref().map(|(render, _)| *render) {
            Some(ErrRender::Debug) => quote!(|#error| ::std::format!("{:?}", #error)),
            _ => quote!(|#error| ::std::string::ToString::to_string(#error)),
        };
        quote! {
            match &#ret {
                ::core::result::Result::Ok(#value) => #guard.end_with(&|| #output),
                ::core::result::Result::Err(#error) => #krate::__private::fail(#guard, #error, #render),
            }
        }
    } else {
        quote!({ let #value = &#ret; #guard.end_with(&|| #output) })
    };

    let block = quote! {{
        let #guard = match #krate::__private::start(#parent, &#spec, &|| #record_inputs) {
            ::core::result::Result::Ok(#guard) => #guard,
            ::core::result::Result::Err(#error) => match #krate::__private::stopped(#stop) {
                ::core::option::Option::Some(#early) => return #early,
                ::core::option::Option::None => #krate::__private::RunGuard::noop(),
            },
        };
        #bind_run
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

/// Turns the `run: &RunManager` parameter into `run: &CallbackManager` (or adds a
/// `callbacks: &CallbackManager` one) and returns the name to start the run from.
fn rewrite_signature(sig: &mut syn::Signature, run_param: Option<usize>, krate: &Path) -> Ident {
    if let Some(index) = run_param {
        if let Some(FnArg::Typed(typed)) = sig.inputs.iter_mut().nth(index) {
            if let (Type::Reference(reference), syn::Pat::Ident(pat)) = (&mut *typed.ty, &*typed.pat) {
                let span = reference.elem.span();
                *reference.elem = syn::parse_quote_spanned!(span=> #krate::CallbackManager);
                return pat.ident.clone();
            }
        }
    }
    let parent = Ident::new("callbacks", Span::mixed_site());
    sig.inputs.push(syn::parse_quote!(#parent: &#krate::CallbackManager));
    parent
}

fn spec(options: &Options, sig: &syn::Signature, krate: &Path) -> TokenStream {
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
                quote_spanned!(value.span()=> (#key, #krate::__private::record(&(#value))))
            });
            quote!(::core::option::Option::Some(&|| ::std::vec![#(#entries),*]))
        }
        None => quote!(::core::option::Option::None),
    };
    let callbacks = match &options.callbacks {
        Some(expr) => quote_spanned!(expr.span()=> #krate::__private::constructor_callbacks(&(#expr))),
        None => quote!(::core::option::Option::None),
    };
    let verbose = match &options.verbose {
        Some(expr) => quote_spanned!(expr.span()=> #krate::__private::verbose(#expr)),
        None => quote!(false),
    };
    quote! {
        #krate::__private::RunSpec {
            kind: #krate::__private::RunKind::#kind,
            name: #name,
            tags: &[#(#tags),*],
            metadata: #metadata,
            callbacks: #callbacks,
            verbose: #verbose,
        }
    }
}

fn record_inputs(inputs: &[valid::Input], krate: &Path) -> TokenStream {
    let entries = inputs.iter().map(|input| {
        let ident = &input.ident;
        let name = unraw(ident);
        let cfgs = &input.cfgs;
        let value = if input.redacted {
            quote!(#krate::__private::Value::from(#krate::__private::REDACTED))
        } else {
            quote_spanned!(ident.span()=> #krate::__private::record(&#ident))
        };
        quote!(#(#cfgs)* (#name, #value))
    });
    quote!(#krate::__private::inputs([#(#entries),*]))
}

/// The JSON of the output `value`, as `skip_output` / `redact_output` say.
fn output(options: &Options, ret_ty: &Type, value: &Ident, krate: &Path) -> TokenStream {
    if options.skip_output.is_some() {
        quote!(#krate::__private::Value::Null)
    } else if options.redact_output.is_some() {
        quote!(#krate::__private::Value::from(#krate::__private::REDACTED))
    } else {
        quote_spanned!(ret_ty.span()=> #krate::__private::record(#value))
    }
}

/// An identifier's name without its `r#`.
fn unraw(ident: &Ident) -> String {
    let name = ident.to_string();
    name.strip_prefix("r#").map_or_else(|| name.clone(), ToOwned::to_owned)
}

/// The function untraced but with its traced signature, emitted beside compile errors so
/// that its callers and its body still type-check and rust-analyzer keeps working.
fn fallback(item: Item, krate: &Path) -> TokenStream {
    let Item { attrs, vis, mut sig, body } = item;
    let runs: Vec<(usize, syn::PatIdent)> = sig
        .inputs
        .iter()
        .enumerate()
        .filter_map(|(index, arg)| match arg {
            FnArg::Typed(typed) => match (valid::manager_type(&typed.ty), &*typed.pat) {
                (Some(Manager::Run), syn::Pat::Ident(pat)) => Some((index, pat.clone())),
                _ => None,
            },
            FnArg::Receiver(_) => None,
        })
        .collect();
    let Some(body) = body else {
        return quote!(#(#attrs)* #vis #sig;);
    };
    rewrite_signature(&mut sig, runs.first().map(|(index, _)| *index), krate);
    let binds = runs.iter().skip(1).map(|(_, pat)| &pat.ident).chain(runs.first().map(|(_, pat)| &pat.ident));
    quote! {
        #(#attrs)* #vis #sig {
            #(let #binds: &#krate::RunManager = &#krate::RunManager::noop();)*
            #body
        }
    }
}
