//! [`Filter`]: which events a stream lets through, by kind, name and tag, as LangChain's
//! `include_*` / `exclude_*` arguments of `astream_events` decide.

use std::collections::HashSet;

use super::standard_event::StandardEvent;
use crate::event::RunKind;

/// With no `include_*`, every event is in; with some, an event is in when it matches any of
/// them. Then an event that matches any `exclude_*` is out.
#[derive(Default)]
pub(super) struct Filter {
    pub(super) include_kinds: Option<HashSet<RunKind>>,
    pub(super) include_names: Option<HashSet<String>>,
    pub(super) include_tags: Option<HashSet<String>>,
    pub(super) exclude_kinds: HashSet<RunKind>,
    pub(super) exclude_names: HashSet<String>,
    pub(super) exclude_tags: HashSet<String>,
}

impl Filter {
    pub(super) fn admits(&self, event: &StandardEvent) -> bool {
        let name = &*event.name;
        let tagged = |tags: &HashSet<String>| event.tags.iter().any(|tag| tags.contains(tag));
        let included = match (&self.include_kinds, &self.include_names, &self.include_tags) {
            (None, None, None) => true,
            (kinds, names, tags) => {
                kinds.as_ref().is_some_and(|kinds| kinds.contains(&event.kind))
                    || names.as_ref().is_some_and(|names| names.contains(name))
                    || tags.as_ref().is_some_and(tagged)
            }
        };
        included
            && !self.exclude_kinds.contains(&event.kind)
            && !self.exclude_names.contains(name)
            && !tagged(&self.exclude_tags)
    }
}
