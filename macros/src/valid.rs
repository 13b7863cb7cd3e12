//! Checks what the attribute is on and the rules that span several options or the function's
//! signature, and decides what the expansion records: which parameter is the run manager,
//! which arguments are inputs, what the function returns.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::{Attribute, FnArg, Ident, Pat, PatIdent, ReturnType, Signature, Type};

use crate::attr::{ErrRender, Options};
use crate::errors::{self, Errors, OptionName};
use crate::signature::{Manager, manager_by_value, manager_type};

/// What `#[traced_run]` was put on: a function with a body, or a trait method declaration.
#[derive(Clone)]
pub struct Item {
    pub attrs: Vec<Attribute>,
    pub vis: syn::Visibility,
    pub sig: Signature,
    pub body: Option<Box<syn::Block>>,
}

impl Item {
    /// A function or a trait method declaration. Anything else is an error that names what it
    /// is, since the fix depends on it (an impl block wants the attribute on its methods).
    pub fn parse(input: TokenStream) -> syn::Result<Item> {
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
        let first = input.into_iter().find(|token| !matches!(token, TokenTree::Punct(p) if p.as_char() == '#'));
        let span = first.map_or_else(Span::call_site, |token| token.span());
        Err(syn::Error::new(span, format!("#[traced_run] goes on a function, not on {what}")))
    }
}

/// A validated traced function: everything the expansion needs.
pub struct Plan {
    pub item: Item,
    pub options: Options,
    /// The `run: &RunManager` parameter: its position and name.
    pub run_param: Option<(usize, PatIdent)>,
    pub inputs: Vec<Input>,
    pub returns: Returns,
}

/// An argument recorded in the run's inputs.
pub struct Input {
    pub ident: Ident,
    /// The parameter's type, when it is the binding's and can be named in the body (not a
    /// `ref` binding, no `impl Trait`).
    pub ty: Option<Type>,
    /// The parameter's `#[cfg]`s, repeated on its entry in the inputs.
    pub cfgs: Vec<Attribute>,
    pub redacted: bool,
}

/// What the function returns.
pub struct Returns {
    /// The declared type; `()` when none is written.
    pub ty: Type,
    /// Written as `Result<..>` (any path ending in `Result`), so `Ok` ends the run and
    /// `Err` fails it.
    pub is_result: bool,
    /// Free of `impl Trait`, so the expansion can name it.
    pub nameable: bool,
    /// Written by the user, so its tokens can carry errors about it.
    pub written: bool,
}

/// Validates `item` against `options`, reporting every broken rule at once.
pub fn validate(item: Item, options: Options) -> syn::Result<Plan> {
    let mut errors = Errors::default();
    check_item(&item, &options, &mut errors);
    let run_param = find_run_param(&item.sig, &mut errors);
    let inputs = collect_inputs(&item.sig, &options, &mut errors);
    let returns = returns(&item.sig);
    check_options(&options, &returns, &mut errors);
    errors.finish()?;
    Ok(Plan { item, options, run_param, inputs, returns })
}

fn check_item(item: &Item, options: &Options, errors: &mut Errors) {
    let sig = &item.sig;
    if let Some(constness) = &sig.constness {
        errors.add(syn::Error::new_spanned(
            constness,
            "#[traced_run] cannot trace a `const fn`: runs happen at run time",
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.add(syn::Error::new_spanned(
            abi,
            "#[traced_run] cannot trace an `extern` fn: it adds a `&CallbackManager` parameter, which no foreign caller passes",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        errors.add(syn::Error::new_spanned(variadic, "#[traced_run] cannot trace a variadic function"));
    }
    if item.body.is_none() {
        for option in options.seen.iter().filter(|seen| *seen != OptionName::Crate.spelled()) {
            errors.add(syn::Error::new_spanned(
                option,
                format!(
                    "`{option}` has no effect on a trait method declaration, which has no body to trace: \
                     put it on the implementations"
                ),
            ));
        }
    }
}

/// Finds the one `&RunManager` parameter, rejecting a second one and a `&CallbackManager`.
fn find_run_param(sig: &Signature, errors: &mut Errors) -> Option<(usize, PatIdent)> {
    let mut found: Option<(usize, PatIdent)> = None;
    for (index, arg) in sig.inputs.iter().enumerate() {
        let FnArg::Typed(typed) = arg else { continue };
        if let Some(by_value) = manager_by_value(&typed.ty) {
            errors.add(syn::Error::new_spanned(
                &typed.ty,
                format!("take the run manager by reference, as in `run: &RunManager`, not as `{by_value}`"),
            ));
            continue;
        }
        match manager_type(&typed.ty) {
            Some(Manager::Run) => {}
            Some(Manager::Callback) => {
                errors.add(syn::Error::new_spanned(
                    &typed.ty,
                    "declare the run manager as `run: &RunManager`: #[traced_run] turns it into the \
                     `&CallbackManager` parameter that callers pass",
                ));
                continue;
            }
            None => continue,
        }
        let Pat::Ident(pat) = &*typed.pat else {
            errors.add(syn::Error::new_spanned(&typed.pat, "bind the run manager to a name, as in `run: &RunManager`"));
            continue;
        };
        if let Some((_, first)) = &found {
            let mut error = syn::Error::new_spanned(
                typed,
                "a traced function takes one run manager; pass the same `run` on to the functions you call",
            );
            error.combine(syn::Error::new_spanned(&first.ident, "the first run manager parameter is here"));
            errors.add(error);
        } else {
            found = Some((index, pat.clone()));
        }
    }
    found
}

fn collect_inputs(sig: &Signature, options: &Options, errors: &mut Errors) -> Vec<Input> {
    let mut inputs = Vec::new();
    let mut named: Vec<&Ident> = Vec::new();
    for arg in &sig.inputs {
        let FnArg::Typed(typed) = arg else { continue };
        if manager_type(&typed.ty).is_some() || manager_by_value(&typed.ty).is_some() {
            continue;
        }
        let Pat::Ident(pat) = &*typed.pat else {
            if options.skip_all.is_none() {
                errors.add(syn::Error::new_spanned(
                    &typed.pat,
                    "#[traced_run] records arguments by name: bind this one to a name, or use `skip_all`",
                ));
            }
            continue;
        };
        let ident = &pat.ident;
        named.push(ident);
        if options.skip_all.is_some() || options.skip.contains(ident) {
            continue;
        }
        inputs.push(Input {
            ident: ident.clone(),
            ty: (pat.by_ref.is_none() && !mentions_impl(&typed.ty)).then(|| (*typed.ty).clone()),
            cfgs: typed.attrs.iter().filter(|attr| attr.path().is_ident("cfg")).cloned().collect(),
            redacted: options.redact.contains(ident),
        });
    }
    for listed in options.skip.iter().chain(&options.redact) {
        if !named.contains(&listed) {
            errors.add(syn::Error::new_spanned(listed, errors::no_such_argument(listed, &named)));
        }
    }
    for skipped in &options.skip {
        if let Some(redacted) = options.redact.iter().find(|redacted| *redacted == skipped) {
            errors.add(syn::Error::new_spanned(
                redacted,
                format!("`{skipped}` is both skipped and redacted: choose one"),
            ));
        }
    }
    inputs
}

impl Returns {
    /// The type of the recorded output, as written: `T` of `Result<T, E>` (and of the
    /// `Result<T>` aliases, which all put it first), else the whole return type. `None` when
    /// it is not written (no return type, `fmt::Result`) or cannot be named (`impl Trait`).
    pub fn output_ty(&self) -> Option<&Type> {
        if self.is_result {
            self.result_args().next().filter(|ok| !mentions_impl(ok))
        } else {
            (self.written && self.nameable).then_some(&self.ty)
        }
    }

    /// The error type, when written: `E` of `Result<T, E>`; `None` for `io::Result<T>`.
    pub fn error_ty(&self) -> Option<&Type> {
        self.result_args().nth(1).filter(|error| !mentions_impl(error))
    }

    fn result_args(&self) -> impl Iterator<Item = &Type> {
        let mut ty = &self.ty;
        while let Type::Group(syn::TypeGroup { elem, .. }) | Type::Paren(syn::TypeParen { elem, .. }) = ty {
            ty = elem;
        }
        let args = match ty {
            Type::Path(path) => match path.path.segments.last().map(|last| &last.arguments) {
                Some(syn::PathArguments::AngleBracketed(args)) => Some(&args.args),
                _ => None,
            },
            _ => None,
        };
        args.into_iter().flatten().filter_map(|arg| match arg {
            syn::GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
    }
}

fn returns(sig: &Signature) -> Returns {
    match &sig.output {
        ReturnType::Default => Returns { ty: syn::parse_quote!(()), is_result: false, nameable: true, written: false },
        ReturnType::Type(_, ty) => {
            Returns { ty: (**ty).clone(), is_result: is_result(ty), nameable: !mentions_impl(ty), written: true }
        }
    }
}

fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => {
            path.qself.is_none() && path.path.segments.last().is_some_and(|last| last.ident == "Result")
        }
        Type::Group(group) => is_result(&group.elem),
        Type::Paren(paren) => is_result(&paren.elem),
        _ => false,
    }
}

fn mentions_impl(ty: &Type) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            TokenTree::Ident(ident) => ident == "impl",
            TokenTree::Group(group) => walk(group.stream()),
            _ => false,
        })
    }
    walk(quote::ToTokens::to_token_stream(ty))
}

fn check_options(options: &Options, returns: &Returns, errors: &mut Errors) {
    if let Some(skip_all) = &options.skip_all {
        for listed in options.skip.iter().chain(&options.redact) {
            let mut error =
                syn::Error::new_spanned(listed, format!("`{listed}` is listed, but `skip_all` skips every argument"));
            error.combine(syn::Error::new_spanned(skip_all, "`skip_all` is here"));
            errors.add(error);
        }
    }
    if let (Some(skip), Some(redact)) = (&options.skip_output, &options.redact_output) {
        let mut error = syn::Error::new_spanned(redact, "the output is both skipped and redacted: choose one");
        error.combine(syn::Error::new_spanned(skip, "`skip_output` is here"));
        errors.add(error);
    }
    let model_kind = options
        .kind
        .as_ref()
        .is_some_and(|(variant, _)| ["Llm", "ChatModel", "Embedding"].iter().any(|kind| variant == kind));
    for (option, _) in options.model.iter().chain(&options.provider) {
        if !model_kind {
            let kind = options.kind.as_ref().map_or_else(|| "chain, the default".to_owned(), |(_, lit)| lit.value());
            errors.add(syn::Error::new_spanned(
                option,
                format!(
                    "`{option}` describes a model run, but this run's kind is {kind}: \
                     set `kind = \"llm\"`, `\"chat_model\"` or `\"embedding\"`"
                ),
            ));
        }
    }
    if let Some((render, err)) = &options.err {
        // `err(redact)` covers panics too, which any function can have.
        if !returns.is_result && *render != ErrRender::Redact {
            errors.add(syn::Error::new_spanned(
                err,
                "`err(..)` renders the error of a function returning `Result`; this one does not",
            ));
        }
    }
}
