//! The tracer's kept maps: a run's inputs and outputs written into the maps of an earlier
//! run of the same function, whose keys are those of the next call, so that keeping them
//! costs no map of their own.
//!
//! Removing it: make each payload with `Payload::get` and clone it into the tree; the
//! `tracer` rows of `benches/` say what that costs.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::event::Payload;
use crate::event::payload::{Field, Make, State, insert_fields};

/// Makes `into` the value of `payload` as a JSON object (`{key: value}` for a value that is not one),
/// writing over what `into` holds: the tracer keeps a run's inputs and outputs this way,
/// in maps of earlier runs, whose keys are those of the next call of the same function.
///
/// A traced call's arguments that no handler made into a value yet are written straight
/// into `into`, without a value of their own, so keeping them costs no allocation when
/// the keys match. Any other payload not yet made is made for `into` alone and moved
/// in, never copied. Either way the payload stays unmade for the handlers after: they
/// make it again if they read it.
pub(crate) fn write_object(payload: &Payload<'_>, into: &mut Map<String, Value>, key: &str) {
    let made = match payload.state() {
        State::Made(value) => return assign(into, value, key),
        State::Unmade(Make::Fields(fields)) => return write_fields(into, fields),
        State::Unmade(Make::Value(make)) => make(),
        State::Unmade(Make::Omitted) => Value::Null,
    };
    match made {
        Value::Object(object) => *into = object,
        other => {
            if let Some(slot) = wrapper(into, key) {
                *slot = other;
            }
        }
    }
}

/// Makes `map` the object `{name: value}` of `fields`, writing over its values in place
/// when it has their names as keys (in their order, where maps keep insertion order), so
/// that each argument is serialized once either way.
fn write_fields(map: &mut Map<String, Value>, fields: &[Field<'_>]) {
    let names = || fields.iter().map(|&(name, _)| name);
    let fits = map.len() == fields.len()
        && if maps_keep_insertion_order() {
            map.keys().map(String::as_str).eq(names())
        } else {
            map.keys().all(|key| names().any(|name| name == key))
        };
    if fits {
        for (key, slot) in map.iter_mut() {
            if let Some(&(_, value)) = fields.iter().find(|&&(name, _)| name == key) {
                *slot = value.to_json();
            }
        }
    } else {
        map.clear();
        insert_fields(map, fields);
    }
}

/// Whether serde_json keeps maps in insertion order (its `preserve_order` feature, which any
/// crate of the build may turn on) rather than sorted by key.
fn maps_keep_insertion_order() -> bool {
    static KEEP: OnceLock<bool> = OnceLock::new();
    *KEEP.get_or_init(|| {
        let mut map = Map::new();
        map.insert("b".to_owned(), Value::Null);
        map.insert("a".to_owned(), Value::Null);
        map.keys().next().is_some_and(|first| first == "b")
    })
}

/// Makes `map` a copy of the object `value`, or of `{key: value}` if `value` is not an
/// object, writing over the entries `map` has when they have the right keys.
fn assign(map: &mut Map<String, Value>, value: &Value, key: &str) {
    match value {
        Value::Object(object) if map.len() == object.len() && map.keys().eq(object.keys()) => {
            map.values_mut().zip(object.values()).for_each(|(to, from)| to.clone_from(from));
        }
        Value::Object(object) => map.clone_from(object),
        other => {
            if let Some(to) = wrapper(map, key) {
                to.clone_from(other);
            }
        }
    }
}

/// Makes `map` the one-entry object `{key: ..}`, keeping it if it is one, and gives the
/// entry's value.
fn wrapper<'m>(map: &'m mut Map<String, Value>, key: &str) -> Option<&'m mut Value> {
    // The one entry's key is compared directly: a lookup would search for it twice.
    if map.len() != 1 || map.keys().next().is_none_or(|kept| kept != key) {
        map.clear();
        map.insert(key.to_owned(), Value::Null);
    }
    map.values_mut().next()
}
