//! Bounded fuzzing of the two parsers of outside input: the trace-header reader
//! (`TraceContext::from_headers`) and the JSON Lines reader (`RunTree::from_jsonl` and
//! `read_jsonl`). Each target throws hostile inputs at its parser (random text and bytes,
//! valid inputs mutated, valid inputs) for a time budget: `RUNTRACE_FUZZ_SECONDS` seconds
//! per target (`.ci/run` gives each a minute), a few seconds when it is not set.
//!
//! Neither parser may panic, and what they accept must round-trip: headers written from an
//! accepted context are read back whole, and trees read from a file are written and read
//! back the same. A failure names the smallest failing input proptest found and the seed
//! to replay the run with, `RUNTRACE_FUZZ_SEED=<hex>`.

use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseResult, TestError, TestRng, TestRunner};
use runtrace::propagation::TraceContext;
use runtrace::tracer::{RunCollector, RunTree, Tracer};
use runtrace::{CallbackManager, RunKind};
use serde_json::Value;

use crate::common::with_warnings;

/// How long each target runs when `RUNTRACE_FUZZ_SECONDS` is not set.
const DEFAULT_SECONDS: u64 = 3;

/// Runs `test` on inputs drawn from `strategy` until the time budget is spent, and fails
/// with the smallest failing input found, if any.
fn fuzz<S>(target: &str, strategy: S, test: impl Fn(S::Value) -> TestCaseResult)
where
    S: Strategy,
    S::Value: Debug,
{
    let seconds = match std::env::var("RUNTRACE_FUZZ_SECONDS") {
        Ok(value) => value.trim().parse().unwrap_or_else(|_| panic!("RUNTRACE_FUZZ_SECONDS={value:?} is not seconds")),
        Err(_) => DEFAULT_SECONDS,
    };
    let seed = match std::env::var("RUNTRACE_FUZZ_SEED") {
        Ok(value) => u64::from_str_radix(value.trim(), 16)
            .unwrap_or_else(|_| panic!("RUNTRACE_FUZZ_SEED={value:?} is not a hex number")),
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos() as u64),
    };
    let mut seed_bytes = [0; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config { cases: 64, failure_persistence: None, max_shrink_time: 60_000, ..Config::default() };
    // A runner runs its number of cases once; each batch gets a fresh one, seeded by this one.
    let mut seeder = TestRunner::new_with_rng(config.clone(), TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes));
    let cases = AtomicUsize::new(0);
    let budget = Duration::from_secs(seconds);
    let started = Instant::now();
    while started.elapsed() < budget {
        let mut runner = TestRunner::new_with_rng(config.clone(), seeder.new_rng());
        let outcome = runner.run(&strategy, |input| {
            cases.fetch_add(1, Ordering::Relaxed);
            test(input)
        });
        match outcome {
            Ok(()) => {}
            Err(TestError::Fail(reason, input)) => {
                panic!(
                    "{target}: {reason}\nsmallest failing input: {input:#?}\nreplay with RUNTRACE_FUZZ_SEED={seed:x}"
                )
            }
            Err(TestError::Abort(reason)) => panic!("{target}: aborted: {reason} (RUNTRACE_FUZZ_SEED={seed:x})"),
        }
    }
    println!("{target}: {} inputs in {:.1?}, RUNTRACE_FUZZ_SEED={seed:x}", cases.into_inner(), started.elapsed());
}

/// Characters that mean something to either parser, and some that should not be there.
const NASTY: &[char] = &[
    ',', ';', '=', '%', '.', ' ', '\t', '"', '\\', '{', '}', '[', ']', ':', '0', '9', 'a', 'f', 'F', 'T', 'Z', '-',
    'é', '✓', '\u{0}', '\u{7f}', '\u{feff}', '\n', '\r',
];

/// Short runs of [`NASTY`] characters.
fn nasty_text(max_len: usize) -> impl Strategy<Value = String> + Clone {
    prop::collection::vec(prop::sample::select(NASTY), 0..=max_len).prop_map(String::from_iter)
}

/// Text as a hostile client might send it: arbitrary, structural, or huge.
fn random_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => any::<String>(),
        4 => nasty_text(64),
        1 => (nasty_text(8), 1..12_000usize).prop_map(|(unit, times)| unit.repeat(times)),
    ]
    .boxed()
}

/// One change to a text, at a place given as an [`Index`].
#[derive(Clone, Debug)]
enum Mutation {
    Truncate(Index),
    Delete(Index),
    Insert(Index, String),
    Replace(Index, String),
    Repeat(usize, char),
    Uppercase,
}

fn mutation() -> impl Strategy<Value = Mutation> + Clone {
    prop_oneof![
        any::<Index>().prop_map(Mutation::Truncate),
        any::<Index>().prop_map(Mutation::Delete),
        (any::<Index>(), nasty_text(6)).prop_map(|(at, text)| Mutation::Insert(at, text)),
        (any::<Index>(), nasty_text(3)).prop_map(|(at, text)| Mutation::Replace(at, text)),
        (2..200usize, prop::sample::select(&[',', '.', ' '][..])).prop_map(|(times, by)| Mutation::Repeat(times, by)),
        Just(Mutation::Uppercase),
    ]
}

/// `text` changed by `mutations`, one after the other, at character boundaries.
fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for mutation in mutations {
        let at = |index: &Index, len: usize| index.index(len + 1);
        match mutation {
            Mutation::Truncate(index) => chars.truncate(at(index, chars.len())),
            Mutation::Delete(index) if !chars.is_empty() => {
                chars.remove(index.index(chars.len()));
            }
            Mutation::Delete(_) => {}
            Mutation::Insert(index, text) => {
                let at = at(index, chars.len());
                chars.splice(at..at, text.chars());
            }
            Mutation::Replace(index, text) if !chars.is_empty() => {
                let at = index.index(chars.len());
                chars.splice(at..=at, text.chars());
            }
            Mutation::Replace(..) => {}
            Mutation::Repeat(times, by) => {
                let once = chars.clone();
                // Past the longest header read, more of the same shows nothing new.
                for _ in 1..*times {
                    if chars.len() > TraceContext::MAX_TRACE_LEN {
                        break;
                    }
                    chars.push(*by);
                    chars.extend(&once);
                }
            }
            Mutation::Uppercase => chars = chars.iter().flat_map(|c| c.to_uppercase()).collect(),
        }
    }
    chars.into_iter().collect()
}

/// Text that is valid, valid and mutated, or random.
fn valid_mutated_or_random(valid: impl Strategy<Value = String> + Clone + 'static) -> BoxedStrategy<String> {
    prop_oneof![
        2 => valid.clone(),
        5 => (valid, prop::collection::vec(mutation(), 1..4)).prop_map(|(text, mutations)| mutate(&text, &mutations)),
        2 => random_text(),
    ]
    .boxed()
}

/// A hyphenated UUID, any version.
fn uuid() -> impl Strategy<Value = String> + Clone {
    any::<u128>().prop_map(|id| {
        let hex = format!("{id:032x}");
        format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
    })
}

/// A valid `langsmith-trace`: one to eight segments of a compact UTC time and a run id.
fn dotted_order() -> impl Strategy<Value = String> + Clone {
    let time = (1970u32..2200, 1u32..=12, 1u32..=28, 0u32..24, 0u32..60, 0u32..60, 0u32..1_000_000);
    let segment = (time, uuid()).prop_map(|((year, month, day, hour, minute, second, micros), id)| {
        format!("{year:04}{month:02}{day:02}T{hour:02}{minute:02}{second:02}{micros:06}Z{id}")
    });
    prop::collection::vec(segment, 1..8).prop_map(|segments| segments.join("."))
}

/// Percent-encoding as LangSmith's Python SDK writes it (`urllib.parse.quote`, which keeps
/// `/`), or as runtrace does, upper or lower case.
fn percent_encode(text: &str, keep_slash: bool, lower: bool) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(byte).to_string(),
            b'/' if keep_slash => "/".to_owned(),
            _ if lower => format!("%{byte:02x}"),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// A valid `baggage` value: runtrace's members, in any order, among other vendors' ones.
fn baggage() -> impl Strategy<Value = String> + Clone {
    let tags = prop::collection::vec(nasty_text(8), 0..4);
    let metadata = prop::collection::btree_map(
        nasty_text(6),
        prop_oneof![nasty_text(12).prop_map(Value::from), any::<i32>().prop_map(Value::from)],
        0..4,
    );
    let project = prop::option::of(nasty_text(10));
    let vendor = prop::option::of(("[a-z]{1,6}", "[a-zA-Z0-9]{0,6}", prop::option::of("[a-z]{1,4}")));
    (
        tags,
        metadata,
        project,
        vendor,
        any::<bool>(),
        any::<bool>(),
        any::<Index>(),
        prop::sample::select(&[",", ", ", " , "][..]),
    )
        .prop_map(|(tags, metadata, project, vendor, keep_slash, lower, first, comma)| {
            let encode = |text: &str| percent_encode(text, keep_slash, lower);
            let mut members = Vec::new();
            if !metadata.is_empty() {
                let json = Value::Object(metadata.into_iter().collect()).to_string();
                members.push(format!("langsmith-metadata={}", encode(&json)));
            }
            if !tags.is_empty() {
                members.push(format!("langsmith-tags={}", encode(&tags.join(","))));
            }
            if let Some(project) = project {
                members.push(format!("langsmith-project={}", encode(&project)));
            }
            if let Some((key, value, property)) = vendor {
                let property = property.map(|property| format!(";{property}")).unwrap_or_default();
                members.insert(first.index(members.len() + 1), format!("{key}={value}{property}"));
            }
            members.join(comma)
        })
}

/// Header names, as sent in any case, with ones the reader passes over.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(&["langsmith-trace", "LANGSMITH-TRACE", " Langsmith-Trace ", "baggage", "Baggage"][..])
            .prop_map(str::to_owned),
        prop::sample::select(&["traceparent", "langsmith-baggage", "trace", ""][..]).prop_map(str::to_owned),
        nasty_text(12),
    ]
}

/// Headers as a request might carry them: a trace header, baggage headers, and others.
fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let trace = prop::option::weighted(0.9, valid_mutated_or_random(dotted_order()));
    let baggages = prop::collection::vec(valid_mutated_or_random(baggage()), 0..3);
    let others = prop::collection::vec((header_name(), random_text()), 0..2);
    (trace, baggages, others).prop_map(|(trace, baggages, others)| {
        let mut headers: Vec<(String, String)> =
            trace.map(|trace| ("langsmith-trace".to_owned(), trace)).into_iter().collect();
        headers.extend(baggages.into_iter().map(|baggage| ("baggage".to_owned(), baggage)));
        headers.extend(others);
        headers
    })
}

/// Turns any error into the failure of a case.
fn fail(error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

#[test]
fn fuzz_trace_headers_never_panic_and_what_is_read_is_written_back_whole() {
    let accepted = AtomicUsize::new(0);
    fuzz("trace headers", headers(), |headers| {
        let Ok(context) = TraceContext::from_headers(headers) else {
            return Ok(());
        };
        accepted.fetch_add(1, Ordering::Relaxed);
        prop_assert!(context.dotted_order().len() <= TraceContext::MAX_TRACE_LEN);
        let written = context.to_headers();
        prop_assert_eq!(written[0].1.as_str(), context.dotted_order());
        prop_assert!(written.get(1).is_none_or(|(_, baggage)| baggage.len() <= TraceContext::MAX_BAGGAGE_LEN));

        let (again, warnings) = with_warnings(|| TraceContext::from_headers(written.clone()));
        let again = again.map_err(fail)?;
        prop_assert!(warnings.is_empty(), "the reader reads all the writer wrote: {:?}", warnings);
        prop_assert_eq!(
            (again.run_id(), again.trace_id(), again.parent_run_id(), again.dotted_order()),
            (context.run_id(), context.trace_id(), context.parent_run_id(), context.dotted_order())
        );
        // What a hop re-sends is what it read, less what no longer fits once percent-encoded.
        let mut rest = context.tags().iter();
        prop_assert!(again.tags().iter().all(|tag| rest.any(|read| read == tag)), "{:?}", again.tags());
        prop_assert!(again.metadata().iter().all(|(key, value)| context.metadata().get(key) == Some(value)));
        prop_assert!(again.project().is_none() || again.project() == context.project());
        prop_assert_eq!(again.to_headers(), written, "written again the same");
        Ok(())
    });
    let accepted = accepted.into_inner();
    println!("trace headers: {accepted} accepted");
    assert!(accepted > 0, "the generator makes headers that are read");
}

/// A run to trace, with its children: what the JSON Lines reader reads back.
#[derive(Clone, Debug)]
struct Plan {
    name: String,
    kind: RunKind,
    input: Value,
    tags: Vec<String>,
    metadata: Vec<(String, Value)>,
    tokens: Vec<String>,
    outcome: Result<Value, String>,
    children: Vec<Plan>,
}

/// JSON values without floats, which `serde_json` does not promise to read back exactly.
fn json_value() -> impl Strategy<Value = Value> + Clone {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        nasty_text(12).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(nasty_text(6), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn plan() -> impl Strategy<Value = Plan> + Clone {
    let kind =
        prop::sample::select(&[RunKind::Chain, RunKind::Llm, RunKind::ChatModel, RunKind::Tool, RunKind::Custom][..]);
    let outcome = prop_oneof![json_value().prop_map(Ok), nasty_text(16).prop_map(Err)];
    let leaf = (
        any::<String>(),
        kind,
        json_value(),
        prop::collection::vec(nasty_text(8), 0..3),
        prop::collection::vec((nasty_text(6), json_value()), 0..3),
        prop::collection::vec(any::<String>(), 0..4),
        outcome,
    )
        .prop_map(|(name, kind, input, tags, metadata, tokens, outcome)| Plan {
            name,
            kind,
            input,
            tags,
            metadata,
            tokens,
            outcome,
            children: Vec::new(),
        });
    leaf.prop_recursive(3, 12, 3, |inner| {
        (inner.clone(), prop::collection::vec(inner, 0..3)).prop_map(|(mut plan, children)| {
            plan.children = children;
            plan
        })
    })
}

/// Runs `plan` under `parent`, as a traced program would.
fn trace(plan: &Plan, parent: &CallbackManager) -> Result<(), runtrace::CallbackError> {
    let callbacks = parent.clone().with_tags(&plan.tags).with_metadata(plan.metadata.clone());
    let run = callbacks.start_run(plan.kind, plan.name.clone(), &plan.input)?;
    for token in &plan.tokens {
        run.on_llm_new_token(token)?;
    }
    for child in &plan.children {
        trace(child, run.children())?;
    }
    match &plan.outcome {
        Ok(output) => run.end(output),
        Err(error) => run.error(error),
    }
}

/// A JSON Lines file: written from traced runs, mutated, or random bytes.
#[derive(Debug)]
struct Jsonl {
    bytes: Vec<u8>,
    /// The trees it holds, when it was written from runs and left as it is.
    trees: Option<Vec<RunTree>>,
}

/// Bytes that matter to JSON and to line splitting, and some that are not UTF-8.
const NASTY_BYTES: &[u8] = b"\n\r{}[]\",:\\0123456789-+.eEtrufalsn \xff\xfe\xc3\xa9\xe2\x80";

fn jsonl() -> impl Strategy<Value = Jsonl> {
    let written = (prop::collection::vec(plan(), 1..4), prop::sample::select(&["\n", "\r\n", "\n\n"][..])).prop_map(
        |(plans, newline)| {
            let collector = RunCollector::new();
            let callbacks = CallbackManager::new().with_handler(Tracer::new(collector.clone()));
            for plan in &plans {
                // Handlers do not fail here; a run that could not be traced is only missing.
                let _ = trace(plan, &callbacks);
            }
            let trees = collector.trees();
            let lines: Vec<String> = trees.iter().filter_map(|tree| serde_json::to_string(tree).ok()).collect();
            (lines.join(newline).into_bytes(), trees)
        },
    );
    let byte_edit = (any::<Index>(), prop::collection::vec(prop::sample::select(NASTY_BYTES), 0..4), 0..3usize);
    prop_oneof![
        2 => written.clone().prop_map(|(bytes, trees)| Jsonl { bytes, trees: Some(trees) }),
        5 => (written, prop::collection::vec(byte_edit, 1..6)).prop_map(|((mut bytes, _), edits)| {
            for (at, insert, remove) in edits {
                let at = at.index(bytes.len() + 1);
                let end = (at + remove).min(bytes.len());
                bytes.splice(at..end, insert);
            }
            Jsonl { bytes, trees: None }
        }),
        1 => prop::collection::vec(any::<u8>(), 0..512).prop_map(|bytes| Jsonl { bytes, trees: None }),
        1 => prop::collection::vec(prop::sample::select(NASTY_BYTES), 0..512).prop_map(|bytes| Jsonl { bytes, trees: None }),
        1 => (1..20_000usize, prop::sample::select(&["[", "{\"a\":", "{\"child_runs\":[", "\""][..]))
            .prop_map(|(depth, open)| Jsonl { bytes: open.repeat(depth).into_bytes(), trees: None }),
    ]
}

#[test]
fn fuzz_jsonl_reader_never_panics_and_what_is_read_round_trips() {
    let file = std::env::temp_dir().join(format!("runtrace-fuzz-{}.jsonl", std::process::id()));
    let cases = AtomicUsize::new(0);
    let accepted = AtomicUsize::new(0);
    fuzz("JSON Lines", jsonl(), |input| {
        let read = RunTree::from_jsonl(input.bytes.as_slice());
        if let Some(trees) = &input.trees {
            prop_assert_eq!(read.as_ref().map_err(fail)?, trees, "valid files read back as written");
        }
        // `read_jsonl` is `from_jsonl` on a file: check it agrees, now and then.
        if cases.fetch_add(1, Ordering::Relaxed) % 16 == 0 {
            std::fs::write(&file, &input.bytes).map_err(fail)?;
            let from_file = RunTree::read_jsonl(&file);
            prop_assert_eq!(from_file.as_ref().ok(), read.as_ref().ok());
        }
        let Ok(trees) = read else {
            return Ok(());
        };
        accepted.fetch_add(1, Ordering::Relaxed);
        let lines: Vec<String> = trees.iter().map(serde_json::to_string).collect::<Result<_, _>>().map_err(fail)?;
        let again = RunTree::from_jsonl(lines.join("\n").as_bytes()).map_err(fail)?;
        prop_assert_eq!(again.len(), trees.len());
        Ok(())
    });
    // The file is only there when a case wrote it.
    let _ = std::fs::remove_file(&file);
    let accepted = accepted.into_inner();
    println!("JSON Lines: {accepted} accepted");
    assert!(accepted > 0, "the generator makes files that are read");
}
