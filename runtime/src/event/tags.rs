//! Tags and metadata: cheap to clone, shared by a manager, its runs and their events.

use std::ops::Deref;
use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// The tags of a run or a manager: an ordered list without duplicates.
///
/// Cloning shares the list; a manager with no tags holds nothing.
///
/// ```
/// use runtrace_runtime::CallbackManager;
///
/// let callbacks = CallbackManager::new().with_tags(["prod", "eu", "prod"]);
/// assert_eq!(&callbacks.tags()[..], ["prod", "eu"]);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tags(Option<Arc<[String]>>);

impl Tags {
    pub(crate) const EMPTY: Tags = Tags(None);

    /// The tags of `self` followed by those of `more` that `self` lacks.
    pub(crate) fn merged<I, S>(&self, more: I) -> Tags
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut all: Vec<String> = self.to_vec();
        for tag in more {
            let tag = tag.as_ref();
            if !all.iter().any(|t| t == tag) {
                all.push(tag.to_owned());
            }
        }
        Tags::from_vec(all)
    }

    fn from_vec(all: Vec<String>) -> Tags {
        if all.is_empty() { Tags(None) } else { Tags(Some(all.into())) }
    }
}

impl Deref for Tags {
    type Target = [String];

    fn deref(&self) -> &[String] {
        self.0.as_deref().unwrap_or(&[])
    }
}

impl std::fmt::Debug for Tags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Tags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self[..].serialize(serializer)
    }
}

/// The metadata of a run or a manager: JSON values by key, later keys overriding earlier ones.
///
/// ```
/// use runtrace_runtime::CallbackManager;
///
/// let callbacks = CallbackManager::new().with_metadata([("user", "ada")]);
/// assert_eq!(callbacks.metadata().get("user"), Some(&serde_json::json!("ada")));
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Metadata(Option<Arc<Map<String, Value>>>);

impl Metadata {
    pub(crate) const EMPTY: Metadata = Metadata(None);

    /// The value under `key`, if any.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.as_deref()?.get(key)
    }

    /// The entries in key order.
    ///
    /// ```
    /// use runtrace_runtime::CallbackManager;
    ///
    /// let callbacks = CallbackManager::new().with_metadata([("user", "ada"), ("tier", "pro")]);
    /// let keys: Vec<&str> = callbacks.metadata().iter().map(|(key, _)| key.as_str()).collect();
    /// assert_eq!(keys, ["tier", "user"]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.as_deref().into_iter().flatten()
    }

    /// How many entries there are.
    ///
    /// ```
    /// use runtrace_runtime::CallbackManager;
    ///
    /// assert!(CallbackManager::new().metadata().is_empty());
    /// let callbacks = CallbackManager::new().with_metadata([("user", "ada")]).with_metadata([("user", "grace")]);
    /// assert_eq!(callbacks.metadata().len(), 1, "the later value replaced the earlier");
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.as_deref().map_or(0, Map::len)
    }

    /// Whether there are no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the entries as a JSON map.
    ///
    /// ```
    /// use runtrace_runtime::CallbackManager;
    ///
    /// let callbacks = CallbackManager::new().with_metadata([("user", "ada")]);
    /// let mut extra = callbacks.metadata().to_map();
    /// extra.insert("request_id".into(), "req-7".into());
    /// assert_eq!(serde_json::Value::Object(extra), serde_json::json!({"user": "ada", "request_id": "req-7"}));
    /// ```
    #[must_use]
    pub fn to_map(&self) -> Map<String, Value> {
        self.0.as_deref().cloned().unwrap_or_default()
    }

    /// The entries of `self`, then those of `more`, which win on equal keys.
    pub(crate) fn merged<I, K, V>(&self, more: I) -> Metadata
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Value>,
    {
        let mut map = self.to_map();
        map.extend(more.into_iter().map(|(k, v)| (k.into(), v.into())));
        if map.is_empty() { Metadata(None) } else { Metadata(Some(Arc::new(map))) }
    }

    pub(crate) fn merged_with(&self, more: &Metadata) -> Metadata {
        if more.is_empty() {
            self.clone()
        } else if self.is_empty() {
            more.clone()
        } else {
            self.merged(more.iter().map(|(k, v)| (k.clone(), v.clone())))
        }
    }
}

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}
