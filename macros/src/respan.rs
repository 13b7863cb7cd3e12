//! Spans of generated tokens. rustc reports an unmet bound or a type mismatch where the
//! offending tokens sit, so a check we generate is given the location of the argument,
//! expression or type it is about, keeping our own hygiene: the error then underlines what
//! the user wrote, never the attribute. Our own names get the hygiene of `mixed_site`, so the
//! user's code can neither see nor shadow them.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::Ident;

/// A name for generated code that the user's body cannot see or shadow.
pub fn hidden(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// `function(&(node))`, spread over `node`'s tokens, so that an unmet bound of `function`
/// is reported on the whole of `node`.
pub fn call_on(function: TokenStream, node: &impl ToTokens) -> TokenStream {
    let (first, last) = extent(node);
    let function = spread(function, first, first);
    let borrow = spread(quote!(&), first, first);
    let node = group(Delimiter::Parenthesis, node.to_token_stream(), last);
    let args = group(Delimiter::Parenthesis, quote!(#borrow #node), last);
    quote!(#function #args)
}

/// `function::<ty>(value)`: the check of our `value` as the user's type `ty`, whose unmet
/// bound rustc reports on `ty` where it is written.
pub fn call_as(function: TokenStream, ty: &impl ToTokens, value: &Ident) -> TokenStream {
    let function = located(quote!(#function::), extent(ty).0);
    quote!(#function<#ty>(#value))
}

/// `function(value)`, spread over `node`'s tokens though `value` is ours (its type, or what
/// it came of, is `node`), so that an unmet bound of `function` is reported on the whole of
/// `node`.
pub fn call_about(function: TokenStream, value: &Ident, node: &impl ToTokens) -> TokenStream {
    let (first, last) = extent(node);
    let function = spread(function, first, last);
    // `*&(value)` is `value`, as an expression that starts at `first` and ends at `last`.
    let reborrow = located(quote!(*&), first);
    let value = group(Delimiter::Parenthesis, quote!(#value), last);
    let args = group(Delimiter::Parenthesis, quote!(#reborrow #value), last);
    quote!(#function #args)
}

/// The first and last tokens' spans of `node`. A span cannot be joined on stable, but
/// generated code that starts at `first` and ends at `last` reads to rustc as covering the
/// whole of the user's expression or type.
pub fn extent(node: &impl ToTokens) -> (Span, Span) {
    let mut tokens = node.to_token_stream().into_iter();
    let first = tokens.next().map_or_else(Span::call_site, |token| token.span());
    let last = tokens.last().map_or(first, |token| token.span());
    (first, last)
}

/// Generated `tokens` placed at `span`, keeping their own hygiene.
pub fn located(tokens: TokenStream, span: Span) -> TokenStream {
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
pub fn spread(tokens: TokenStream, first: Span, last: Span) -> TokenStream {
    let mut tokens: Vec<TokenTree> = located(tokens, first).into_iter().collect();
    if let Some(end) = tokens.pop() {
        tokens.extend(located(end.into(), last));
    }
    tokens.into_iter().collect()
}

/// A group of generated delimiters placed at `span` around `stream`.
pub fn group(delimiter: Delimiter, stream: TokenStream, span: Span) -> Group {
    let mut group = Group::new(delimiter, stream);
    group.set_span(Span::call_site().located_at(span));
    group
}
