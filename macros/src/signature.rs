//! The traced signature: the `run: &RunManager` parameter becomes the parent that callers
//! pass (or one is added), and an output lifetime that elision took from the one input
//! reference is named, since the added parameter would make elision ambiguous.
//!
//! The parameter's type is recognised by its last path segment: a macro cannot resolve
//! types, and users write `RunManager` through a prelude or a re-export.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{FnArg, Ident, Lifetime, Path, Type};

use crate::respan::{extent, spread};
use crate::valid::mentions_impl;

/// A manager parameter by its declared type: `&RunManager`, or `&CallbackManager`, which
/// only the rewritten signature should take.
pub enum Manager {
    Run,
    Callback,
}

/// `RunManager`, `&mut RunManager` and the same of `CallbackManager`: how a manager parameter
/// is spelled by mistake.
pub fn manager_by_value(ty: &Type) -> Option<String> {
    let (path, spelled) = match ty {
        Type::Path(path) => (path, ""),
        Type::Reference(reference) if reference.mutability.is_some() => match &*reference.elem {
            Type::Path(path) => (path, "&mut "),
            _ => return None,
        },
        _ => return None,
    };
    let last = &path.path.segments.last()?.ident;
    (last == "RunManager" || last == "CallbackManager").then(|| format!("{spelled}{last}"))
}

/// `&RunManager` / `&CallbackManager`, by the last segment of the referenced path.
pub fn manager_type(ty: &Type) -> Option<Manager> {
    let Type::Reference(reference) = ty else { return None };
    let Type::Path(path) = &*reference.elem else { return None };
    let last = path.path.segments.last()?;
    if last.ident == "RunManager" {
        Some(Manager::Run)
    } else if last.ident == "CallbackManager" {
        Some(Manager::Callback)
    } else {
        None
    }
}

/// What a traced function's parent parameter is typed as: `impl AsParent` for functions
/// without a receiver, `&dyn AsParent` for methods (which keeps traits with traced methods
/// object-safe); either way callers pass `&callbacks`, their own `run`, or
/// `CallbackManager::none()`.
fn as_parent(krate: &Path) -> TokenStream {
    quote!(#krate::__private::AsParent)
}

/// Turns the `run: &RunManager` parameter into the parent parameter callers pass (or adds
/// one, `callbacks`) and returns the expression of the manager to start the run from.
///
/// With `outlives_call` (a free function returning `impl Stream`, whose stream outlives the
/// call), the parent is `&dyn AsParent` and the returned type captures only the function's
/// own generics (`+ use<..>`): a parent type or lifetime it captured would tie the stream
/// to the caller's `run`, which a traced stream made inside another run outlives.
pub fn rewrite_signature(
    sig: &mut syn::Signature,
    run_param: Option<usize>,
    outlives_call: bool,
    krate: &Path,
) -> TokenStream {
    // Methods take `&dyn AsParent`, which keeps traits with traced methods object-safe;
    // other functions take any parent, a manager by value included. (A `const` or `extern`
    // fn is an error reported beside; its fallback keeps the plain reference, which adds no
    // error of its own.)
    let outlives_call = outlives_call && sig.receiver().is_none() && {
        // The lifetime an elided output borrows must be named for `use<..>` to list it.
        name_elided_output_lifetime(sig);
        capture_own_generics(sig)
    };
    let generic = sig.receiver().is_none() && sig.constness.is_none() && sig.abi.is_none() && !outlives_call;
    let as_parent = as_parent(krate);
    if let Some(index) = run_param {
        if let Some(FnArg::Typed(typed)) = sig.inputs.iter_mut().nth(index) {
            if let (Type::Reference(_), syn::Pat::Ident(pat)) = (&*typed.ty, &mut *typed.pat) {
                // The parent is only read; the body's `mut run` is the binding made for it.
                pat.mutability = None;
                let ident = pat.ident.clone();
                let (first, last) = extent(&typed.ty);
                if generic {
                    *typed.ty = syn::parse2(spread(quote!(impl #as_parent), first, last))
                        .unwrap_or_else(|_| syn::parse_quote!(impl #as_parent));
                    return quote!(#as_parent::as_parent(&#ident));
                }
                if let Type::Reference(reference) = &mut *typed.ty {
                    let (first, last) = extent(&reference.elem);
                    *reference.elem = syn::parse2(spread(quote!(dyn #as_parent), first, last))
                        .unwrap_or_else(|_| syn::parse_quote!(dyn #as_parent));
                }
                return quote!(#as_parent::as_parent(#ident));
            }
        }
    }
    let parent = Ident::new("callbacks", Span::mixed_site());
    if generic {
        sig.inputs.push(syn::parse_quote!(#parent: impl #as_parent));
        return quote!(#as_parent::as_parent(&#parent));
    }
    name_elided_output_lifetime(sig);
    sig.inputs.push(syn::parse_quote!(#parent: &dyn #as_parent));
    quote!(#as_parent::as_parent(#parent))
}

/// Adds `use<..>` of the function's own generics to its `impl` return type, unless one is
/// written; false when the return type is no `impl`.
fn capture_own_generics(sig: &mut syn::Signature) -> bool {
    // An `impl Trait` argument is a type parameter that `use<..>` cannot name but must list.
    let impl_argument = sig.inputs.iter().any(|arg| match arg {
        FnArg::Typed(typed) => mentions_impl(&typed.ty),
        FnArg::Receiver(_) => false,
    });
    if impl_argument {
        return false;
    }
    let syn::ReturnType::Type(_, output) = &mut sig.output else { return false };
    let Type::ImplTrait(output) = &mut **output else { return false };
    if output.bounds.iter().any(|bound| matches!(bound, syn::TypeParamBound::PreciseCapture(_))) {
        return true;
    }
    let params = sig.generics.params.iter().map(|param| match param {
        syn::GenericParam::Lifetime(param) => {
            let lifetime = &param.lifetime;
            quote!(#lifetime)
        }
        syn::GenericParam::Type(param) => {
            let ident = &param.ident;
            quote!(#ident)
        }
        syn::GenericParam::Const(param) => {
            let ident = &param.ident;
            quote!(#ident)
        }
    });
    match syn::parse2::<syn::TypeParamBound>(quote!(use<#(#params),*>)) {
        Ok(bound) => {
            output.bounds.push(bound);
            true
        }
        Err(_) => false,
    }
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
