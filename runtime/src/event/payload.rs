//! [`Payload`]: inputs and outputs as JSON made only when a handler first asks for them.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::depth::Bounded;

/// A JSON value that is made only when a handler first asks for it, then shared.
///
/// Traced functions hand their inputs and outputs over as payloads, so a run whose handlers
/// never read them never serializes them, and the handlers that do read them share one
/// serialization. The owned copy that background handlers receive shares the value instead
/// of copying it, unless a sync handler read it first. The tracer alone, which keeps inputs
/// and outputs in maps of its own, writes them there directly when it is the first to ask;
/// a handler after it that reads them makes them again. A background handler that said it
/// does not read payloads ([`Ignore::PAYLOADS`](crate::handlers::Ignore::PAYLOADS)) may
/// receive them [omitted](Payload::omitted).
///
/// ```
/// use runtrace_runtime::event::Payload;
///
/// let make = || serde_json::json!({"question": "2+2?"});
/// let inputs = Payload::deferred(&make); // nothing made yet
/// assert_eq!(inputs.get()["question"], "2+2?"); // made now, once
/// ```
pub struct Payload<'a>(PayloadRepr<'a>);

enum PayloadRepr<'a> {
    Deferred { make: Make<'a>, value: OnceLock<Made> },
    Ready(Arc<Value>),
}

/// How a deferred payload is made.
#[derive(Clone, Copy)]
pub(crate) enum Make<'a> {
    /// By a function that returns the value.
    Value(&'a (dyn Fn() -> Value + Sync + 'a)),
    /// From the arguments of a traced function: the object `{argument: value}`.
    Fields(&'a [Field<'a>]),
    /// By no one: the payload was [omitted](Payload::omitted), and reads as `null`. A kind
    /// of making rather than a third kind of payload, so that dropping a payload, which
    /// every event does, stays a test of two cases.
    Omitted,
}

impl Make<'_> {
    fn make(self) -> Value {
        match self {
            Make::Value(make) => make(),
            Make::Fields(fields) => {
                let mut object = Map::new();
                insert_fields(&mut object, fields);
                Value::Object(object)
            }
            Make::Omitted => Value::Null,
        }
    }
}

/// A deferred payload's value, made for whoever asked first. Sync handlers only borrow it,
/// so it stays where it is, without an allocation of its own; an owned copy of the event
/// needs it shared, so when that comes first the value is made straight into an `Arc`.
enum Made {
    Borrowed(Value),
    Shared(Arc<Value>),
}

impl Made {
    pub(crate) fn value(&self) -> &Value {
        match self {
            Made::Borrowed(value) => value,
            Made::Shared(value) => value,
        }
    }
}

impl<'a> Payload<'a> {
    /// A payload that is already JSON.
    ///
    /// ```
    /// let payload = runtrace_runtime::event::Payload::new(serde_json::json!({"x": 1}));
    /// assert_eq!(payload.get()["x"], 1);
    /// ```
    #[must_use]
    pub fn new(value: Value) -> Payload<'static> {
        Payload(PayloadRepr::Ready(Arc::new(value)))
    }

    /// A payload made by `make` on first use.
    ///
    /// ```
    /// let make = || serde_json::json!("made");
    /// let payload = runtrace_runtime::event::Payload::deferred(&make);
    /// assert_eq!(payload.get(), "made");
    /// ```
    #[must_use]
    pub fn deferred(make: &'a (dyn Fn() -> Value + Sync + 'a)) -> Self {
        Self::made_by(Make::Value(make))
    }

    /// A payload left out of an owned copy of its event, for handlers that said they do not
    /// read payloads ([`Ignore::PAYLOADS`](crate::handlers::Ignore::PAYLOADS)): nothing was
    /// serialized for it. It reads as JSON `null`; [`is_omitted`](Self::is_omitted) tells it
    /// from a value that is `null`, such as the output of a function that returns `()`.
    ///
    /// ```
    /// let payload = runtrace_runtime::event::Payload::omitted();
    /// assert!(payload.get().is_null());
    /// assert!(payload.is_omitted());
    /// ```
    #[must_use]
    pub const fn omitted() -> Payload<'static> {
        Payload(PayloadRepr::Deferred { make: Make::Omitted, value: OnceLock::new() })
    }

    /// Whether this payload was [omitted](Self::omitted): left out of the event, rather than
    /// made (or to be made) from the run's inputs or output.
    ///
    /// ```
    /// use runtrace_runtime::event::Payload;
    /// assert!(!Payload::new(serde_json::Value::Null).is_omitted());
    /// assert!(Payload::omitted().is_omitted());
    /// ```
    #[must_use]
    pub const fn is_omitted(&self) -> bool {
        matches!(self.0, PayloadRepr::Deferred { make: Make::Omitted, .. })
    }

    /// A payload made by `make` on first use.
    pub(crate) fn made_by(make: Make<'a>) -> Self {
        Payload(PayloadRepr::Deferred { make, value: OnceLock::new() })
    }

    /// The JSON value, made now if no one asked before; `null` for a payload that was
    /// [omitted](Self::omitted).
    #[must_use]
    pub fn get(&self) -> &Value {
        match &self.0 {
            PayloadRepr::Deferred { make, value } => value.get_or_init(|| Made::Borrowed(make.make())).value(),
            PayloadRepr::Ready(value) => value,
        }
    }

    /// An owned payload with the same value, made now if no one asked before. A value not
    /// yet made, or already shared, is shared rather than copied; an omitted payload stays
    /// omitted.
    ///
    /// ```
    /// let make = || serde_json::json!({"prompt": "hi"});
    /// let payload = runtrace_runtime::event::Payload::deferred(&make);
    /// let owned = payload.to_static();
    /// assert_eq!(owned.get()["prompt"], "hi");
    /// assert!(std::ptr::eq(owned.get(), payload.get()), "one value, made once");
    /// ```
    #[must_use]
    pub fn to_static(&self) -> Payload<'static> {
        let shared = match &self.0 {
            PayloadRepr::Deferred { make: Make::Omitted, .. } => return Payload::omitted(),
            PayloadRepr::Deferred { make, value } => match value.get_or_init(|| Made::Shared(Arc::new(make.make()))) {
                Made::Borrowed(value) => Arc::new(value.clone()),
                Made::Shared(value) => Arc::clone(value),
            },
            PayloadRepr::Ready(value) => Arc::clone(value),
        };
        Payload(PayloadRepr::Ready(shared))
    }
}

/// How far a payload got: made (by a handler that read it, or from the start), or not yet,
/// with what would make it.
pub(crate) enum State<'p, 'a> {
    Made(&'p Value),
    Unmade(Make<'a>),
}

impl<'a> Payload<'a> {
    /// How far this payload got, without making it.
    pub(crate) fn state(&self) -> State<'_, 'a> {
        match &self.0 {
            PayloadRepr::Deferred { make, value } => match value.get() {
                Some(made) => State::Made(made.value()),
                None => State::Unmade(*make),
            },
            PayloadRepr::Ready(value) => State::Made(value),
        }
    }
}

/// Inserts `{name: value}` for each of `fields`. One by one: collecting sorts the entries
/// first and bulk-builds the map, about twice the work for the few arguments a function has.
pub(crate) fn insert_fields(map: &mut Map<String, Value>, fields: &[Field<'_>]) {
    for &(name, value) in fields {
        map.insert(name.to_owned(), value.to_json());
    }
}

impl fmt::Debug for Payload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_omitted() { f.write_str("Omitted") } else { fmt::Debug::fmt(self.get(), f) }
    }
}

impl Serialize for Payload<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(serializer)
    }
}

impl Clone for Payload<'_> {
    fn clone(&self) -> Self {
        self.to_static()
    }
}

/// An argument of a traced call as its run's inputs record it: its name and its value.
pub type Field<'a> = (&'static str, &'a dyn Recorded);

/// A recorded argument or output, erased for the lazy payload that makes its JSON: `Sync`,
/// because a handler may read the record on another thread while the run goes on.
pub trait Recorded: Sync {
    /// The value as JSON.
    fn to_json(&self) -> Value;
}

impl<T: Serialize + Sync + ?Sized> Recorded for T {
    #[inline]
    fn to_json(&self) -> Value {
        record(self)
    }
}

/// Records `value` as JSON, the way inputs and outputs of traced runs are recorded. A value
/// that fails to serialize (a map with non-string keys, say), or whose `Serialize` impl
/// panics, is recorded as a string saying why, never a panic. Levels nested deeper than 128
/// are recorded as `"<cut: nested deeper than 128>"`, and the floats JSON cannot hold as
/// `"NaN"`, `"inf"` and `"-inf"`.
pub fn record<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Value {
    // A `Serialize` impl is user code running inside dispatch: its panic must not escape
    // between a run's start and its end.
    let bounded = Bounded { value, depth: 0 };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| serde_json::to_value(bounded))) {
        Ok(Ok(json)) => json,
        Ok(Err(error)) => serde_json::Value::String(format!("<unrecordable: {error}>")),
        Err(_) => serde_json::Value::String("<unrecordable: its Serialize impl panicked>".to_owned()),
    }
}
