//! `name = "..."` and the default names: the function's name, or `Type::method` for methods,
//! with the type's path and generic arguments left out.

use crate::common::{inputs_of, names, recording};
use runtrace::prelude::*;
use serde_json::json;

#[traced_run(kind = "tool")]
fn evaluate(expr: String) -> usize {
    expr.len()
}

#[traced_run(kind = "tool", name = "calculator")]
fn evaluate_named(expr: String) -> usize {
    expr.len()
}

#[traced_run(name = "spaced name / with symbols")]
async fn free_form_name() -> u8 {
    1
}

#[traced_run]
fn r#match(r#type: &str) -> bool {
    r#type == "fn"
}

#[test]
fn default_name_is_the_functions_name() {
    let (recorder, callbacks) = recording();

    evaluate("1+1".into(), &callbacks);

    assert_eq!(names(&recorder), ["evaluate"]);
}

#[test]
fn name_option_replaces_the_name_on_every_event_of_the_run() {
    let (recorder, callbacks) = recording();

    evaluate_named("1+1".into(), &callbacks);

    assert_eq!(names(&recorder), ["calculator"]);
    assert!(recorder.events().iter().all(|event| event.run.name == "calculator"));
    assert_eq!(recorder.len(), 2);
}

#[tokio::test]
async fn name_option_is_taken_verbatim() {
    let (recorder, callbacks) = recording();

    free_form_name(&callbacks).await;

    assert_eq!(names(&recorder), ["spaced name / with symbols"]);
}

#[test]
fn raw_identifiers_are_named_without_their_prefix() {
    let (recorder, callbacks) = recording();

    assert!(r#match("fn", &callbacks));

    assert_eq!(names(&recorder), ["match"]);
    assert_eq!(inputs_of(&recorder, "match"), json!({"type": "fn"}));
}

mod tools {
    use runtrace::prelude::*;

    #[derive(Clone)]
    pub struct Search;

    impl Search {
        #[traced_run(kind = "tool")]
        pub fn find(&self, query: &str) -> usize {
            query.len()
        }

        #[traced_run(kind = "tool", name = "web_search")]
        pub fn find_named(&self, query: &str) -> usize {
            query.len()
        }

        #[traced_run]
        pub fn new_traced() -> Search {
            Search
        }
    }

    impl serde::Serialize for Search {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_unit_struct("Search")
        }
    }
}

#[test]
fn method_default_name_is_the_short_type_name_and_the_method() {
    let (recorder, callbacks) = recording();

    tools::Search.find("rust", &callbacks);

    assert_eq!(names(&recorder), ["Search::find"]);
}

#[test]
fn name_option_on_a_method_replaces_type_and_method() {
    let (recorder, callbacks) = recording();

    tools::Search.find_named("rust", &callbacks);

    assert_eq!(names(&recorder), ["web_search"]);
}

#[test]
fn associated_fn_without_receiver_is_named_like_a_free_fn() {
    let (recorder, callbacks) = recording();

    let _search = tools::Search::new_traced(&callbacks);

    assert_eq!(names(&recorder), ["new_traced"]);
}

struct Pair<A, B>(A, B);

impl<A: Clone, B> Pair<A, B> {
    #[traced_run]
    fn left(&self) -> A
    where
        A: serde::Serialize + Sync,
    {
        self.0.clone()
    }
}

#[test]
fn generic_type_is_named_without_its_arguments_whatever_they_are() {
    let (recorder, callbacks) = recording();

    Pair(1_u8, "x").left(&callbacks);
    Pair(vec![tools::Search::new_traced(CallbackManager::none())], 2.0).left(&callbacks);
    Pair(String::new(), std::collections::HashMap::<u8, u8>::new()).left(&callbacks);

    assert_eq!(names(&recorder), ["Pair::left", "Pair::left", "Pair::left"]);
}

trait Describe {
    #[traced_run(kind = "prompt")]
    fn describe(&self) -> String {
        "something".to_owned()
    }

    #[traced_run(kind = "prompt", name = "describe_briefly")]
    fn brief(&self) -> usize {
        1
    }
}

struct Calculator;
struct Retriever;

impl Describe for Calculator {}
impl Describe for Retriever {}
impl Describe for (Calculator, Retriever) {}

#[test]
fn default_trait_method_is_named_after_each_self_type_however_calls_interleave() {
    let (recorder, callbacks) = recording();

    Calculator.describe(&callbacks);
    Retriever.describe(&callbacks);
    Calculator.describe(&callbacks);
    Retriever.describe(&callbacks);

    assert_eq!(
        names(&recorder),
        ["Calculator::describe", "Retriever::describe", "Calculator::describe", "Retriever::describe"]
    );
}

#[test]
fn name_option_on_a_default_trait_method_is_the_same_for_every_type() {
    let (recorder, callbacks) = recording();

    Calculator.brief(&callbacks);
    Retriever.brief(&callbacks);

    assert_eq!(names(&recorder), ["describe_briefly", "describe_briefly"]);
}

#[test]
fn method_of_a_tuple_type_is_named_after_the_whole_tuple() {
    let (recorder, callbacks) = recording();

    (Calculator, Retriever).describe(&callbacks);

    assert_eq!(names(&recorder), ["(Calculator, Retriever)::describe"]);
}
