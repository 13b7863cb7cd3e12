//! Distributed tracing: a run's context written to headers, carried across a (simulated)
//! process boundary as text, and read back as the parent of runs on the other side; what
//! the writer writes the reader reads, whatever the tags and metadata; a bad
//! `langsmith-trace` refused with a typed error, bad `baggage` members skipped with a
//! warning. `fuzz.rs` throws hostile headers at the reader.

use proptest::prelude::*;
use runtrace::handlers::RecordingHandler;
use runtrace::propagation::{HeaderError, TraceContext};
use runtrace::tracer::{RunCollector, RunTree, Tracer};
use runtrace::{CallbackManager, RunGuard, RunKind};
use serde_json::{Value, json};

use crate::common::with_warnings;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const ROOT: &str = "20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10";
const CHILD: &str = "20240506T070809123999Z5f0e52a4-8a8e-4d6b-b1a4-6f4f5b4b2d77";

/// Headers as they travel: written as an HTTP header block, parsed back into owned pairs.
fn over_the_wire(headers: &[(&'static str, String)]) -> Vec<(String, String)> {
    let block: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    block
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_ascii_uppercase(), value.trim().to_owned()))
        .collect()
}

#[test]
fn headers_round_trip_across_a_process_boundary_and_the_remote_run_joins_the_trace() -> TestResult {
    // The client process.
    let client = RunCollector::new();
    let callbacks = CallbackManager::new()
        .with_handler(Tracer::new(client.clone()))
        .with_tags(["eval", "tenant:acme, inc"])
        .with_metadata([("user", json!("ada")), ("attempt", json!(2)), ("note", json!("50% off, ünïcode ✓"))]);
    let chain = callbacks.start_run(RunKind::Chain, "answer", &"What is 2+2?")?;
    let call = chain.children().start_run(RunKind::Tool, "call_calculator_service", &"2+2")?;
    let wire = over_the_wire(&TraceContext::from_run(&call)?.to_headers());

    // The server process: only strings crossed over.
    let context = TraceContext::from_headers(wire)?;
    assert_eq!(context.dotted_order(), TraceContext::from_run(&call)?.dotted_order());
    assert_eq!((Some(context.run_id()), context.parent_run_id()), (call.run_id(), chain.run_id()));
    let server = RunCollector::new();
    let recorder = std::sync::Arc::new(RecordingHandler::new());
    let callbacks =
        CallbackManager::from(&context).with_handler(Tracer::new(server.clone())).with_handler(recorder.clone());
    let serve = callbacks.start_run(RunKind::Chain, "serve", &json!({ "expression": "2+2" }))?;
    serve.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    serve.end(&4)?;

    // Back in the client.
    call.end(&4)?;
    chain.end(&"4")?;

    let client_tree = &client.trees()[0];
    let call_run = client_tree.find("call_calculator_service").unwrap();
    let server_tree = &server.trees()[0];
    assert_eq!(server_tree.parent_run_id, Some(call_run.id), "the server's root is a child of the calling run");
    assert_eq!(server_tree.trace_id, client_tree.id, "in the client's trace");
    assert!(server_tree.dotted_order.starts_with(&format!("{}.", call_run.dotted_order)));
    let calculator = &server_tree.child_runs[0];
    assert_eq!((calculator.parent_run_id, calculator.trace_id), (Some(server_tree.id), client_tree.id));
    assert!(calculator.dotted_order.starts_with(&format!("{}.", server_tree.dotted_order)));
    assert_eq!(recorder.runs()[0].parent_run_id, Some(call_run.id), "every handler sees the remote parent");

    // Inheritable tags and metadata crossed over too (a comma splits a tag, as in LangSmith).
    assert_eq!(server_tree.tags, ["eval", "tenant:acme", " inc"]);
    assert_eq!(calculator.tags, server_tree.tags);
    assert_eq!(server_tree.metadata["note"], "50% off, ünïcode ✓");
    assert_eq!(calculator.metadata["attempt"], 2);

    // Both sides' runs, sorted by dotted order, read as one trace.
    let mut runs: Vec<&RunTree> = client_tree.runs().chain(server_tree.runs()).collect();
    runs.sort_by(|a, b| a.dotted_order.cmp(&b.dotted_order));
    let names: Vec<&str> = runs.iter().map(|run| run.name.as_str()).collect();
    assert_eq!(names, ["answer", "call_calculator_service", "serve", "calculator"]);
    Ok(())
}

#[test]
fn a_run_under_a_remote_parent_is_a_root_for_trace_scopes() -> TestResult {
    let parent = TraceContext::from_dotted_order(&format!("{ROOT}.{CHILD}"))?;
    // No handler of its own: the scope's tracer is what records it.
    let callbacks = CallbackManager::from(&parent);
    let (served, trees) = runtrace::tracer::collect_runs(|| -> Result<(), runtrace::CallbackError> {
        let serve = callbacks.start_run(RunKind::Chain, "serve", &())?;
        serve.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
        serve.end(&4)
    });
    served?;
    assert_eq!(trees.len(), 1);
    let serve = &trees[0];
    assert_eq!((serve.parent_run_id, serve.trace_id), (Some(parent.run_id()), parent.trace_id()));
    assert!(serve.dotted_order.starts_with(&format!("{ROOT}.{CHILD}.")));
    assert_eq!(serve.dotted_order.split('.').count(), 3);
    assert_eq!(serve.child_runs[0].dotted_order.split('.').count(), 4);
    Ok(())
}

#[test]
fn baggage_written_by_langsmith_is_read_and_other_vendors_members_are_passed_over() -> TestResult {
    // As Python's `urllib.parse.quote(json.dumps(...))` writes it, beside W3C members of others.
    let headers = [
        ("langsmith-trace", format!(" {ROOT}.{CHILD} ")),
        ("baggage", "userId=alice;prop=1, langsmith-metadata=%7B%22user%22%3A%20%22ada%22%7D".to_owned()),
        ("Baggage", "langsmith-tags=eval%2Cprod,langsmith-project=default".to_owned()),
        ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()),
    ];
    let context = TraceContext::from_headers(headers)?;
    assert_eq!(context.dotted_order(), format!("{ROOT}.{CHILD}"));
    assert_eq!(context.run_id().to_string(), "5f0e52a4-8a8e-4d6b-b1a4-6f4f5b4b2d77");
    assert_eq!(context.trace_id().to_string(), "0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10");
    assert_eq!(context.parent_run_id(), Some(context.trace_id()));
    assert_eq!(context.tags(), ["eval", "prod"]);
    assert_eq!(context.metadata()["user"], "ada");
    assert_eq!(context.project(), Some("default"));
    Ok(())
}

#[test]
fn runs_without_a_trace_cannot_write_headers() -> TestResult {
    let noop = CallbackManager::none().start_run(RunKind::Chain, "answer", &())?;
    assert!(matches!(TraceContext::from_run(&noop), Err(HeaderError::NotRecording)));

    let untraced =
        CallbackManager::new().with_handler(RecordingHandler::new()).start_run(RunKind::Chain, "answer", &())?;
    assert!(
        matches!(TraceContext::from_run(&untraced), Err(HeaderError::Untraced { run_id }) if Some(run_id) == untraced.run_id())
    );

    let tracer = Tracer::new(RunCollector::new());
    let run = CallbackManager::new().with_handler(&tracer).start_run(RunKind::Chain, "answer", &())?;
    let manager = run.run().clone();
    run.end(&())?;
    assert!(
        matches!(TraceContext::from_run(&manager), Err(HeaderError::Untraced { .. })),
        "the tracer let go of the ended run"
    );
    untraced.end(&())?;
    noop.end(&())?;
    Ok(())
}

/// Header pairs, as a test case gives them.
type Headers = Vec<(&'static str, String)>;

/// Whether an error is the one a case expects.
type Expect = fn(&HeaderError) -> bool;

#[test]
fn malformed_trace_headers_are_refused_with_the_error_that_names_the_fault() {
    let long_id = format!("{ROOT}.{}", "x".repeat(TraceContext::MAX_TRACE_LEN));
    // A two-byte character straddling the timestamp's end: slicing there would panic.
    let straddling = format!("20240506T070809123456é{}", &ROOT[23..]);
    let cases: Vec<(Headers, Expect)> = vec![
        (vec![], |e| matches!(e, HeaderError::MissingTrace)),
        (vec![("baggage", "langsmith-tags=eval".into())], |e| matches!(e, HeaderError::MissingTrace)),
        (vec![("langsmith-trace", " ".into())], |e| matches!(e, HeaderError::MissingTrace)),
        (vec![("langsmith-trace", ROOT.into()), ("langsmith-trace", ROOT.into())], |e| {
            matches!(e, HeaderError::RepeatedTrace)
        }),
        (vec![("langsmith-trace", long_id)], |e| matches!(e, HeaderError::TooLong { header: "langsmith-trace", .. })),
        (vec![("langsmith-trace", ROOT[..40].into())], |e| matches!(e, HeaderError::InvalidTrace { segment: 0, .. })),
        (vec![("langsmith-trace", format!("{ROOT}."))], |e| matches!(e, HeaderError::InvalidTrace { segment: 1, .. })),
        (vec![("langsmith-trace", format!("{ROOT}..{CHILD}"))], |e| {
            matches!(e, HeaderError::InvalidTrace { segment: 1, .. })
        }),
        (vec![("langsmith-trace", ROOT.replace("0506T", "1306T"))], |e| matches!(e, HeaderError::InvalidTrace { .. })),
        (vec![("langsmith-trace", ROOT.replace("20240506T", "20230229T"))], |e| {
            matches!(e, HeaderError::InvalidTrace { .. })
        }),
        (vec![("langsmith-trace", ROOT.replace("-0d5c-", "x0d5cx"))], |e| {
            matches!(e, HeaderError::InvalidTrace { .. })
        }),
        (vec![("langsmith-trace", straddling)], |e| matches!(e, HeaderError::InvalidTrace { segment: 0, .. })),
        (vec![("langsmith-trace", format!("{ROOT}.{CHILD}.{ROOT}"))], |e| {
            matches!(e, HeaderError::RepeatedRunId { segment: 2 })
        }),
    ];
    for (index, (headers, expected)) in cases.into_iter().enumerate() {
        match TraceContext::from_headers(headers) {
            Err(error) => {
                assert!(expected(&error), "case {index}: unexpected error {error:?}");
                assert!(!error.to_string().is_empty());
            }
            Ok(context) => panic!("case {index}: accepted {context:?}"),
        }
    }
}

#[test]
fn malformed_baggage_members_are_skipped_with_one_warning_and_the_trace_is_still_joined() -> TestResult {
    let good = "langsmith-tags=eval,langsmith-metadata=%7B%22user%22%3A%22ada%22%7D,langsmith-project=evals";
    let past_max_members = format!("{},{good}", vec!["k=v"; 180].join(","));
    // (baggage, what the warning names); the good members are read in every case.
    let cases: Vec<(String, &str)> = vec![
        (format!("langsmith-tags,{good}"), "member 0 is not `key=value`"),
        (format!("{good},novalue"), "member 3 is not `key=value`"),
        (format!("langsmith-metadata=%7,{good}"), "`langsmith-metadata` is not valid percent-encoded UTF-8"),
        (format!("langsmith-tags=%E2%28,{good}"), "`langsmith-tags` is not valid percent-encoded UTF-8"),
        (format!("langsmith-project=%zz,{good}"), "`langsmith-project` is not valid percent-encoded UTF-8"),
        (format!("langsmith-metadata=%7B%22a%22,{good}"), "`langsmith-metadata` is not JSON"),
        (format!("langsmith-metadata={},{good}", "%5B".repeat(1000)), "`langsmith-metadata` is not JSON"),
        (format!("langsmith-metadata=%5B1%5D,{good}"), "`langsmith-metadata` is not a JSON object"),
        (format!("{good},langsmith-metadata=null"), "`langsmith-metadata` is not a JSON object"),
        (past_max_members.clone(), "member 180 is past the 180 members read"),
    ];
    for (baggage, named) in cases {
        let headers = [("langsmith-trace", ROOT.to_owned()), ("baggage", baggage.clone())];
        let (context, warnings) = with_warnings(|| TraceContext::from_headers(headers));
        let context = context.map_err(|error| format!("{baggage:.80}: {error}"))?;
        assert_eq!(context.run_id().to_string(), "0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10", "the trace is joined");
        let from_past_max_members = baggage == past_max_members;
        if !from_past_max_members {
            assert_eq!(context.tags(), ["eval"], "{baggage:.80}");
            assert_eq!(context.metadata()["user"], "ada", "{baggage:.80}");
            assert_eq!(context.project(), Some("evals"), "{baggage:.80}");
        }
        assert_eq!(warnings.len(), 1, "one warning for the header: {warnings:?}");
        assert!(warnings[0].message.contains(named), "{:?} names {named:?}", warnings[0].message);
    }
    Ok(())
}

#[test]
fn baggage_of_exactly_the_limit_is_read_and_members_ending_past_it_are_skipped() -> TestResult {
    let max = TraceContext::MAX_BAGGAGE_LEN;
    let tags_of_len = |len: usize| format!("langsmith-tags={}", "a".repeat(len - "langsmith-tags=".len()));
    // The separator used to be counted before the first member, refusing exactly `max`.
    let exactly = tags_of_len(max);
    let (context, warnings) =
        with_warnings(|| TraceContext::from_headers([("langsmith-trace", ROOT), ("baggage", &exactly)]));
    assert_eq!(context?.tags(), ["a".repeat(max - 15)]);
    assert!(warnings.is_empty(), "{warnings:?}");

    // Two headers are one list, joined by a comma: exactly `max` again.
    let project = "langsmith-project=evals";
    let first = tags_of_len(max - project.len() - 1);
    let (context, warnings) = with_warnings(|| {
        TraceContext::from_headers([("langsmith-trace", ROOT), ("baggage", &first), ("Baggage", project)])
    });
    let context = context?;
    assert_eq!((context.tags().len(), context.project()), (1, Some("evals")));
    assert!(warnings.is_empty(), "{warnings:?}");

    // One byte more: the member that ends past the limit is skipped, the others are read.
    let over = format!("langsmith-project=evals,{}", tags_of_len(max - project.len()));
    let (context, warnings) =
        with_warnings(|| TraceContext::from_headers([("langsmith-trace", ROOT), ("baggage", &over)]));
    let context = context?;
    assert_eq!((context.tags(), context.project()), (&[][..], Some("evals")));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].message.contains("member 1 ends past byte 8192"), "{:?}", warnings[0].message);
    Ok(())
}

/// Sends `context` across: its headers leave out what `named` names, said in one warning,
/// and the other side reads them back with none, as the reader reads all the writer wrote.
fn send_leaving_out(context: &TraceContext, named: &str) -> Result<TraceContext, HeaderError> {
    let (headers, warnings) = with_warnings(|| context.to_headers());
    let baggage_len = headers.get(1).map_or(0, |(_, baggage)| baggage.len());
    assert!(baggage_len <= TraceContext::MAX_BAGGAGE_LEN, "{baggage_len} bytes");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].message.contains(named), "{:?} names {named:?}", warnings[0].message);
    let (received, warnings) = with_warnings(|| TraceContext::from_headers(over_the_wire(&headers)));
    assert!(warnings.is_empty(), "the reader reads all the writer wrote: {warnings:?}");
    received
}

#[test]
fn inheritable_metadata_of_9_kb_is_left_out_of_baggage_so_that_the_headers_are_read_back() -> TestResult {
    // The writer used to send all of it: a 9,055-byte baggage the reader refused.
    let tracer = Tracer::new(RunCollector::new());
    let document = "x".repeat(9 * 1024);
    let callbacks = CallbackManager::new().with_handler(&tracer).with_tags(["eval"]).with_metadata([
        ("user", json!("ada")),
        ("document", json!(document)),
        ("attempt", json!(2)),
    ]);
    let run = callbacks.start_run(RunKind::Chain, "answer", &())?;
    let received = send_leaving_out(&TraceContext::from_run(&run)?, r#"metadata entries "document""#)?;
    assert_eq!(received.tags(), ["eval"]);
    assert_eq!(Value::Object(received.metadata().clone()), json!({ "user": "ada", "attempt": 2 }));
    run.end(&())?;
    Ok(())
}

#[test]
fn metadata_nested_deeper_than_the_reader_reads_is_left_out() -> TestResult {
    let nested = |depth: usize| (0..depth).fold(json!("ada"), |inner, _| json!([inner]));
    let tracer = Tracer::new(RunCollector::new());
    let callbacks =
        CallbackManager::new().with_handler(&tracer).with_metadata([("deep", nested(127)), ("deepest", nested(126))]);
    let run = callbacks.start_run(RunKind::Chain, "answer", &())?;
    let received = send_leaving_out(&TraceContext::from_run(&run)?, r#"metadata entries "deep", nested deeper"#)?;
    assert_eq!(Value::Object(received.metadata().clone()), json!({ "deepest": nested(126) }));
    run.end(&())?;
    Ok(())
}

#[test]
fn tags_that_do_not_fit_are_left_out_and_named_and_the_project_goes_first() -> TestResult {
    let tracer = Tracer::new(RunCollector::new());
    let huge = "é".repeat(2000);
    let callbacks = CallbackManager::new().with_handler(&tracer).with_tags(["eval", &huge, "prod"]);
    let run = callbacks.start_run(RunKind::Chain, "answer", &())?;
    let sent = TraceContext::from_run(&run)?.with_project("evals");
    let received = send_leaving_out(&sent, &format!(r#"tags "{}…""#, "é".repeat(40)))?;
    assert_eq!((received.tags(), received.project()), (&["eval".to_owned(), "prod".to_owned()][..], Some("evals")));
    run.end(&())?;
    Ok(())
}

#[test]
fn raw_utf8_baggage_accepted_at_one_hop_is_re_sent_within_the_limit_and_read_at_the_next() -> TestResult {
    // Raw UTF-8 is read as is, but sent percent-encoded: 3 bytes for each byte. The writer
    // used to re-send a 4,044-byte baggage as 12,045 bytes, refused one service later.
    let note = "é".repeat(2000);
    let baggage = format!(r#"langsmith-metadata={{"note":"{note}"%2C"user":"ada"}},langsmith-tags=ünï%2Cévál"#);
    assert!(baggage.len() < TraceContext::MAX_BAGGAGE_LEN);
    let first_hop = TraceContext::from_headers([("langsmith-trace", ROOT), ("baggage", &baggage)])?;
    assert_eq!(first_hop.metadata()["note"], note.as_str());
    assert_eq!(first_hop.tags(), ["ünï", "évál"]);

    // The first service passes the trace on from a run of its own.
    let tracer = Tracer::new(RunCollector::new());
    let serve = CallbackManager::from(&first_hop).with_handler(&tracer).start_run(RunKind::Chain, "serve", &())?;
    let second_hop = send_leaving_out(&TraceContext::from_run(&serve)?, r#"metadata entries "note""#)?;
    assert_eq!(second_hop.parent_run_id(), Some(first_hop.run_id()));
    assert_eq!(second_hop.trace_id(), first_hop.trace_id());
    assert_eq!(second_hop.tags(), ["ünï", "évál"]);
    assert_eq!(Value::Object(second_hop.metadata().clone()), json!({ "user": "ada" }));
    serve.end(&())?;
    Ok(())
}

/// Starts `depth` runs, each the child of the one before: the outermost first.
fn nested_runs(tracer: &Tracer, depth: usize) -> Result<Vec<RunGuard>, runtrace::CallbackError> {
    let mut runs: Vec<RunGuard> =
        vec![CallbackManager::new().with_handler(tracer).start_run(RunKind::Chain, "level", &0)?];
    for level in 1..depth {
        let child = runs[level - 1].children().start_run(RunKind::Chain, "level", &level)?;
        runs.push(child);
    }
    Ok(runs)
}

/// Ends runs innermost first.
fn end_all(runs: Vec<RunGuard>) -> Result<(), runtrace::CallbackError> {
    for run in runs.into_iter().rev() {
        run.end(&())?;
    }
    Ok(())
}

#[test]
fn a_run_150_levels_deep_writes_a_trace_header_that_the_reader_accepts() -> TestResult {
    // Its 8.9 KB `langsmith-trace` used to be over the reader's 8,192 bytes.
    let tracer = Tracer::new(RunCollector::new());
    let runs = nested_runs(&tracer, 150)?;
    let deepest = runs.last().ok_or("no runs")?;
    let headers = TraceContext::from_run(deepest)?.to_headers();
    assert!(headers[0].1.len() > 8192, "{} bytes", headers[0].1.len());
    let received = TraceContext::from_headers(over_the_wire(&headers))?;
    assert_eq!(Some(received.run_id()), deepest.run_id());
    assert_eq!(received.dotted_order().split('.').count(), 150);
    end_all(runs)?;
    Ok(())
}

#[test]
fn a_run_too_deep_for_any_reader_cannot_write_headers() -> TestResult {
    // The collector copies the finished tree recursively, which takes more than a test
    // thread's stack for a tree over a thousand levels deep in a debug build.
    let deep = std::thread::Builder::new().stack_size(64 << 20).spawn(|| -> TestResult {
        let tracer = Tracer::new(RunCollector::new());
        let segment = ROOT.len() + 1;
        let depth = TraceContext::MAX_TRACE_LEN / segment + 1;
        let runs = nested_runs(&tracer, depth)?;
        let deepest = runs.last().ok_or("no runs")?;
        let error = TraceContext::from_run(deepest).err().ok_or("a context was written")?;
        assert!(
            matches!(error, HeaderError::TooLong { header: "langsmith-trace", max: TraceContext::MAX_TRACE_LEN, .. }),
            "{error:?}"
        );
        let shallower = &runs[depth - 2];
        assert!(TraceContext::from_run(shallower).is_ok(), "one level up still fits");
        end_all(runs)?;
        Ok(())
    })?;
    deep.join().map_err(|_| "the deep runs' thread panicked")?
}

#[test]
fn the_langsmith_project_is_read_and_written() -> TestResult {
    let context = TraceContext::from_dotted_order(ROOT)?.with_project("evals, 2024 ✓");
    let headers = context.to_headers();
    assert_eq!(headers[1].1, "langsmith-project=evals%2C%202024%20%E2%9C%93");
    let received = TraceContext::from_headers(over_the_wire(&headers))?;
    assert_eq!(received.project(), Some("evals, 2024 ✓"));
    assert_eq!(received, context);
    assert_eq!(context.clone().with_project("").project(), None, "an empty name is no project");
    assert_eq!(context.with_project("").to_headers().len(), 1, "and no baggage");
    Ok(())
}

/// The length of a text percent-encoded as the writer does: RFC 3986's unreserved
/// characters as they are, every other byte as `%XX`.
fn encoded_len(text: &str) -> usize {
    text.bytes().map(|byte| if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) { 1 } else { 3 }).sum()
}

/// Tags: short ones with commas and unicode, and now and then a huge one.
fn tag() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-z,é✓ %;=]{0,12}",
        1 => any::<String>(),
        1 => (1..6000usize, "[a-zé,]").prop_map(|(len, unit)| unit.repeat(len)),
    ]
}

/// JSON values without floats, which `serde_json` does not promise to read back exactly.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        tag().prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z\"]{0,6}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_tags_metadata_and_project_round_trip_through_headers_keeping_what_fits(
        tags in prop::collection::vec(tag(), 0..6),
        metadata in prop::collection::btree_map(tag(), json_value(), 0..6),
        project in prop::option::of(tag()),
    ) {
        let tracer = Tracer::new(RunCollector::new());
        let callbacks = CallbackManager::new().with_handler(&tracer).with_tags(&tags).with_metadata(metadata);
        let run = callbacks.start_run(RunKind::Chain, "answer", &()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut sent = TraceContext::from_run(&run).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Some(project) = &project {
            sent = sent.with_project(project.as_str());
        }
        let headers = sent.to_headers();
        let baggage_len = headers.get(1).map_or(0, |(_, baggage)| baggage.len());
        prop_assert!(baggage_len <= TraceContext::MAX_BAGGAGE_LEN);

        let (received, warnings) = with_warnings(|| TraceContext::from_headers(over_the_wire(&headers)));
        let received = received.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(warnings.is_empty(), "the reader reads all the writer wrote: {:?}", warnings);
        prop_assert_eq!(
            (received.run_id(), received.trace_id(), received.parent_run_id(), received.dotted_order()),
            (sent.run_id(), sent.trace_id(), sent.parent_run_id(), sent.dotted_order())
        );

        // Tags arrive split at their commas, as in LangSmith, and in order.
        let pieces: Vec<&str> = sent.tags().iter().flat_map(|tag| tag.split(',')).filter(|piece| !piece.is_empty()).collect();
        let mut rest = pieces.iter();
        prop_assert!(received.tags().iter().all(|tag| rest.any(|piece| piece == tag)), "{:?} in order", received.tags());
        prop_assert!(received.metadata().iter().all(|(key, value)| sent.metadata().get(key) == Some(value)));
        prop_assert!(received.project().is_none() || received.project() == sent.project());

        // Everything arrives when everything fits.
        let tags_len: usize = sent.tags().iter().filter(|tag| !tag.is_empty()).map(|tag| encoded_len(tag) + 3).sum();
        let entries: Vec<(&String, usize)> = sent.metadata().iter()
            .map(|(key, value)| (key, encoded_len(&format!("{}:{value}", Value::from(key.as_str())))))
            .collect();
        let entries_len: usize = entries.iter().map(|(_, len)| len + 3).sum();
        let project_len = sent.project().map_or(0, |project| "langsmith-project=".len() + encoded_len(project) + 1);
        let all_len = project_len
            + if tags_len > 0 { "langsmith-tags=".len() + tags_len - 3 + 1 } else { 0 }
            + if entries_len > 0 { "langsmith-metadata=".len() + 6 + entries_len - 3 + 1 } else { 0 };
        if all_len <= TraceContext::MAX_BAGGAGE_LEN + 1 {
            prop_assert_eq!(&received.tags().iter().map(String::as_str).collect::<Vec<_>>(), &pieces);
            prop_assert_eq!(received.metadata(), sent.metadata());
            prop_assert_eq!(received.project(), sent.project());
        }
        // And what was left out would not have fitted, even at the end.
        for (key, len) in entries {
            if !received.metadata().contains_key(key) {
                prop_assert!(baggage_len + len + "langsmith-metadata=".len() + 8 > TraceContext::MAX_BAGGAGE_LEN, "{} left out", key);
            }
        }
        if let (Some(project), None) = (sent.project(), received.project()) {
            prop_assert!(baggage_len + project_len > TraceContext::MAX_BAGGAGE_LEN, "{} left out", project);
        }
        run.end(&()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}
