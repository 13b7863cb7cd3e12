//! Parses the options of `#[traced_run(...)]` into [`Options`].
//!
//! Syntax errors stop the parse; every other mistake (an unknown option, a duplicate, an
//! unknown kind) is collected, so that one compile shows them all.

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Lit, LitStr, Meta, Path, Token};

use crate::errors::{self, Errors, OptionName};

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
    /// `model = expr`, `provider = expr`: what a model run asks, with the option's name
    /// for messages.
    pub model: Option<(Ident, Expr)>,
    pub provider: Option<(Ident, Expr)>,
    /// `stream`: the function returns a stream, though its return type does not say so.
    pub stream: Option<Path>,
    /// `tokens` (each item is a token) or `tokens = path` (the token of each item), with
    /// the option's name for messages.
    pub tokens: Option<(Ident, Option<Expr>)>,
    /// `reduce = path`: the stream's output, made from its items.
    pub reduce: Option<(Ident, Expr)>,
    pub krate: Option<Path>,
    /// Every option name seen, for duplicate checks and "options on a declaration".
    pub seen: Vec<Ident>,
}

/// How `err(..)` records the error of an `Err` (and, for `Redact`, of a panic).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ErrRender {
    Display,
    Debug,
    /// `"[REDACTED]"` and the error's type, for an `Err` and for a panic.
    Redact,
}

/// The renderings, as `err(..)` spells them.
const RENDERINGS: [(&str, ErrRender); 3] =
    [("Display", ErrRender::Display), ("Debug", ErrRender::Debug), ("redact", ErrRender::Redact)];

const ERR_EXPECTED: &str = "expected `err(Display)`, `err(Debug)` or `err(redact)`";

impl Options {
    /// Parses the attribute's arguments, failing on the first syntax error or with every
    /// other mistake at once.
    #[cfg(test)]
    pub fn parse(args: TokenStream) -> syn::Result<Options> {
        let (options, errors) = Options::parse_lenient(args)?;
        errors.finish().map(|()| options)
    }

    /// Parses the attribute's arguments, keeping every option that parsed beside the errors
    /// of those that did not, so that validation can still report its own findings in the
    /// same compile. Only a syntax error that leaves no options to read is returned as `Err`.
    pub fn parse_lenient(args: TokenStream) -> syn::Result<(Options, Errors)> {
        let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
        let mut options = Options::default();
        let mut errors = Errors::default();
        for meta in metas {
            errors.push(options.set(meta));
        }
        Ok((options, errors))
    }

    fn set(&mut self, meta: Meta) -> syn::Result<()> {
        let name = option_name(meta.path())?;
        let Some(option) = OptionName::find(&name.to_string()) else {
            return Err(syn::Error::new_spanned(meta.path(), errors::unknown_option(&name)));
        };
        if let Some(first) = self.seen.iter().find(|seen| **seen == name) {
            let mut error = syn::Error::new_spanned(meta.path(), format!("duplicate option `{name}`"));
            error.combine(syn::Error::new_spanned(first, format!("`{name}` is first set here")));
            return Err(error);
        }
        self.seen.push(name.clone());
        match option {
            OptionName::Kind => self.kind = Some(parse_kind(&meta)?),
            OptionName::Name => self.name = Some(string_value(&meta, "name = \"my_chain\"")?),
            OptionName::Tags => self.tags = Some(list(&meta, "tags(\"a\", \"b\")", parse_tag)?),
            OptionName::Metadata => {
                self.metadata = Some(list(&meta, "metadata(model = \"gpt-4o\", temperature = 0.2)", parse_entry)?)
            }
            OptionName::Skip => self.skip = list(&meta, "skip(arg, ..)", |input| parse_arg(input, OptionName::Skip))?,
            OptionName::Redact => {
                self.redact = list(&meta, "redact(arg, ..)", |input| parse_arg(input, OptionName::Redact))?
            }
            OptionName::SkipAll => self.skip_all = Some(flag(&meta)?),
            OptionName::SkipOutput => self.skip_output = Some(flag(&meta)?),
            OptionName::RedactOutput => self.redact_output = Some(flag(&meta)?),
            OptionName::Err => self.err = Some(parse_err(&meta)?),
            OptionName::Callbacks => self.callbacks = Some(expr_value(&meta, "callbacks = self.callbacks")?),
            OptionName::Verbose => self.verbose = Some(expr_value(&meta, "verbose = true")?),
            OptionName::Model => self.model = Some((name, expr_value(&meta, "model = self.model")?)),
            OptionName::Provider => self.provider = Some((name, expr_value(&meta, "provider = \"openai\"")?)),
            OptionName::Stream => self.stream = Some(flag(&meta)?),
            OptionName::Tokens => {
                let projection = match &meta {
                    Meta::Path(_) => None,
                    _ => Some(expr_value(&meta, "tokens = chunk_text")?),
                };
                self.tokens = Some((name, projection));
            }
            OptionName::Reduce => self.reduce = Some((name, expr_value(&meta, "reduce = join_chunks")?)),
            OptionName::Crate => self.krate = Some(parse_crate(&meta)?),
        }
        Ok(())
    }
}

fn option_name(path: &Path) -> syn::Result<Ident> {
    match path.get_ident() {
        Some(ident) => Ok(ident.clone()),
        // `crate` is a keyword, so it parses as a path segment, not as an ident.
        None if path.segments.len() == 1 && path.leading_colon.is_none() => Ok(path.segments[0].ident.clone()),
        None => {
            Err(syn::Error::new_spanned(path, format!("unknown option; expected one of {}", errors::option_list())))
        }
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
            let spelled = KINDS.map(|(spelled, _)| spelled);
            Err(syn::Error::new_spanned(lit, errors::unknown("run kind", &value, &spelled)))
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

fn parse_tag(input: ParseStream<'_>) -> syn::Result<LitStr> {
    if input.peek(LitStr) {
        input.parse()
    } else {
        Err(input.error("tags are string literals, as in `tags(\"a\", \"b\")`"))
    }
}

fn parse_arg(input: ParseStream<'_>, option: OptionName) -> syn::Result<Ident> {
    if input.peek(Ident) {
        input.parse()
    } else {
        let option = option.spelled();
        Err(input.error(format!("`{option}` lists argument names, as in `{option}(api_key)`")))
    }
}

fn parse_entry(input: ParseStream<'_>) -> syn::Result<(Ident, Expr)> {
    const EXPECTED: &str = "metadata entries are `key = value`, as in `metadata(model = \"gpt-4o\")`";
    let key = input.call(Ident::parse_any).map_err(|error| syn::Error::new(error.span(), EXPECTED))?;
    input.parse::<Token![=]>().map_err(|error| syn::Error::new(error.span(), EXPECTED))?;
    let value: Expr = input.parse()?;
    Ok((key, value))
}

fn parse_err(meta: &Meta) -> syn::Result<(ErrRender, Path)> {
    let Meta::List(list) = meta else {
        return Err(syn::Error::new_spanned(meta, ERR_EXPECTED));
    };
    let how: Ident = list.parse_args().map_err(|error| syn::Error::new(error.span(), ERR_EXPECTED))?;
    let written = how.to_string();
    match RENDERINGS.iter().find(|(spelled, _)| *spelled == written) {
        Some((_, render)) => Ok((*render, list.path.clone())),
        None => {
            let spelled = RENDERINGS.map(|(spelled, _)| spelled);
            Err(syn::Error::new_spanned(&how, errors::unknown("error rendering", &written, &spelled)))
        }
    }
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

#[cfg(test)]
mod tests {
    use quote::{ToTokens, quote};

    use super::*;

    fn parse(args: TokenStream) -> Options {
        match Options::parse(args) {
            Ok(options) => options,
            Err(error) => panic!("expected the options to parse, got: {error}"),
        }
    }

    /// Every message of a failed parse, in order.
    fn errors(args: TokenStream) -> Vec<String> {
        match Options::parse(args) {
            Ok(_) => panic!("expected the options to be rejected"),
            Err(error) => error.into_iter().map(|error| error.to_string()).collect(),
        }
    }

    fn text(tokens: &impl ToTokens) -> String {
        tokens.to_token_stream().to_string()
    }

    fn names(idents: &[Ident]) -> Vec<String> {
        idents.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn no_options_leave_every_default() {
        let options = parse(quote!());
        assert!(options.kind.is_none() && options.name.is_none() && options.tags.is_none());
        assert!(options.metadata.is_none() && options.skip.is_empty() && options.redact.is_empty());
        assert!(options.skip_all.is_none() && options.skip_output.is_none() && options.redact_output.is_none());
        assert!(options.err.is_none() && options.callbacks.is_none() && options.verbose.is_none());
        assert!(options.krate.is_none() && options.seen.is_empty());
    }

    #[test]
    fn every_kind_maps_to_its_variant() {
        for (spelled, variant) in KINDS {
            let options = parse(quote!(kind = #spelled));
            let (ident, literal) = options.kind.expect("kind");
            assert_eq!(ident, variant);
            assert_eq!(literal.value(), spelled);
        }
    }

    #[test]
    fn name_alone() {
        assert_eq!(parse(quote!(name = "calculator")).name.expect("name").value(), "calculator");
    }

    #[test]
    fn tags_alone() {
        let tags = parse(quote!(tags("a", "b",))).tags.expect("tags");
        assert_eq!(tags.iter().map(LitStr::value).collect::<Vec<_>>(), ["a", "b"]);
        assert!(parse(quote!(tags())).tags.expect("empty tags").is_empty());
    }

    #[test]
    fn metadata_alone_keeps_keys_and_expressions() {
        let metadata = parse(quote!(metadata(model = "gpt-4o", temperature = 0.2, r#type = self.kind())))
            .metadata
            .expect("metadata");
        let entries: Vec<(String, String)> =
            metadata.iter().map(|(key, value)| (key.to_string(), text(value))).collect();
        assert_eq!(
            entries,
            [
                ("model".to_owned(), "\"gpt-4o\"".to_owned()),
                ("temperature".to_owned(), "0.2".to_owned()),
                ("r#type".to_owned(), "self . kind ()".to_owned()),
            ]
        );
        let keyword_key = parse(quote!(metadata(type = 1))).metadata.expect("metadata");
        assert_eq!(keyword_key[0].0, "type");
    }

    #[test]
    fn skip_and_redact_alone_list_argument_names() {
        assert_eq!(names(&parse(quote!(skip(api_key, r#type))).skip), ["api_key", "r#type"]);
        assert_eq!(names(&parse(quote!(redact(password))).redact), ["password"]);
    }

    #[test]
    fn flags_alone() {
        assert!(parse(quote!(skip_all)).skip_all.is_some());
        assert!(parse(quote!(skip_output)).skip_output.is_some());
        assert!(parse(quote!(redact_output)).redact_output.is_some());
    }

    #[test]
    fn err_alone_picks_the_rendering() {
        assert!(matches!(parse(quote!(err(Display))).err, Some((ErrRender::Display, _))));
        assert!(matches!(parse(quote!(err(Debug))).err, Some((ErrRender::Debug, _))));
        assert!(matches!(parse(quote!(err(redact))).err, Some((ErrRender::Redact, _))));
    }

    #[test]
    fn callbacks_and_verbose_alone_keep_their_expressions() {
        assert_eq!(text(&parse(quote!(callbacks = self.callbacks)).callbacks.expect("callbacks")), "self . callbacks");
        assert_eq!(
            text(&parse(quote!(verbose = cfg!(debug_assertions))).verbose.expect("verbose")),
            "cfg ! (debug_assertions)"
        );
    }

    #[test]
    fn stream_tokens_and_reduce_alone() {
        assert!(parse(quote!(stream)).stream.is_some());
        assert!(parse(quote!(tokens)).tokens.expect("tokens").1.is_none());
        assert_eq!(text(&parse(quote!(tokens = chunk.text)).tokens.expect("tokens").1.expect("path")), "chunk . text");
        assert_eq!(text(&parse(quote!(reduce = join)).reduce.expect("reduce").1), "join");
        assert_eq!(errors(quote!(stream = true)), ["`stream` takes no value"]);
        assert_eq!(errors(quote!(reduce)), ["expected `reduce = join_chunks`"]);
    }

    #[test]
    fn crate_alone_takes_a_path_or_a_string() {
        assert_eq!(text(&parse(quote!(crate = my::runtrace)).krate.expect("path")), "my :: runtrace");
        assert_eq!(text(&parse(quote!(crate = "::my::runtrace")).krate.expect("string")), ":: my :: runtrace");
    }

    #[test]
    fn every_option_together() {
        let options = parse(quote! {
            kind = "tool", name = "calculator", tags("math"), metadata(precision = 2),
            skip(api_key), redact(password), skip_output, err(Debug),
            callbacks = self.callbacks, verbose = true, crate = runtrace,
        });
        assert_eq!(options.kind.expect("kind").0, "Tool");
        assert_eq!(options.name.expect("name").value(), "calculator");
        assert_eq!(options.tags.expect("tags").len(), 1);
        assert_eq!(options.metadata.expect("metadata").len(), 1);
        assert_eq!(names(&options.skip), ["api_key"]);
        assert_eq!(names(&options.redact), ["password"]);
        assert!(options.skip_output.is_some() && options.redact_output.is_none() && options.skip_all.is_none());
        assert!(matches!(options.err, Some((ErrRender::Debug, _))));
        assert!(options.callbacks.is_some() && options.verbose.is_some() && options.krate.is_some());
        assert_eq!(
            names(&options.seen),
            [
                "kind",
                "name",
                "tags",
                "metadata",
                "skip",
                "redact",
                "skip_output",
                "err",
                "callbacks",
                "verbose",
                "crate"
            ]
        );
    }

    #[test]
    fn options_combine_in_any_order() {
        let options = parse(quote!(redact_output, skip_all, kind = "llm"));
        assert!(options.redact_output.is_some() && options.skip_all.is_some());
        assert_eq!(options.kind.expect("kind").0, "Llm");
    }

    #[test]
    fn a_duplicate_points_at_both_settings() {
        assert_eq!(
            errors(quote!(kind = "tool", name = "x", kind = "llm")),
            ["duplicate option `kind`", "`kind` is first set here"]
        );
        assert_eq!(errors(quote!(skip(a), skip(b)))[0], "duplicate option `skip`");
        assert_eq!(errors(quote!(skip_output, skip_output))[0], "duplicate option `skip_output`");
    }

    #[test]
    fn an_unknown_option_is_named_with_a_suggestion_when_one_is_near() {
        assert_eq!(errors(quote!(skip_ouput)), ["unknown option `skip_ouput`; did you mean `skip_output`?"]);
        assert_eq!(errors(quote!(tag("a"))), ["unknown option `tag`; did you mean `tags`?"]);
        assert_eq!(
            errors(quote!(sample_rate = 0.5)),
            [format!("unknown option `sample_rate`; expected one of {}", errors::option_list())]
        );
        assert_eq!(errors(quote!(a::b = 1)), [format!("unknown option; expected one of {}", errors::option_list())]);
    }

    #[test]
    fn an_unknown_kind_is_named_with_a_suggestion_when_one_is_near() {
        assert_eq!(errors(quote!(kind = "toll")), ["unknown run kind `toll`; did you mean `tool`?"]);
        assert_eq!(errors(quote!(kind = "chatmodel")), ["unknown run kind `chatmodel`; did you mean `chat_model`?"]);
        assert!(
            errors(quote!(kind = "database"))[0].starts_with("unknown run kind `database`; expected one of chain, llm")
        );
    }

    #[test]
    fn options_of_the_wrong_shape_say_what_they_take() {
        assert_eq!(errors(quote!(kind = RunKind::Tool)), ["`kind` takes a string literal, such as `kind = \"tool\"`"]);
        assert_eq!(errors(quote!(kind("tool"))), ["expected `kind = \"chain\"` (or llm, tool, ...)"]);
        assert_eq!(errors(quote!(name = calculator)), ["expected a string literal, as in `name = \"my_chain\"`"]);
        assert_eq!(errors(quote!(skip_all = true)), ["`skip_all` takes no value"]);
        assert_eq!(errors(quote!(redact_output(x))), ["`redact_output` takes no value"]);
        assert_eq!(errors(quote!(skip = api_key)), ["expected a list, as in `skip(arg, ..)`"]);
        assert_eq!(errors(quote!(skip(1))), ["`skip` lists argument names, as in `skip(api_key)`"]);
        assert_eq!(errors(quote!(redact("password"))), ["`redact` lists argument names, as in `redact(api_key)`"]);
        assert_eq!(errors(quote!(tags(math))), ["tags are string literals, as in `tags(\"a\", \"b\")`"]);
        assert_eq!(
            errors(quote!(metadata("gpt-4o"))),
            ["metadata entries are `key = value`, as in `metadata(model = \"gpt-4o\")`"]
        );
        assert_eq!(
            errors(quote!(err(Json))),
            ["unknown error rendering `Json`; expected one of Display, Debug, redact"]
        );
        assert_eq!(errors(quote!(err(redacted))), ["unknown error rendering `redacted`; did you mean `redact`?"]);
        assert_eq!(errors(quote!(err = Debug)), ["expected `err(Display)`, `err(Debug)` or `err(redact)`"]);
        assert_eq!(errors(quote!(err())), ["expected `err(Display)`, `err(Debug)` or `err(redact)`"]);
        assert_eq!(errors(quote!(callbacks)), ["expected `callbacks = self.callbacks`"]);
        assert_eq!(errors(quote!(verbose)), ["expected `verbose = true`"]);
        assert_eq!(errors(quote!(crate = 1)), ["expected a path, as in `crate = my_crate::runtrace`"]);
    }

    #[test]
    fn every_mistake_is_reported_in_one_parse() {
        assert_eq!(
            errors(quote!(kind = "tol", colour = "red", name = 1, skip_all = yes)),
            [
                "unknown run kind `tol`; did you mean `tool`?",
                format!("unknown option `colour`; expected one of {}", errors::option_list()).as_str(),
                "expected a string literal, as in `name = \"my_chain\"`",
                "`skip_all` takes no value",
            ]
        );
    }

    #[test]
    fn lenient_parsing_keeps_the_good_options_beside_the_errors() {
        let (options, errors) = Options::parse_lenient(quote!(kind = "tol", skip(query), bogus)).expect("syntax");
        assert_eq!(names(&options.skip), ["query"]);
        assert!(options.kind.is_none());
        assert_eq!(errors.finish().expect_err("errors").into_iter().count(), 2);
    }

    #[test]
    fn a_syntax_error_stops_the_parse() {
        assert!(Options::parse_lenient(quote!(kind = "tool" name = "x")).is_err());
        assert!(Options::parse_lenient(quote!(kind = )).is_err());
    }
}
