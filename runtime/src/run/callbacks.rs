//! [`Callbacks`]: a manager's handlers, tags and metadata, shared behind one pointer.

use std::sync::{Arc, OnceLock};

use crate::dispatch::RegisteredHandler;
use crate::event::{Metadata, Tags};
use crate::stripe::{self, STRIPES};

/// A manager's handlers, tags and metadata, behind one shared pointer; `None` when it has
/// none at all, so the empty manager holds nothing and cloning it touches no shared memory.
///
/// One pointer, not six, because starting a run copies them into the run and into its
/// children's manager, and each copy of a shared pointer is an atomic increment and
/// decrement (about 14 ns here). When a manager's runs and their children see the same
/// callbacks (no local ones: every child manager, and any manager built with `with_handler`,
/// `with_tags` and `with_metadata` only), the run, its children's manager and the manager
/// itself share one `Callbacks`: a run costs one such copy.
///
/// That copy's count is written by every run started with the set, so threads that share a
/// manager would pass its cache line back and forth at every run. Runs on threads of other
/// [stripes](crate::stripe) than the set's maker take it from a copy of the set made for
/// their stripe instead, once (see [`Callbacks::for_children`]); a manager made per request
/// and used where it was made has no copy.
#[derive(Clone, Default)]
pub(crate) struct Callbacks(pub(super) Option<Arc<CallbackSet>>);

#[derive(Default)]
pub(crate) struct CallbackSet {
    pub(super) handlers: HandlerList,
    pub(super) inheritable_handlers: HandlerList,
    pub(super) tags: Tags,
    pub(super) inheritable_tags: Tags,
    pub(super) metadata: Metadata,
    pub(super) inheritable_metadata: Metadata,
    /// Whether the runs started with this set and their children see the same callbacks
    /// (it has no local ones), so the children's manager can share it.
    inherited_whole: bool,
    /// The inheritable part, made for the first run started with a set that has local
    /// callbacks and shared by the children of every later one.
    children: OnceLock<Callbacks>,
    /// The stripe whose runs take their reference to this set itself: that of the thread
    /// that made it, often the only one to use it (a manager made per request). `None` for
    /// one of another set's [`replicas`](Self::replicas), the same callbacks behind a
    /// reference count of their own, which every stripe uses as it is.
    home: Option<usize>,
    /// This set again, once for each other [stripe](crate::stripe) of threads that starts
    /// runs with it, made when the stripe first does.
    replicas: [OnceLock<Callbacks>; STRIPES],
}

static EMPTY: CallbackSet = CallbackSet {
    handlers: HandlerList::EMPTY,
    inheritable_handlers: HandlerList::EMPTY,
    tags: Tags::EMPTY,
    inheritable_tags: Tags::EMPTY,
    metadata: Metadata::EMPTY,
    inheritable_metadata: Metadata::EMPTY,
    inherited_whole: true,
    children: OnceLock::new(),
    home: None,
    replicas: [const { OnceLock::new() }; STRIPES],
};

impl Callbacks {
    pub(crate) const NONE: Callbacks = Callbacks(None);

    pub(super) fn new(set: CallbackSet) -> Callbacks {
        let CallbackSet {
            handlers, inheritable_handlers, tags, inheritable_tags, metadata, inheritable_metadata, ..
        } = set;
        if handlers.is_empty()
            && inheritable_handlers.is_empty()
            && tags.is_empty()
            && inheritable_tags.is_empty()
            && metadata.is_empty()
            && inheritable_metadata.is_empty()
        {
            return Callbacks::NONE;
        }
        let inherited_whole = handlers.as_slice() == inheritable_handlers.as_slice()
            && tags == inheritable_tags
            && metadata == inheritable_metadata;
        Callbacks(Some(Arc::new(CallbackSet {
            handlers,
            inheritable_handlers,
            tags,
            inheritable_tags,
            metadata,
            inheritable_metadata,
            inherited_whole,
            home: Some(stripe::this_thread()),
            ..CallbackSet::default()
        })))
    }

    #[inline]
    pub(crate) fn get(&self) -> &CallbackSet {
        self.0.as_deref().unwrap_or(&EMPTY)
    }

    /// Whether the runs started with `self` see the callbacks their children do, so that they
    /// need keep no callbacks of their own.
    #[inline]
    pub(crate) fn inherited_whole(&self) -> bool {
        self.get().inherited_whole
    }

    /// The callbacks of the children of runs started with `self`: its inheritable ones,
    /// all inheritable again, from this thread's replica.
    #[inline]
    pub(super) fn for_children(&self) -> Callbacks {
        let set = self.get();
        let whole = if set.inherited_whole {
            self
        } else {
            set.children.get_or_init(|| {
                Callbacks::new(CallbackSet {
                    handlers: set.inheritable_handlers.clone(),
                    inheritable_handlers: set.inheritable_handlers.clone(),
                    tags: set.inheritable_tags.clone(),
                    inheritable_tags: set.inheritable_tags.clone(),
                    metadata: set.inheritable_metadata.clone(),
                    inheritable_metadata: set.inheritable_metadata.clone(),
                    ..CallbackSet::default()
                })
            })
        };
        whole.on_this_stripe()
    }

    /// `self`, or the same callbacks behind this thread's stripe's reference count.
    #[inline]
    fn on_this_stripe(&self) -> Callbacks {
        let Some(set) = &self.0 else { return Callbacks::NONE };
        let stripe = stripe::this_thread();
        match set.home {
            Some(home) if home != stripe => {
                set.replicas[stripe].get_or_init(|| Callbacks(Some(Arc::new(set.copy())))).clone()
            }
            _ => self.clone(),
        }
    }

    /// A copy of the set, changed by `edit`.
    pub(super) fn edited(&self, edit: impl FnOnce(&mut CallbackSet)) -> Callbacks {
        let mut copy = self.get().copy();
        edit(&mut copy);
        Callbacks::new(copy)
    }
}

impl CallbackSet {
    /// The same callbacks in a new set, homeless: a replica, unless [`Callbacks::new`]
    /// gives it a home.
    fn copy(&self) -> CallbackSet {
        CallbackSet {
            handlers: self.handlers.clone(),
            inheritable_handlers: self.inheritable_handlers.clone(),
            tags: self.tags.clone(),
            inheritable_tags: self.inheritable_tags.clone(),
            metadata: self.metadata.clone(),
            inheritable_metadata: self.inheritable_metadata.clone(),
            inherited_whole: self.inherited_whole,
            ..CallbackSet::default()
        }
    }

    /// The handlers of the runs started with this set.
    #[inline]
    pub(crate) fn handlers(&self) -> &[RegisteredHandler] {
        self.handlers.as_slice()
    }

    pub(crate) fn tags(&self) -> &Tags {
        &self.tags
    }

    pub(crate) fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.handlers.is_empty() && self.inheritable_handlers.is_empty()
    }
}

/// A list of handlers without duplicates; empty lists hold nothing.
#[derive(Clone, Default)]
pub(crate) struct HandlerList(Option<Arc<[RegisteredHandler]>>);

impl HandlerList {
    pub(super) const EMPTY: HandlerList = HandlerList(None);

    #[inline]
    pub(crate) fn as_slice(&self) -> &[RegisteredHandler] {
        self.0.as_deref().unwrap_or(&[])
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// `self` followed by those of `more` it lacks; `self` itself (shared) when it lacks none.
    pub(super) fn with(&self, more: impl IntoIterator<Item = RegisteredHandler>) -> HandlerList {
        let mut all = self.as_slice().to_vec();
        for handler in more {
            if !all.contains(&handler) {
                all.push(handler);
            }
        }
        if all.len() == self.as_slice().len() { self.clone() } else { HandlerList(Some(all.into())) }
    }
}
