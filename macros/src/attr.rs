//! Parses the options of `#[traced_run(...)]` into [`Options`].
//!
//! Syntax errors stop the parse; every other mistake (an unknown option, a duplicate, an
//! unknown kind) is collected, so that one compile shows them all.

use proc_macro2::TokenStream;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Lit, LitStr, Meta, Path, Token};

/// The run kinds, as `kind = "..."` spells them, with the `RunKind` variant of each.
pub const KINDS: [(&str, &str); 10] = [
    ("chain", "Chain"),
    ("llm", "Llm"),
    ("chat_model", "ChatModel"),
    ("tool", "Tool"),
    ("retriever", "Retriever"),
    ("agent", "Agent"),
    ("embedding", "Embedding"),
    ("parser", "Parser"),
    ("prompt", "Prompt"),
    ("custom", "Custom"),
];

const OPTIONS: &str =
    "kind, name, tags, metadata, skip, skip_all, redact, skip_output, redact_output, err, callbacks, verbose, crate";

/// The options of one `#[traced_run]`, each with the tokens it was written with.
#[derive(Default)]
pub struct Options {
    /// `kind = "tool"`: the `RunKind` variant and the literal.
    pub kind: Option<(Ident, LitStr)>,
    pub name: Option<LitStr>,
    pub tags: Option<Vec<LitStr>>,
    pub metadata: Option<Vec<(Ident, Expr)>>,
    pub skip: Vec<Ident>,
    pub skip_all: Option<Path>,
    pub redact: Vec<Ident>,
    pub skip_output: Option<Path>,
    pub redact_output: Option<Path>,
    pub err: Option<(ErrRender, Path)>,
    pub callbacks: Option<Expr>,
    pub verbose: Option<Expr>,
    pub krate: Option<Path>,
    /// Every option name seen, for duplicate checks and "options on a declaration".
    pub seen: Vec<Ident>,
}

/// How `err(..)` renders the error of an `Err`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ErrRender {
    Display,
    Debug,
}

impl Options {
    /// Parses the attribute's arguments.
    pub fn parse(args: TokenStream) -> syn::Result<Options> {
        let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
        let mut options = Options::default();
        let mut errors = Errors::default();
        for meta in metas {
            errors.push(options.set(meta));
        }
        errors.finish().map(|()| options)
    }

    fn set(&mut self, meta: Meta) -> syn::Result<()> {
        let name = option_name(meta.path())?;
        if let Some(first) = self.seen.iter().find(|seen| **seen == name) {
            let mut error = syn::Error::new_spanned(meta.path(), format!("duplicate option `{name}`"));
            error.combine(syn::Error::new_spanned(first, format!("`{name}` is first set here")));
            return Err(error);
        }
        self.seen.push(name.clone());
        match name.to_string().as_str() {
            "kind" => self.kind = Some(parse_kind(&meta)?),
            "name" => self.name = Some(string_value(&meta, "name = \"my_chain\"")?),
            "tags" => self.tags = Some(list(&meta, "tags(\"a\", \"b\")", |input| input.parse::<LitStr>())?),
            "metadata" => {
                self.metadata = Some(list(&meta, "metadata(model = \"gpt-4o\", temperature = 0.2)", parse_entry)?)
            }
            "skip" => self.skip = list(&meta, "skip(arg, ..)", |input| input.parse::<Ident>())?,
            "redact" => self.redact = list(&meta, "redact(arg, ..)", |input| input.parse::<Ident>())?,
            "skip_all" => self.skip_all = Some(flag(&meta)?),
            "skip_output" => self.skip_output = Some(flag(&meta)?),
            "redact_output" => self.redact_output = Some(flag(&meta)?),
            "err" => self.err = Some(parse_err(&meta)?),
            "callbacks" => self.callbacks = Some(expr_value(&meta, "callbacks = self.callbacks")?),
            "verbose" => self.verbose = Some(expr_value(&meta, "verbose = true")?),
            "crate" => self.krate = Some(parse_crate(&meta)?),
            _ => {
                self.seen.pop();
                return Err(syn::Error::new_spanned(
                    meta.path(),
                    format!("unknown option `{name}`; expected one of {OPTIONS}"),
                ));
            }
        }
        Ok(())
    }
}

/// Collects errors to report together.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, result: syn::Result<()>) {
        if let Err(error) = result {
            self.add(error);
        }
    }

    pub fn add(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

fn option_name(path: &Path) -> syn::Result<Ident> {
    match path.get_ident() {
        Some(ident) => Ok(ident.clone()),
        // `crate` is a keyword, so it parses as a path segment, not as an ident.
        None if path.segments.len() == 1 && path.leading_colon.is_none() => Ok(path.segments[0].ident.clone()),
        None => Err(syn::Error::new_spanned(path, format!("unknown option; expected one of {OPTIONS}"))),
    }
}

fn parse_kind(meta: &Meta) -> syn::Result<(Ident, LitStr)> {
    let Meta::NameValue(pair) = meta else {
        return Err(syn::Error::new_spanned(meta, "expected `kind = \"chain\"` (or llm, tool, ...)"));
    };
    let Expr::Lit(syn::ExprLit { lit: Lit::Str(lit), .. }) = &pair.value else {
        return Err(syn::Error::new_spanned(&pair.value, "`kind` takes a string literal, such as `kind = \"tool\"`"));
    };
    let value = lit.value();
    match KINDS.iter().find(|(spelled, _)| *spelled == value) {
        Some((_, variant)) => Ok((Ident::new(variant, lit.span()), lit.clone())),
        None => {
            let expected: Vec<&str> = KINDS.iter().map(|(spelled, _)| *spelled).collect();
            Err(syn::Error::new_spanned(
                lit,
                format!("unknown run kind `{value}`; expected one of {}", expected.join(", ")),
            ))
        }
    }
}

fn string_value(meta: &Meta, example: &str) -> syn::Result<LitStr> {
    match meta {
        Meta::NameValue(pair) => match &pair.value {
            Expr::Lit(syn::ExprLit { lit: Lit::Str(lit), .. }) => Ok(lit.clone()),
            other => Err(syn::Error::new_spanned(other, format!("expected a string literal, as in `{example}`"))),
        },
        _ => Err(syn::Error::new_spanned(meta, format!("expected `{example}`"))),
    }
}

fn expr_value(meta: &Meta, example: &str) -> syn::Result<Expr> {
    match meta {
        Meta::NameValue(pair) => Ok(pair.value.clone()),
        _ => Err(syn::Error::new_spanned(meta, format!("expected `{example}`"))),
    }
}

fn flag(meta: &Meta) -> syn::Result<Path> {
    match meta {
        Meta::Path(path) => Ok(path.clone()),
        _ => Err(syn::Error::new_spanned(
            meta,
            format!("`{}` takes no value", quote::ToTokens::to_token_stream(meta.path())),
        )),
    }
}

fn list<T>(meta: &Meta, example: &str, item: fn(ParseStream<'_>) -> syn::Result<T>) -> syn::Result<Vec<T>> {
    match meta {
        Meta::List(list) => {
            let parser = |input: ParseStream<'_>| Punctuated::<T, Token![,]>::parse_terminated_with(input, item);
            Ok(list.parse_args_with(parser)?.into_iter().collect())
        }
        _ => Err(syn::Error::new_spanned(meta, format!("expected a list, as in `{example}`"))),
    }
}

fn parse_entry(input: ParseStream<'_>) -> syn::Result<(Ident, Expr)> {
    let key: Ident = input.parse()?;
    input.parse::<Token![=]>()?;
    let value: Expr = input.parse()?;
    Ok((key, value))
}

fn parse_err(meta: &Meta) -> syn::Result<(ErrRender, Path)> {
    let Meta::List(list) = meta else {
        return Err(syn::Error::new_spanned(meta, "expected `err(Display)` or `err(Debug)`"));
    };
    let how: Ident = list.parse_args()?;
    let render = match how.to_string().as_str() {
        "Display" => ErrRender::Display,
        "Debug" => ErrRender::Debug,
        _ => return Err(syn::Error::new_spanned(how, "expected `Display` or `Debug`")),
    };
    Ok((render, list.path.clone()))
}

fn parse_crate(meta: &Meta) -> syn::Result<Path> {
    let Meta::NameValue(pair) = meta else {
        return Err(syn::Error::new_spanned(meta, "expected `crate = path::to::runtrace`"));
    };
    match &pair.value {
        Expr::Path(path) => Ok(path.path.clone()),
        Expr::Lit(syn::ExprLit { lit: Lit::Str(lit), .. }) => lit.parse(),
        other => Err(syn::Error::new_spanned(other, "expected a path, as in `crate = my_crate::runtrace`")),
    }
}
