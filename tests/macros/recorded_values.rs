//! What a recorded value becomes when JSON cannot hold it as it is: levels nested deeper than
//! 128 are cut, and non-finite floats are recorded as strings. Inputs, outputs, metadata and
//! custom events are all recorded the same way.

use crate::common::{inputs_of, metadata_of, outputs_of, recording};
use runtrace::EventData;
use runtrace::prelude::*;
use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde_json::{Value, json};

/// How many levels are recorded, as the manual states it.
const RECORDED_LEVELS: usize = 128;
const CUT: &str = "<cut: nested deeper than 128>";

/// A value nested `levels` deep by its own `Serialize`, `[[[...0...]]]`, as a recursive
/// structure serializes: it costs nothing to make at any depth, only to serialize.
#[derive(Clone, Copy)]
struct Nested(usize);

impl Serialize for Nested {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            0 => serializer.serialize_u8(0),
            levels => {
                let mut seq = serializer.serialize_seq(Some(1))?;
                seq.serialize_element(&Nested(levels - 1))?;
                seq.end()
            }
        }
    }
}

/// How many arrays `value` nests, and what is in the innermost.
fn levels(mut value: &Value) -> (usize, &Value) {
    let mut levels = 0;
    while let Some([inner]) = value.as_array().map(Vec::as_slice) {
        value = inner;
        levels += 1;
    }
    (levels, value)
}

#[traced_run(kind = "parser", metadata(tree = Nested(depth)))]
fn parse(tree: Nested, depth: usize, run: &RunManager) -> Nested {
    run.on_custom_event("parsed", &tree).ok();
    tree
}

/// Regression: an argument nested 20,000 levels overflowed the stack, aborting the process,
/// as soon as a handler read the inputs, though the call without handlers ran.
#[test]
fn argument_nested_20000_levels_is_recorded_cut_instead_of_overflowing_the_stack() {
    const DEPTH: usize = 20_000;
    let (recorder, callbacks) = recording();

    assert_eq!(parse(Nested(DEPTH), DEPTH, CallbackManager::none()).0, DEPTH);
    assert_eq!(parse(Nested(DEPTH), DEPTH, &callbacks).0, DEPTH);

    let cut = (RECORDED_LEVELS, &json!(CUT));
    assert_eq!(levels(&inputs_of(&recorder, "parse")["tree"]), cut, "the inputs");
    assert_eq!(levels(&outputs_of(&recorder, "parse")), cut, "the output");
    assert_eq!(levels(&metadata_of(&recorder, "parse")["tree"]), cut, "the metadata");
    let custom = recorder.events().into_iter().find_map(|event| match event.data {
        EventData::Custom(custom) => Some(custom.data),
        _ => None,
    });
    assert_eq!(levels(&custom.expect("the custom event")), cut, "the custom event");
}

#[test]
fn value_nested_as_deep_as_the_limit_is_recorded_whole() {
    let (recorder, callbacks) = recording();

    parse(Nested(RECORDED_LEVELS), RECORDED_LEVELS, &callbacks);

    assert_eq!(levels(&outputs_of(&recorder, "parse")), (RECORDED_LEVELS, &json!(0)));
}

#[traced_run(kind = "tool")]
fn divide(numerator: f64, denominator: f64) -> (f64, f32) {
    (numerator / denominator, f32::NEG_INFINITY)
}

#[test]
fn nan_and_infinity_are_recorded_as_strings_not_null() {
    let (recorder, callbacks) = recording();

    divide(f64::INFINITY, f64::NAN, &callbacks);

    assert_eq!(inputs_of(&recorder, "divide"), json!({"numerator": "inf", "denominator": "NaN"}));
    assert_eq!(outputs_of(&recorder, "divide"), json!(["NaN", "-inf"]));
}
