//! [`Bounded`]: a value recorded no deeper than [`MAX_DEPTH`] levels.
//!
//! serde_json makes a `Value` by recursion: every level a value nests (a struct field, a
//! sequence element, an `Option`'s `Some`) takes a few stack frames, and serde_json sets no
//! limit. A value nested twenty thousand levels (a recursive `Serialize`, a deep linked
//! structure) overflowed the stack as soon as a handler read it, and a stack overflow aborts
//! the process: no `catch_unwind` stops it. The untraced call never serializes, so it ran.
//!
//! So `record` serializes through [`Bounded`], which counts levels and records a level
//! beyond the limit as the string [`CUT`], without asking the value below it to serialize:
//! the recursion stops there. Everything that fits is recorded as before.
//!
//! Since every number passes through here too, non-finite floats are recorded as the strings
//! `"NaN"`, `"inf"` and `"-inf"`, which JSON has no numbers for; serde_json would record
//! them as `null`, the same as `None`.
//!
//! To remove it, serialize with `serde_json::to_value` in `record` again, and accept the
//! abort for deep values.

use serde::ser::{
    Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant, SerializeTuple,
    SerializeTupleStruct, SerializeTupleVariant, Serializer,
};

/// How many levels of a value are recorded: each struct, enum variant with fields,
/// sequence, tuple, map, `Some` and newtype counts one.
pub(crate) const MAX_DEPTH: usize = 128;

/// What a level deeper than [`MAX_DEPTH`] is recorded as.
pub(crate) const CUT: &str = "<cut: nested deeper than 128>";

const _: () = assert!(MAX_DEPTH == 128, "CUT names the limit");

/// `value`, at `depth` levels below the recorded value, serialized with its levels counted.
pub(crate) struct Bounded<'a, T: ?Sized> {
    pub(crate) value: &'a T,
    pub(crate) depth: usize,
}

impl<T: Serialize + ?Sized> Serialize for Bounded<'_, T> {
    #[inline]
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Counting { inner: serializer, depth: self.depth })
    }
}

/// A serializer that passes everything to `inner`, with the values nested in it wrapped in
/// [`Bounded`] one level deeper, or cut.
struct Counting<S> {
    inner: S,
    depth: usize,
}

impl<S: Serializer> Counting<S> {
    /// The level below this one is within the limit.
    #[inline]
    fn fits(&self) -> bool {
        self.depth < MAX_DEPTH
    }

    /// `value`, one level down, handed to `serialize` when it fits, else recorded as [`CUT`].
    #[inline]
    fn nest<T: ?Sized>(
        self,
        value: &T,
        serialize: impl FnOnce(S, &Bounded<'_, T>) -> Result<S::Ok, S::Error>,
    ) -> Result<S::Ok, S::Error> {
        if self.fits() {
            serialize(self.inner, &Bounded { value, depth: self.depth + 1 })
        } else {
            self.inner.serialize_str(CUT)
        }
    }

    /// `compound` opened by `open` when its contents fit, else nothing opened, to be recorded
    /// as [`CUT`] at its end.
    #[inline]
    fn open<C>(self, open: impl FnOnce(S) -> Result<C, S::Error>) -> Result<Compound<S, C>, S::Error> {
        if self.fits() {
            Ok(Compound::Open { compound: open(self.inner)?, depth: self.depth + 1 })
        } else {
            Ok(Compound::Cut(self.inner))
        }
    }
}

/// A struct, sequence, tuple or map being serialized, or the serializer that records it as
/// [`CUT`] once its (ignored) contents have been handed over.
enum Compound<S, C> {
    Open { compound: C, depth: usize },
    Cut(S),
}

impl<S: Serializer, C> Compound<S, C> {
    /// Hands `value` to `add` one level down, or drops it when the compound is cut.
    #[inline]
    fn add<T: ?Sized>(
        &mut self,
        value: &T,
        add: impl FnOnce(&mut C, &Bounded<'_, T>) -> Result<(), S::Error>,
    ) -> Result<(), S::Error> {
        match self {
            Compound::Open { compound, depth } => add(compound, &Bounded { value, depth: *depth }),
            Compound::Cut(_) => Ok(()),
        }
    }

    /// Ends the compound with `end`, or records it as [`CUT`].
    #[inline]
    fn finish(self, end: impl FnOnce(C) -> Result<S::Ok, S::Error>) -> Result<S::Ok, S::Error> {
        match self {
            Compound::Open { compound, .. } => end(compound),
            Compound::Cut(serializer) => serializer.serialize_str(CUT),
        }
    }
}

/// The strings that stand for a non-finite float.
fn non_finite(value: f64) -> &'static str {
    if value.is_nan() {
        "NaN"
    } else if value > 0.0 {
        "inf"
    } else {
        "-inf"
    }
}

impl<S: Serializer> Serializer for Counting<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<S, S::SerializeSeq>;
    type SerializeTuple = Compound<S, S::SerializeTuple>;
    type SerializeTupleStruct = Compound<S, S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<S, S::SerializeTupleVariant>;
    type SerializeMap = Compound<S, S::SerializeMap>;
    type SerializeStruct = Compound<S, S::SerializeStruct>;
    type SerializeStructVariant = Compound<S, S::SerializeStructVariant>;

    fn serialize_bool(self, v: bool) -> Result<S::Ok, S::Error> {
        self.inner.serialize_bool(v)
    }
    fn serialize_i8(self, v: i8) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i8(v)
    }
    fn serialize_i16(self, v: i16) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i16(v)
    }
    fn serialize_i32(self, v: i32) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i32(v)
    }
    fn serialize_i64(self, v: i64) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i64(v)
    }
    fn serialize_i128(self, v: i128) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i128(v)
    }
    fn serialize_u8(self, v: u8) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u8(v)
    }
    fn serialize_u16(self, v: u16) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u16(v)
    }
    fn serialize_u32(self, v: u32) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u32(v)
    }
    fn serialize_u64(self, v: u64) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u64(v)
    }
    fn serialize_u128(self, v: u128) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u128(v)
    }
    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        if v.is_finite() { self.inner.serialize_f32(v) } else { self.inner.serialize_str(non_finite(v.into())) }
    }
    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        if v.is_finite() { self.inner.serialize_f64(v) } else { self.inner.serialize_str(non_finite(v)) }
    }
    fn serialize_char(self, v: char) -> Result<S::Ok, S::Error> {
        self.inner.serialize_char(v)
    }
    fn serialize_str(self, v: &str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<S::Ok, S::Error> {
        self.inner.serialize_bytes(v)
    }
    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_none()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.nest(value, |inner, value| inner.serialize_some(value))
    }
    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit()
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_struct(name)
    }
    fn serialize_unit_variant(self, name: &'static str, index: u32, variant: &'static str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_variant(name, index, variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, value: &T) -> Result<S::Ok, S::Error> {
        self.nest(value, |inner, value| inner.serialize_newtype_struct(name, value))
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.nest(value, |inner, value| inner.serialize_newtype_variant(name, index, variant, value))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        self.open(|inner| inner.serialize_seq(len))
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        self.open(|inner| inner.serialize_tuple(len))
    }
    fn serialize_tuple_struct(self, name: &'static str, len: usize) -> Result<Self::SerializeTupleStruct, S::Error> {
        self.open(|inner| inner.serialize_tuple_struct(name, len))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        self.open(|inner| inner.serialize_tuple_variant(name, index, variant, len))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        self.open(|inner| inner.serialize_map(len))
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Self::SerializeStruct, S::Error> {
        self.open(|inner| inner.serialize_struct(name, len))
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        self.open(|inner| inner.serialize_struct_variant(name, index, variant, len))
    }
    fn collect_str<T: std::fmt::Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.collect_str(value)
    }
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// The compound traits differ only in their names and the arguments of their elements; one
/// macro writes them, so that each forwards the same way.
macro_rules! compound {
    ($trait:ident, $($add:ident($($arg:ident: $ty:ty),*)),+) => {
        impl<S: Serializer> $trait for Compound<S, S::$trait> {
            type Ok = S::Ok;
            type Error = S::Error;

            $(
                fn $add<T: Serialize + ?Sized>(&mut self, $($arg: $ty,)* value: &T) -> Result<(), S::Error> {
                    self.add(value, |compound, value| compound.$add($($arg,)* value))
                }
            )+

            fn end(self) -> Result<S::Ok, S::Error> {
                self.finish($trait::end)
            }
        }
    };
}

compound!(SerializeSeq, serialize_element());
compound!(SerializeTuple, serialize_element());
compound!(SerializeTupleStruct, serialize_field());
compound!(SerializeTupleVariant, serialize_field());
compound!(SerializeStruct, serialize_field(key: &'static str));
compound!(SerializeStructVariant, serialize_field(key: &'static str));
compound!(SerializeMap, serialize_key(), serialize_value());

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// `[[[...0...]]]`, `levels` arrays deep.
    fn nested(levels: usize) -> Value {
        (0..levels).fold(json!(0), |inner, _| json!([inner]))
    }

    fn bounded<T: Serialize + ?Sized>(value: &T) -> Value {
        serde_json::to_value(Bounded { value, depth: 0 }).unwrap_or_else(|error| panic!("serializes: {error}"))
    }

    fn depth_of(mut value: &Value) -> (usize, &Value) {
        let mut depth = 0;
        while let Some([inner]) = value.as_array().map(Vec::as_slice) {
            value = inner;
            depth += 1;
        }
        (depth, value)
    }

    #[test]
    fn a_value_within_the_limit_is_recorded_whole() {
        let value = bounded(&nested(MAX_DEPTH));
        assert_eq!(depth_of(&value), (MAX_DEPTH, &json!(0)));
        let value = json!({"a": [1, {"b": null}], "c": "d"});
        assert_eq!(bounded(&value), value);
    }

    #[test]
    fn a_level_beyond_the_limit_is_recorded_as_cut() {
        let value = bounded(&nested(MAX_DEPTH + 1));
        assert_eq!(depth_of(&value), (MAX_DEPTH, &json!(CUT)));
        let value = bounded(&nested(1_000));
        assert_eq!(depth_of(&value), (MAX_DEPTH, &json!(CUT)));
    }

    #[test]
    fn every_kind_of_level_counts() {
        /// `Some(Some(...))` nested by its own `Serialize`.
        struct Optional(usize);

        impl Serialize for Optional {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self.0 {
                    0 => serializer.serialize_none(),
                    levels => serializer.serialize_some(&Optional(levels - 1)),
                }
            }
        }

        assert_eq!(bounded(&Optional(1_000_000)), json!(CUT));
        assert_eq!(bounded(&Optional(MAX_DEPTH)), Value::Null);
    }

    #[test]
    fn non_finite_floats_are_recorded_as_strings() {
        let floats = (f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f32::NAN, 1.5_f64);
        assert_eq!(bounded(&floats), json!(["NaN", "inf", "-inf", "NaN", 1.5]));
        assert_eq!(bounded(&std::collections::BTreeMap::from([(1, f32::INFINITY)])), json!({"1": "inf"}));
    }
}
