//! What every stage needs to report mistakes: the collector that lets one compile show them
//! all, the option names the messages list, and the "did you mean" suggestions.
//!
//! The option names live here, not in `attr.rs`, because parsing, validation and the messages
//! all speak of them: with one list, an option cannot be accepted by the parser yet missing
//! from the message that lists the options.

use syn::Ident;

/// An option of `#[traced_run]`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OptionName {
    Kind,
    Name,
    Tags,
    Metadata,
    Skip,
    SkipAll,
    Redact,
    SkipOutput,
    RedactOutput,
    Err,
    Callbacks,
    Verbose,
    Model,
    Provider,
    Stream,
    Tokens,
    Reduce,
    Crate,
}

/// Every option, as written, in the order the manual's table and the messages list them.
pub const OPTIONS: [(&str, OptionName); 18] = [
    ("kind", OptionName::Kind),
    ("name", OptionName::Name),
    ("tags", OptionName::Tags),
    ("metadata", OptionName::Metadata),
    ("skip", OptionName::Skip),
    ("skip_all", OptionName::SkipAll),
    ("redact", OptionName::Redact),
    ("skip_output", OptionName::SkipOutput),
    ("redact_output", OptionName::RedactOutput),
    ("err", OptionName::Err),
    ("callbacks", OptionName::Callbacks),
    ("verbose", OptionName::Verbose),
    ("model", OptionName::Model),
    ("provider", OptionName::Provider),
    ("stream", OptionName::Stream),
    ("tokens", OptionName::Tokens),
    ("reduce", OptionName::Reduce),
    ("crate", OptionName::Crate),
];

impl OptionName {
    pub fn find(written: &str) -> Option<OptionName> {
        OPTIONS.iter().find(|(spelled, _)| *spelled == written).map(|(_, option)| *option)
    }

    pub fn spelled(self) -> &'static str {
        OPTIONS.iter().find(|(_, option)| *option == self).map_or("", |(spelled, _)| spelled)
    }
}

pub fn option_names() -> [&'static str; OPTIONS.len()] {
    OPTIONS.map(|(spelled, _)| spelled)
}

/// The option names, as a message lists them.
pub fn option_list() -> String {
    option_names().join(", ")
}

/// Collects errors to report together.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, result: syn::Result<()>) {
        if let Err(error) = result {
            self.add(error);
        }
    }

    pub fn add(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// "unknown `what` `word`", with the known name it is a typo of, or else every known name.
pub fn unknown(what: &str, word: &str, known: &[&str]) -> String {
    match closest(word, known.iter().copied()) {
        Some(near) => format!("unknown {what} `{word}`; did you mean `{near}`?"),
        None => format!("unknown {what} `{word}`; expected one of {}", known.join(", ")),
    }
}

pub fn unknown_option(name: &Ident) -> String {
    unknown("option", &name.to_string(), &option_names())
}

/// `skip` or `redact` of `listed`, which is none of the function's `arguments`.
pub fn no_such_argument(listed: &Ident, arguments: &[&Ident]) -> String {
    let names: Vec<String> = arguments.iter().map(ToString::to_string).collect();
    let known = match closest(&listed.to_string(), names.iter().map(String::as_str)) {
        Some(near) => format!("did you mean `{near}`?"),
        None if names.is_empty() => "it has none".to_owned(),
        None => format!("it has {}", names.join(", ")),
    };
    format!("the function has no argument `{listed}`: {known}")
}

/// The candidate nearest to `word` by edit distance, if it is near enough to be a typo.
fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(word, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Edit distance by characters, a swap of two neighbours counting as one edit (the optimal
/// string alignment distance), since `chian` is one slip from `chain`.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // distances[i][j]: between the first i characters of `a` and the first j of `b`.
    let mut distances = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in distances.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in distances[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitution = distances[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let mut best = substitution.min(distances[i - 1][j] + 1).min(distances[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(distances[i - 2][j - 2] + 1);
            }
            distances[i][j] = best;
        }
    }
    distances[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_is_found_by_its_spelling() {
        for (spelled, option) in OPTIONS {
            assert_eq!(OptionName::find(spelled), Some(option));
            assert_eq!(option.spelled(), spelled);
        }
        assert_eq!(OptionName::find("sample_rate"), None);
    }

    #[test]
    fn suggestions_are_made_only_for_near_misses() {
        assert_eq!(edit_distance("skip", "skip"), 0);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(closest("redact_ouput", option_names()), Some("redact_output"));
        assert_eq!(edit_distance("chian", "chain"), 1);
        assert_eq!(closest("nmae", option_names()), Some("name"));
        assert_eq!(closest("chian", ["chain", "llm", "tool"]), Some("chain"));
        assert_eq!(closest("zzz", option_names()), None);
    }
}
