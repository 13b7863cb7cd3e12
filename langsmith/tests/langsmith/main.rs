//! The LangSmith exporter against a loopback stand-in of LangSmith's API (faults, batching,
//! endpoints, delivery) and against LangSmith's own Python SDK (the same runs, sent by both
//! to the same stand-in, compared part by part; run by `.ci/run`).

mod capture;
mod faults;
mod golden;
#[path = "../../../tests/common/sdk.rs"]
mod sdk;
