//! Attribute values: JSON made into the values backends read, and the size limit.
//!
//! A string value longer than the limit (by default [`DEFAULT_MAX_ATTRIBUTE_LEN`] bytes) is
//! cut at a character boundary and ends with `…[truncated]`, so one huge input cannot make
//! a span that a collector rejects; numbers that do not fit an `i64` are clamped.

use opentelemetry::{Array, KeyValue, StringValue, Value};
use serde_json::Value as Json;

/// The default most bytes of one string attribute: 32 KiB.
pub const DEFAULT_MAX_ATTRIBUTE_LEN: usize = 32 * 1024;

const TRUNCATED: &str = "…[truncated]";

/// Makes attribute values within one limit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) max_len: usize,
}

impl Limits {
    pub(crate) fn text(self, mut text: String) -> String {
        if text.len() > self.max_len {
            let mut end = self.max_len.saturating_sub(TRUNCATED.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push_str(TRUNCATED);
        }
        text
    }

    pub(crate) fn string(self, key: impl Into<opentelemetry::Key>, text: impl Into<String>) -> KeyValue {
        KeyValue::new(key, self.text(text.into()))
    }

    /// JSON as text: a string as it is, anything else serialized.
    pub(crate) fn json_text(self, value: &Json) -> String {
        match value {
            Json::String(text) => self.text(text.clone()),
            other => self.text(other.to_string()),
        }
    }

    /// A JSON value as the closest attribute value: scalars as themselves, strings within
    /// the limit, arrays of strings as string arrays, anything else as JSON text.
    pub(crate) fn json(self, key: impl Into<opentelemetry::Key>, value: &Json) -> KeyValue {
        let value = match value {
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::I64(i)
                } else if n.is_u64() {
                    // A `u64` past `i64::MAX`: attributes have no unsigned integers.
                    Value::I64(i64::MAX)
                } else {
                    Value::F64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Json::String(text) => Value::String(self.text(text.clone()).into()),
            Json::Array(items) if items.iter().all(Json::is_string) => {
                Value::Array(Array::String(items.iter().map(|item| StringValue::from(self.json_text(item))).collect()))
            }
            other => Value::String(self.text(other.to_string()).into()),
        };
        KeyValue::new(key, value)
    }
}

/// A token count as an attribute value: `i64`, clamped.
pub(crate) fn count(key: &'static str, n: u64) -> KeyValue {
    KeyValue::new(key, i64::try_from(n).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let limits = Limits { max_len: 20 };
        let cut = limits.text("é".repeat(30));
        assert!(cut.len() <= 20 + 1, "{cut}");
        assert!(cut.ends_with(TRUNCATED));
        assert_eq!(limits.text("short".into()), "short");
    }

    #[test]
    fn big_numbers_are_clamped() {
        let limits = Limits { max_len: 100 };
        assert_eq!(limits.json("n", &serde_json::json!(u64::MAX)).value, Value::I64(i64::MAX));
        assert_eq!(count("n", u64::MAX).value, Value::I64(i64::MAX));
    }
}
