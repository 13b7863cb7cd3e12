//! Distributed tracing: a run's context written to headers, carried across a (simulated)
//! process boundary as text, and read back as the parent of runs on the other side; and bad
//! headers, written by hand or at random, refused with a typed error, never a panic.

use runtrace::handlers::RecordingHandler;
use runtrace::propagation::{HeaderError, TraceContext};
use runtrace::tracer::{RunCollector, RunTree, Tracer};
use runtrace::{CallbackManager, RunKind};
use serde_json::{Map, Value, json};

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
fn malformed_headers_are_refused_with_the_error_that_names_the_fault() {
    let long_id = format!("{ROOT}.{}", "x".repeat(TraceContext::MAX_HEADER_LEN));
    let many_members = vec!["k=v"; 181].join(",");
    // A two-byte character straddling the timestamp's end: slicing there would panic.
    let straddling = format!("20240506T070809123456é{}", &ROOT[23..]);
    let cases: Vec<(Headers, Expect)> = vec![
        (vec![], |e| matches!(e, HeaderError::MissingTrace)),
        (vec![("langsmith-trace", " ".into())], |e| matches!(e, HeaderError::MissingTrace)),
        (vec![("langsmith-trace", ROOT.into()), ("langsmith-trace", ROOT.into())], |e| {
            matches!(e, HeaderError::RepeatedTrace)
        }),
        (vec![("langsmith-trace", long_id)], |e| matches!(e, HeaderError::TooLong { header: "langsmith-trace", .. })),
        (vec![("langsmith-trace", ROOT.into()), ("baggage", "a".repeat(TraceContext::MAX_HEADER_LEN + 1))], |e| {
            matches!(e, HeaderError::TooLong { header: "baggage", .. })
        }),
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
        (vec![("langsmith-trace", ROOT.into()), ("baggage", "langsmith-tags".into())], |e| {
            matches!(e, HeaderError::MalformedBaggage { member: 0 })
        }),
        (vec![("langsmith-trace", ROOT.into()), ("baggage", many_members)], |e| {
            matches!(e, HeaderError::TooManyBaggageMembers { max: 180 })
        }),
        (vec![("langsmith-trace", ROOT.into()), ("baggage", "langsmith-tags=%E2%28".into())], |e| {
            matches!(e, HeaderError::BadEncoding { key: "langsmith-tags" })
        }),
        (vec![("langsmith-trace", ROOT.into()), ("baggage", "langsmith-metadata=%7".into())], |e| {
            matches!(e, HeaderError::BadEncoding { key: "langsmith-metadata" })
        }),
        (vec![("langsmith-trace", ROOT.into()), ("baggage", "langsmith-metadata=%7B%22a%22".into())], |e| {
            matches!(e, HeaderError::InvalidMetadata { source: Some(_) })
        }),
        (vec![("langsmith-trace", ROOT.into()), ("baggage", "langsmith-metadata=%5B1%5D".into())], |e| {
            matches!(e, HeaderError::InvalidMetadata { source: None })
        }),
        (
            vec![("langsmith-trace", ROOT.into()), ("baggage", format!("langsmith-metadata={}", "%5B".repeat(1000)))],
            |e| matches!(e, HeaderError::InvalidMetadata { .. }),
        ),
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

/// A small deterministic generator, so that a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Text of characters that matter to the parsers, and some that should not be there.
    fn text(&mut self, max_len: usize) -> String {
        const ALPHABET: &[char] =
            &['0', '1', '2', '9', 'T', 'Z', 'a', 'f', '-', '.', ',', '=', ';', '%', ' ', '"', '{', '}', 'é', '✓', '\0'];
        let len = self.below(max_len + 1);
        (0..len).map(|_| *self.pick(ALPHABET)).collect()
    }

    /// `text` changed in one of the ways a truncated, corrupted or hostile header is.
    fn mutate(&mut self, text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let at = self.below(chars.len() + 1);
        let (before, after) = (chars[..at].iter().collect::<String>(), chars[at..].iter().collect::<String>());
        match self.below(6) {
            0 => before,
            1 => format!("{before}{}", after.chars().skip(1).collect::<String>()),
            2 => format!("{before}{}{after}", self.text(4)),
            3 => format!("{before}{}", after.chars().skip(1).collect::<String>()).replacen('.', "..", 1),
            4 => text.repeat(self.below(200) + 1),
            _ => format!("{}{after}", self.text(8)),
        }
    }
}

#[test]
fn random_and_mutated_headers_never_panic_and_what_parses_round_trips() {
    let valid_baggage = "langsmith-metadata=%7B%22user%22%3A%22ada%22%7D,langsmith-tags=eval%2Cprod".to_owned();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    for case in 0..20_000 {
        let trace = match rng.below(3) {
            0 => rng.text(120),
            1 => rng.mutate(&format!("{ROOT}.{CHILD}")),
            _ => format!("{ROOT}.{CHILD}"),
        };
        let baggage = match rng.below(3) {
            0 => rng.text(80),
            1 => rng.mutate(&valid_baggage),
            _ => valid_baggage.clone(),
        };
        let headers = [("langsmith-trace", trace.clone()), ("baggage", baggage.clone())];
        let outcome = std::panic::catch_unwind(|| TraceContext::from_headers(headers));
        let Ok(result) = outcome else {
            panic!("case {case} panicked on trace {trace:?} and baggage {baggage:?}");
        };
        if let Ok(context) = result {
            accepted += 1;
            let again = TraceContext::from_headers(context.to_headers());
            assert_eq!(again.ok().as_ref(), Some(&context), "case {case}: {trace:?} / {baggage:?}");
        }
    }
    assert!(accepted > 1000, "the generator also makes valid headers ({accepted} accepted)");
}

#[test]
fn random_tags_and_metadata_round_trip_through_headers() -> TestResult {
    let tracer = Tracer::new(RunCollector::new());
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..300 {
        let tags: Vec<String> =
            (0..rng.below(4)).map(|_| rng.text(12).replace(',', "")).filter(|tag| !tag.is_empty()).collect();
        let metadata: Map<String, Value> = (0..rng.below(4))
            .map(|_| {
                let value = match rng.below(3) {
                    0 => json!(rng.text(16)),
                    1 => json!(rng.next() % 1000),
                    _ => json!({ "nested": [rng.text(4), null, true] }),
                };
                (rng.text(6), value)
            })
            .collect();
        let callbacks = CallbackManager::new().with_handler(&tracer).with_tags(&tags).with_metadata(metadata.clone());
        let run = callbacks.start_run(RunKind::Chain, "answer", &())?;
        let sent = TraceContext::from_run(&run)?;
        let received = TraceContext::from_headers(over_the_wire(&sent.to_headers()))?;
        assert_eq!(received, sent);
        assert_eq!(received.tags(), &callbacks.inheritable_tags()[..]);
        assert_eq!(received.metadata(), &metadata);
        run.end(&())?;
    }
    assert_eq!(tracer.open_runs(), 0);
    Ok(())
}
