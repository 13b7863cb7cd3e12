//! Checks what the attribute is on and the rules that span several options or the function's
//! signature, and decides what the expansion records: which parameter is the run manager,
//! which arguments are inputs, what the function returns.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::{Attribute, FnArg, Generics, Ident, Pat, PatIdent, ReturnType, Signature, Type};

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
            // Above `#[async_trait]`, it would see the block before `#[async_trait]` rewrote it.
            Ok(syn::Item::Impl(item)) if is_async_trait(&item.attrs) => ASYNC_TRAIT_ORDER,
            Ok(syn::Item::Trait(item)) if is_async_trait(&item.attrs) => ASYNC_TRAIT_ORDER,
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

/// What `#[traced_run]` above `#[async_trait]` is told.
const ASYNC_TRAIT_ORDER: &str = "an `#[async_trait]` block: keep `#[async_trait]` on the trait and the impl \
     block, and put `#[traced_run]` on each method inside, in both";

fn is_async_trait(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| attr.path().segments.last().is_some_and(|last| last.ident == "async_trait"))
}

/// A validated traced function: everything the expansion needs.
pub struct Plan {
    pub item: Item,
    pub options: Options,
    /// The `run: &RunManager` parameter: its position and name.
    pub run_param: Option<(usize, PatIdent)>,
    pub inputs: Vec<Input>,
    pub returns: Returns,
    pub shape: Shape,
}

/// What the returned value is to the run: the run ends with the function, or with the
/// stream or the boxed future it returns.
pub enum Shape {
    Value,
    /// A stream: the run ends when it does. What its items are, as `Returns` describes a
    /// returned value (an unknown type under `stream` on an alias).
    Stream(Returns),
    /// `Pin<Box<dyn Future<Output = T>>>` of a sync fn (what `#[async_trait]` makes of an
    /// `async fn`): the run ends when the future does, with `T` described.
    BoxedFuture(Returns),
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
    /// Not written as a `Result`, but may be one, which the expansion asks the compiler
    /// (`__private::ResultProbe`): a written type that may be an alias (`ApiResult<T>`,
    /// `Reply`), or the unwritten items of a stream behind an alias. Not a type that plainly is
    /// none (`String`, `u32`, `Option<T>`, a tuple, a generic parameter), so that those carry
    /// no code for the question.
    pub probed: bool,
}

/// Validates `item` against `options`, reporting every broken rule at once.
pub fn validate(item: Item, options: Options) -> syn::Result<Plan> {
    let mut errors = Errors::default();
    check_item(&item, &options, &mut errors);
    let run_param = find_run_param(&item.sig, &mut errors);
    let inputs = collect_inputs(&item.sig, &options, &mut errors);
    let returns = returns(&item.sig);
    let shape = shape(&item.sig, &options);
    check_options(&options, &returns, &shape, &mut errors);
    check_shape(&item, &options, &shape, run_param.as_ref(), &mut errors);
    errors.finish()?;
    Ok(Plan { item, options, run_param, inputs, returns, shape })
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

    /// A type the user wrote, in a signature with `generics`.
    fn written(ty: &Type, generics: &Generics) -> Returns {
        let is_result = is_result(ty);
        let probed = !is_result && !plainly_not_result(ty, generics);
        Returns { ty: ty.clone(), is_result, nameable: !mentions_impl(ty), written: true, probed }
    }

    /// The error type, when written: `E` of `Result<T, E>`; `None` for `io::Result<T>`.
    pub fn error_ty(&self) -> Option<&Type> {
        self.result_args().nth(1).filter(|error| self.is_result && !mentions_impl(error))
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
        ReturnType::Default => {
            Returns { ty: syn::parse_quote!(()), is_result: false, nameable: true, written: false, probed: false }
        }
        ReturnType::Type(_, ty) => Returns::written(ty, &sig.generics),
    }
}

/// Written as a `Result` the macro may take apart itself: `Result<..>` alone (std's, or the
/// alias of it a crate declares), or a path to one of the well-known `Result`s
/// (`io::Result<T>`, `std::result::Result`, `anyhow::Result<T>`). Another path ending in
/// `Result` (`search::Result`) may name a type of the user's that only shares the name: the
/// compiler is asked about it instead (see `Returns::probed`).
fn is_result(ty: &Type) -> bool {
    /// The modules and crates whose `Result` is std's, or an alias of it.
    const KNOWN: &[&str] = &["result", "io", "fmt", "anyhow", "eyre", "color_eyre", "serde_json"];
    match ty {
        Type::Path(path) => {
            let mut segments = path.path.segments.iter().rev();
            let last = segments.next().is_some_and(|last| last.ident == "Result");
            let module = segments.next().is_none_or(|module| KNOWN.iter().any(|known| module.ident == known));
            path.qself.is_none() && last && module
        }
        Type::Group(group) => is_result(&group.elem),
        Type::Paren(paren) => is_result(&paren.elem),
        _ => false,
    }
}

/// Types that are never a `Result`: std's scalars, strings and containers, JSON values,
/// references, tuples, arrays and the like. A bare generic parameter of `generics` counts as
/// none: the probe cannot see through one, so it would always answer no.
fn plainly_not_result(ty: &Type, generics: &Generics) -> bool {
    const PLAIN: &[&str] = &[
        "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
        "f32", "f64", "String", "Vec", "VecDeque", "Option", "Box", "Arc", "Rc", "Cow", "HashMap", "BTreeMap",
        "HashSet", "BTreeSet", "Value", "Duration", "PathBuf",
    ];
    match ty {
        Type::Path(path) => {
            let segments = &path.path.segments;
            let plain = segments.last().is_some_and(|last| PLAIN.iter().any(|plain| last.ident == plain));
            // `T::Output` may be bound to an alias (`F: FnOnce() -> ApiResult<u8>`): asked.
            let generic = path.path.leading_colon.is_none()
                && segments.len() == 1
                && segments.first().is_some_and(|first| generics.type_params().any(|param| param.ident == first.ident));
            path.qself.is_none() && (plain || generic)
        }
        Type::Group(group) => plainly_not_result(&group.elem, generics),
        Type::Paren(paren) => plainly_not_result(&paren.elem, generics),
        Type::ImplTrait(_)
        | Type::TraitObject(_)
        | Type::Reference(_)
        | Type::Tuple(_)
        | Type::Array(_)
        | Type::Slice(_)
        | Type::Ptr(_)
        | Type::FnPtr(_)
        | Type::Never(_) => true,
        _ => false,
    }
}

pub fn mentions_impl(ty: &Type) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            TokenTree::Ident(ident) => ident == "impl",
            TokenTree::Group(group) => walk(group.stream()),
            _ => false,
        })
    }
    walk(quote::ToTokens::to_token_stream(ty))
}

fn check_options(options: &Options, returns: &Returns, shape: &Shape, errors: &mut Errors) {
    // `err(..)` renders the error of what ends the run: a stream's item, a future's output.
    // What may be a `Result` behind an alias, the expansion asks the compiler about
    // (`__private::returns_result`).
    let returns = match shape {
        Shape::Value => returns,
        Shape::Stream(item) => item,
        Shape::BoxedFuture(output) => output,
    };
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
        let maybe_result = returns.is_result || returns.probed;
        if !maybe_result && *render != ErrRender::Redact {
            errors.add(syn::Error::new_spanned(
                err,
                "`err(..)` renders the error of a function returning `Result`; this one does not",
            ));
        }
    }
}

/// A value described as `Returns` describes a returned one: a stream's item, a future's
/// output; `None` when it is not written (the items of a stream behind an alias).
fn described(ty: Option<&Type>, generics: &Generics) -> Returns {
    match ty {
        Some(ty) => Returns::written(ty, generics),
        None => Returns { ty: syn::parse_quote!(_), is_result: false, nameable: false, written: false, probed: true },
    }
}

/// The shape of what the function returns, read from its return type, or `stream` for a
/// stream behind an alias.
fn shape(sig: &Signature, options: &Options) -> Shape {
    let ReturnType::Type(_, ty) = &sig.output else { return Shape::Value };
    if let Some(item) = stream_item(ty) {
        return Shape::Stream(described(item.as_ref(), &sig.generics));
    }
    if options.stream.is_some() {
        return Shape::Stream(described(None, &sig.generics));
    }
    if sig.asyncness.is_none() {
        if let Some(output) = boxed_future_output(ty) {
            return Shape::BoxedFuture(described(Some(&output), &sig.generics));
        }
    }
    Shape::Value
}

/// `Some(item type, when written)` for a stream type: `impl Stream<Item = T>`,
/// `Pin<Box<dyn Stream<Item = T> ..>>`, `BoxStream<'a, T>` and `LocalBoxStream<'a, T>`.
fn stream_item(ty: &Type) -> Option<Option<Type>> {
    if let Some(item) = bound_assoc(ty, "Stream", "Item") {
        return Some(item);
    }
    let inner =
        pinned_box(ty).map_or_else(|| bound_assoc(ty, "Stream", "Item"), |boxed| bound_assoc(boxed, "Stream", "Item"));
    if inner.is_some() {
        return inner;
    }
    alias_arg(ty, &["BoxStream", "LocalBoxStream"]).map(Some)
}

/// Whether `ty` is a boxed stream: `Pin<Box<..>>`, `BoxStream` or `LocalBoxStream`.
pub fn boxed_stream(ty: &Type) -> bool {
    pinned_box(ty).is_some() || alias_arg(ty, &["BoxStream", "LocalBoxStream"]).is_some()
}

/// `T` of `Pin<Box<dyn Future<Output = T> ..>>`, `BoxFuture<'a, T>` or `LocalBoxFuture<'a, T>`.
fn boxed_future_output(ty: &Type) -> Option<Type> {
    if let Some(boxed) = pinned_box(ty) {
        if let Type::TraitObject(_) = boxed {
            return bound_assoc(boxed, "Future", "Output").flatten();
        }
    }
    alias_arg(ty, &["BoxFuture", "LocalBoxFuture"])
}

/// `X` of `Pin<Box<X>>`.
fn pinned_box(ty: &Type) -> Option<&Type> {
    let pin = first_type_arg(ty, "Pin")?;
    first_type_arg(pin, "Box")
}

/// The first type argument of a path type whose last segment is `name`.
fn first_type_arg<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(path) = unparen(ty) else { return None };
    let last = path.path.segments.last().filter(|last| last.ident == name)?;
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    args.args.iter().find_map(|arg| match arg {
        syn::GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

/// The first type argument of a path type whose last segment is one of `names`.
fn alias_arg(ty: &Type, names: &[&str]) -> Option<Type> {
    names.iter().find_map(|name| first_type_arg(ty, name)).cloned()
}

/// For an `impl` or `dyn` type with a bound whose last segment is `trait_name`:
/// `Some(the type of its associated type assoc, when written)`.
fn bound_assoc(ty: &Type, trait_name: &str, assoc: &str) -> Option<Option<Type>> {
    let bounds = match unparen(ty) {
        Type::ImplTrait(syn::TypeImplTrait { bounds, .. }) | Type::TraitObject(syn::TypeTraitObject { bounds, .. }) => {
            bounds
        }
        _ => return None,
    };
    bounds.iter().find_map(|bound| {
        let syn::TypeParamBound::Trait(bound) = bound else { return None };
        let last = bound.path.segments.last().filter(|last| last.ident == trait_name)?;
        let syn::PathArguments::AngleBracketed(args) = &last.arguments else { return Some(None) };
        Some(args.args.iter().find_map(|arg| match arg {
            syn::GenericArgument::AssocType(found) if found.ident == assoc => Some(found.ty.clone()),
            _ => None,
        }))
    })
}

fn unparen(mut ty: &Type) -> &Type {
    while let Type::Group(syn::TypeGroup { elem, .. }) | Type::Paren(syn::TypeParen { elem, .. }) = ty {
        ty = elem;
    }
    ty
}

/// The options of streams on a stream alone, and what a boxed future cannot do.
fn check_shape(
    item: &Item,
    options: &Options,
    shape: &Shape,
    run_param: Option<&(usize, PatIdent)>,
    errors: &mut Errors,
) {
    if !matches!(shape, Shape::Stream(_)) {
        let stream_options =
            options.tokens.iter().map(|(name, _)| name).chain(options.reduce.iter().map(|(name, _)| name));
        for option in stream_options {
            errors.add(syn::Error::new_spanned(
                option,
                format!(
                    "`{option}` records the items of a stream, but this function's return type is not one: \
                     return `impl Stream<Item = ..>`, `Pin<Box<dyn Stream<Item = ..>>>` or a `BoxStream`, \
                     or add `stream` when the type is an alias of one"
                ),
            ));
        }
    }
    if let Some((reduce, _)) = &options.reduce {
        for flag in options.skip_output.iter().chain(&options.redact_output) {
            let mut error = syn::Error::new_spanned(
                reduce,
                "`reduce` makes the output that the output option leaves out: choose one",
            );
            error.combine(syn::Error::new_spanned(flag, "the output option is here"));
            errors.add(error);
        }
    }
    // A body that pins an async block is traced as that block (see `pinned_async`), where
    // `run` lives as long as the future; a declaration's implementations may be either.
    let pinned = item.body.as_deref().is_none_or(|body| pinned_async(body).is_some());
    if let (Shape::BoxedFuture(_), Some((_, run)), false) = (shape, run_param, pinned) {
        errors.add(syn::Error::new_spanned(
            &run.ident,
            "a function returning a boxed future cannot take `run: &RunManager`: the future outlives the call \
             that holds the run; write the body as `Box::pin(async move { .. })`, or take no `run`",
        ));
    }
}

/// The async block of a body that is `Box::pin(async move { .. })` alone, as `#[async_trait]`
/// writes the body of an `async fn`: traced as that async fn, with its run started at the
/// call and `run` bound inside the future.
pub fn pinned_async(body: &syn::Block) -> Option<&syn::ExprAsync> {
    let [syn::Stmt::Expr(syn::Expr::Call(call), None)] = body.stmts.as_slice() else { return None };
    let syn::Expr::Path(func) = &*call.func else { return None };
    let is_box_pin = func.path.segments.len() >= 2
        && func.path.segments.iter().rev().nth(1).is_some_and(|segment| segment.ident == "Box")
        && func.path.segments.last().is_some_and(|segment| segment.ident == "pin");
    match call.args.iter().collect::<Vec<_>>().as_slice() {
        [syn::Expr::Async(block)] if is_box_pin && block.capture.is_some() => Some(block),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use quote::{ToTokens, quote};

    use super::*;

    /// The shape of `fn f() -> #ty` (`async` when asked), and its item or output type.
    fn shape_of(ty: TokenStream, is_async: bool, options: TokenStream) -> (&'static str, String) {
        let asyncness = is_async.then(|| quote!(async));
        let sig: Signature = syn::parse2(quote!(#asyncness fn f() -> #ty)).expect("a signature");
        let options = Options::parse(options).expect("options");
        match shape(&sig, &options) {
            Shape::Value => ("value", String::new()),
            Shape::Stream(item) => ("stream", item.ty.to_token_stream().to_string()),
            Shape::BoxedFuture(output) => ("future", output.ty.to_token_stream().to_string()),
        }
    }

    #[test]
    fn streams_are_recognised_by_their_written_type() {
        let stream = |ty| shape_of(ty, false, quote!());
        assert_eq!(stream(quote!(impl Stream<Item = u32>)), ("stream", "u32".into()));
        assert_eq!(
            stream(quote!(impl futures::Stream<Item = Result<T, E>> + Send)),
            ("stream", "Result < T , E >".into())
        );
        assert_eq!(stream(quote!(Pin<Box<dyn Stream<Item = String> + Send + 'a>>)), ("stream", "String".into()));
        assert_eq!(stream(quote!(BoxStream<'static, u8>)), ("stream", "u8".into()));
        assert_eq!(stream(quote!(futures::stream::LocalBoxStream<'a, u8>)), ("stream", "u8".into()));
        assert_eq!(shape_of(quote!(impl Stream<Item = u8>), true, quote!()).0, "stream");
        assert_eq!(stream(quote!(Vec<u8>)).0, "value");
        assert_eq!(stream(quote!(impl Iterator<Item = u8>)).0, "value");
    }

    #[test]
    fn stream_marks_an_alias_with_an_unknown_item_that_is_asked_about() {
        assert_eq!(shape_of(quote!(Tokens), false, quote!(stream)), ("stream", "_".into()));
        let sig: Signature = syn::parse_quote!(fn f() -> Tokens);
        let Shape::Stream(item) = shape(&sig, &Options::parse(quote!(stream)).expect("options")) else {
            panic!("`stream` makes a stream")
        };
        assert!(item.probed, "its items may be `Result`s");
    }

    #[test]
    fn only_types_that_may_be_a_result_alias_are_asked_about() {
        let asked = |ty: TokenStream| {
            let sig: Signature = syn::parse_quote!(fn f<T: Tool>() -> #ty);
            returns(&sig).probed
        };
        let aliases = [
            quote!(ApiResult<u8>),
            quote!(Fallible<u8>),
            quote!(Reply),
            quote!(Answer),
            quote!(U),
            quote!(ApiResult<T>),
            quote!(ApiResult<impl Serialize>),
            quote!(<T as Tool>::Output),
            quote!(::T),
            quote!(search::Result),
            quote!(crate::Result<u8>),
            quote!(T::Output),
        ];
        for alias in aliases {
            assert!(asked(alias.clone()), "{alias}");
        }
        let plain = [
            quote!(Result<u8, E>),
            quote!(io::Result<u8>),
            quote!(std::io::Result<u8>),
            quote!(::core::result::Result<u8, E>),
            quote!(anyhow::Result<u8>),
            quote!(u64),
            quote!(String),
            quote!(Option<Reply>),
            quote!(Vec<ApiResult<u8>>),
            quote!(&'a Reply),
            quote!((Reply, u8)),
            quote!([u8; 4]),
            quote!(impl Iterator<Item = u8>),
            quote!(serde_json::Value),
            quote!(T),
        ];
        for plain in plain {
            assert!(!asked(plain.clone()), "{plain}");
        }
        assert!(!returns(&syn::parse_quote!(fn f())).probed, "nothing written");
    }

    #[test]
    fn stream_items_that_may_be_a_result_alias_are_asked_about() {
        let asked = |ty: TokenStream| {
            let sig: Signature = syn::parse_quote!(fn f() -> #ty);
            match shape(&sig, &Options::parse(quote!()).expect("options")) {
                Shape::Stream(item) => item.probed,
                _ => panic!("not a stream: {ty}"),
            }
        };
        assert!(asked(quote!(impl Stream<Item = ApiResult<String>>)));
        assert!(asked(quote!(BoxStream<'static, Reply>)));
        assert!(!asked(quote!(impl Stream<Item = String>)));
        assert!(!asked(quote!(impl Stream<Item = Result<String, E>>)), "written as a `Result`");
    }

    #[test]
    fn boxed_futures_of_sync_fns_are_recognised() {
        let future = |ty| shape_of(ty, false, quote!());
        assert_eq!(future(quote!(Pin<Box<dyn Future<Output = u32> + Send + 'async_trait>>)), ("future", "u32".into()));
        assert_eq!(future(quote!(BoxFuture<'a, Result<u8, E>>)), ("future", "Result < u8 , E >".into()));
        assert_eq!(shape_of(quote!(BoxFuture<'a, u8>), true, quote!()).0, "value", "an async fn's output is its value");
        assert_eq!(future(quote!(Pin<Box<u8>>)).0, "value");
    }

    #[test]
    fn only_a_body_that_is_a_pinned_async_move_block_is_traced_as_one() {
        let block = |body: TokenStream| -> bool {
            let body: syn::Block = syn::parse2(quote!({ #body })).expect("a block");
            pinned_async(&body).is_some()
        };
        assert!(block(quote!(Box::pin(async move { 1 }))));
        assert!(block(quote!(::std::boxed::Box::pin(async move { 1 }))));
        assert!(!block(quote!(Box::pin(async { 1 }))));
        assert!(!block(quote!(async move { 1 }.boxed())));
        assert!(!block(quote!(let x = 1; Box::pin(async move { x }))));
    }
}
