//! The `baggage` header's runtrace members, read leniently and written within the reader's
//! limits: whatever the writer writes, the reader reads whole.
//!
//! The reader follows LangSmith's SDK, which joins the trace whatever the baggage holds and
//! passes over what it cannot read: a member that is malformed, or past the limits, is
//! skipped with one warning for the whole header, never an error. The writer measures each
//! member as it will be sent (percent-encoded) and leaves out the tags and metadata entries
//! that would take the header past [`MAX_BAGGAGE_LEN`], with a warning naming them: a value
//! read at one hop may grow when re-sent (raw UTF-8 is accepted, sent percent-encoded), and a
//! header the next hop refused would break the trace there, silently.

use std::fmt;

use serde_json::{Map, Value};

use super::TraceContext;
use super::percent::{encoded_len, percent_decode, percent_encode};

const MAX_BAGGAGE_LEN: usize = TraceContext::MAX_BAGGAGE_LEN;
const MAX_BAGGAGE_MEMBERS: usize = TraceContext::MAX_BAGGAGE_MEMBERS;

const METADATA_KEY: &str = "langsmith-metadata";
const TAGS_KEY: &str = "langsmith-tags";
const PROJECT_KEY: &str = "langsmith-project";

/// The percent-encoded separator of tags inside `langsmith-tags`, and of entries inside the
/// JSON object of `langsmith-metadata`: both are a comma.
const ENCODED_COMMA_LEN: usize = 3;

/// The percent-encoded braces around the JSON object of `langsmith-metadata`.
const ENCODED_BRACES_LEN: usize = 6;

/// How deep `serde_json` reads arrays and objects nested in one another, the metadata object
/// itself counted: its recursion limit.
const MAX_NESTING: usize = 127;

/// The most skipped or dropped items a warning names; it counts the rest.
const NAMED_IN_A_WARNING: usize = 4;

/// The longest a tag or metadata key is quoted in a warning, in characters.
const QUOTED_LEN: usize = 40;

/// What runtrace's members of a `baggage` header said. A member given twice counts as the
/// last well-formed one, as in LangSmith's SDK.
#[derive(Debug, Default)]
pub(super) struct Baggage {
    pub(super) tags: Option<Vec<String>>,
    pub(super) metadata: Option<Map<String, Value>>,
    pub(super) project: Option<String>,
}

/// Reads `baggage` header values one after the other, as several headers join into one list.
#[derive(Default)]
pub(super) struct Reader {
    baggage: Baggage,
    /// The length of the list read so far, its commas included.
    len: usize,
    /// The comma-separated pieces seen so far, empty ones included.
    pieces: usize,
    /// Non-empty members seen, read or skipped.
    members: usize,
    /// The first members skipped, for the warning, and how many were.
    skipped: Vec<Skipped>,
    skipped_count: usize,
}

/// Why a member was passed over.
#[derive(Debug, thiserror::Error)]
enum Skipped {
    #[error("member {member} is not `key=value`")]
    NotKeyValue { member: usize },
    #[error("`{key}` is not valid percent-encoded UTF-8")]
    BadEncoding { key: &'static str },
    #[error("`langsmith-metadata` is not a JSON object")]
    NotAnObject,
    #[error("`langsmith-metadata` is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("member {member} ends past byte {MAX_BAGGAGE_LEN}, the last read")]
    PastMaxLen { member: usize },
    #[error("member {member} is past the {MAX_BAGGAGE_MEMBERS} members read")]
    PastMaxMembers { member: usize },
}

impl Reader {
    /// Reads one `baggage` header value: members whose end is within [`MAX_BAGGAGE_LEN`]
    /// bytes of the list's start and among its first [`MAX_BAGGAGE_MEMBERS`], W3C's limits.
    pub(super) fn read(&mut self, value: &str) {
        for raw in value.split(',') {
            // Each piece comes after a comma, but the first.
            self.len += usize::from(self.pieces > 0) + raw.len();
            self.pieces += 1;
            let end = self.len;
            let member = raw.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            let index = self.members;
            self.members += 1;
            let read = if index >= MAX_BAGGAGE_MEMBERS {
                Err(Skipped::PastMaxMembers { member: index })
            } else if end > MAX_BAGGAGE_LEN {
                Err(Skipped::PastMaxLen { member: index })
            } else {
                self.read_member(index, member)
            };
            if let Err(skipped) = read {
                // A hostile header may hold any number of members: keep only those named.
                if self.skipped.len() < NAMED_IN_A_WARNING {
                    self.skipped.push(skipped);
                }
                self.skipped_count += 1;
            }
        }
    }

    fn read_member(&mut self, index: usize, member: &str) -> Result<(), Skipped> {
        // W3C members may carry `;properties` after the value; runtrace's have none.
        let entry = member.split(';').next().unwrap_or_default();
        let (key, value) = entry.split_once('=').ok_or(Skipped::NotKeyValue { member: index })?;
        let (key, value) = (key.trim_matches([' ', '\t']), value.trim_matches([' ', '\t']));
        let decode = |key| percent_decode(value).ok_or(Skipped::BadEncoding { key });
        match key {
            METADATA_KEY => match serde_json::from_str(&decode(METADATA_KEY)?) {
                Ok(Value::Object(metadata)) => self.baggage.metadata = Some(metadata),
                Ok(_) => return Err(Skipped::NotAnObject),
                Err(error) => return Err(Skipped::NotJson(error)),
            },
            TAGS_KEY => {
                let tags = decode(TAGS_KEY)?;
                self.baggage.tags = Some(tags.split(',').filter(|tag| !tag.is_empty()).map(str::to_owned).collect());
            }
            PROJECT_KEY => {
                let project = decode(PROJECT_KEY)?;
                self.baggage.project = (!project.is_empty()).then_some(project);
            }
            _ => {}
        }
        Ok(())
    }

    /// What was read, after one warning for whatever was skipped.
    pub(super) fn finish(self) -> Baggage {
        if self.skipped_count > 0 {
            tracing::warn!(
                target: "runtrace",
                skipped = self.skipped_count,
                "joined the trace without part of the `baggage` header: {}",
                Named(&self.skipped, self.skipped_count),
            );
        }
        self.baggage
    }
}

/// The `baggage` header value for these tags, metadata and project, at most
/// [`MAX_BAGGAGE_LEN`] bytes; `None` when there is nothing to send.
///
/// The project goes in first, then tags and metadata entries, each in order and each kept if
/// it still fits; an item that does not is left out, the ones after it may still fit. Empty
/// tags are left out as the reader would drop them anyway, and so are metadata entries
/// nested deeper than the reader's JSON parser goes.
pub(super) fn write(tags: &[String], metadata: &Map<String, Value>, project: Option<&str>) -> Option<String> {
    // Every member is counted with one comma, and the list has one fewer.
    let mut budget = MAX_BAGGAGE_LEN + 1;
    let mut dropped = Dropped::default();

    let project = project.filter(|project| !project.is_empty()).and_then(|project| {
        let cost = PROJECT_KEY.len() + 1 + encoded_len(project) + 1;
        if cost <= budget {
            budget -= cost;
            Some(project)
        } else {
            dropped.project = true;
            None
        }
    });
    let mut kept_tags = Vec::new();
    for tag in tags.iter().filter(|tag| !tag.is_empty()) {
        let cost = encoded_len(tag) + if kept_tags.is_empty() { TAGS_KEY.len() + 2 } else { ENCODED_COMMA_LEN };
        if cost <= budget {
            budget -= cost;
            kept_tags.push(tag.as_str());
        } else {
            dropped.tags.push(tag.as_str());
        }
    }
    let mut kept_entries = Vec::new();
    for (key, value) in metadata {
        if nests_deeper_than(value, MAX_NESTING - 1) {
            dropped.too_deep.push(key.as_str());
            continue;
        }
        let entry = format!("{}:{value}", Value::from(key.as_str()));
        let cost = encoded_len(&entry)
            + if kept_entries.is_empty() { METADATA_KEY.len() + 2 + ENCODED_BRACES_LEN } else { ENCODED_COMMA_LEN };
        if cost <= budget {
            budget -= cost;
            kept_entries.push(entry);
        } else {
            dropped.metadata.push(key.as_str());
        }
    }
    if !dropped.is_empty() {
        tracing::warn!(target: "runtrace", "left out of the `baggage` header, so that a reader reads it all: {dropped}");
    }

    // LangSmith's order: metadata, tags, project.
    let mut members = Vec::new();
    if !kept_entries.is_empty() {
        members.push(format!("{METADATA_KEY}={}", percent_encode(&format!("{{{}}}", kept_entries.join(",")))));
    }
    if !kept_tags.is_empty() {
        members.push(format!("{TAGS_KEY}={}", percent_encode(&kept_tags.join(","))));
    }
    if let Some(project) = project {
        members.push(format!("{PROJECT_KEY}={}", percent_encode(project)));
    }
    let baggage = members.join(",");
    debug_assert!(baggage.len() <= MAX_BAGGAGE_LEN, "the budget above measures what is written");
    (!baggage.is_empty()).then_some(baggage)
}

/// Whether `value` nests arrays and objects more than `levels` deep. Looks no deeper than
/// that, so that a hostile value cannot take the stack.
fn nests_deeper_than(value: &Value, levels: usize) -> bool {
    match value {
        Value::Array(items) => levels == 0 || items.iter().any(|item| nests_deeper_than(item, levels - 1)),
        Value::Object(entries) => levels == 0 || entries.values().any(|item| nests_deeper_than(item, levels - 1)),
        _ => false,
    }
}

/// What the writer left out.
#[derive(Default)]
struct Dropped<'a> {
    project: bool,
    tags: Vec<&'a str>,
    metadata: Vec<&'a str>,
    too_deep: Vec<&'a str>,
}

impl Dropped<'_> {
    fn is_empty(&self) -> bool {
        !self.project && self.tags.is_empty() && self.metadata.is_empty() && self.too_deep.is_empty()
    }
}

impl fmt::Display for Dropped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let quoted = |items: &[&str]| {
            let named: Vec<Quoted<'_>> = items.iter().take(NAMED_IN_A_WARNING).map(|item| Quoted(item)).collect();
            Named(&named, items.len()).to_string()
        };
        let over = format!("over the {MAX_BAGGAGE_LEN} bytes read");
        if self.project {
            parts.push(format!("the project, {over}"));
        }
        if !self.tags.is_empty() {
            parts.push(format!("tags {}, {over}", quoted(&self.tags)));
        }
        if !self.metadata.is_empty() {
            parts.push(format!("metadata entries {}, {over}", quoted(&self.metadata)));
        }
        if !self.too_deep.is_empty() {
            parts.push(format!("metadata entries {}, nested deeper than JSON is read", quoted(&self.too_deep)));
        }
        f.write_str(&parts.join("; "))
    }
}

/// A tag or key as a warning quotes it: shortened, so that a huge one does not flood the log.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(QUOTED_LEN) {
            Some((end, _)) => write!(f, "\"{}…\"", self.0[..end].escape_debug()),
            None => write!(f, "\"{}\"", self.0.escape_debug()),
        }
    }
}

/// The first few of a list of items, then how many more of the count there were.
struct Named<'a, T>(&'a [T], usize);

impl<T: fmt::Display> fmt::Display for Named<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Named(items, count) = *self;
        let named = &items[..items.len().min(NAMED_IN_A_WARNING)];
        for (index, item) in named.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{item}")?;
        }
        if count > named.len() {
            write!(f, " and {} more", count - named.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn metadata(entries: &[(&str, Value)]) -> Map<String, Value> {
        entries.iter().map(|(key, value)| ((*key).to_owned(), value.clone())).collect()
    }

    #[test]
    fn the_writer_fills_the_limit_to_the_byte_and_no_further() {
        let fits = "a".repeat(MAX_BAGGAGE_LEN - "langsmith-tags=".len());
        let written = write(std::slice::from_ref(&fits), &Map::new(), None);
        assert_eq!(written.map(|baggage| baggage.len()), Some(MAX_BAGGAGE_LEN));
        assert_eq!(write(&[format!("{fits}a")], &Map::new(), None), None);

        // With all three members: grow the last tag by the room left, and then by one more,
        // which leaves out the metadata, measured after the tags.
        let entries = metadata(&[("k", json!("é".repeat(10)))]);
        let write_with = |tag: String| write(&["é,".to_owned(), tag], &entries, Some("evals"));
        let room = MAX_BAGGAGE_LEN - write_with("b".to_owned()).map_or(0, |baggage| baggage.len());
        let filled = write_with("b".repeat(1 + room));
        assert_eq!(filled.as_ref().map(String::len), Some(MAX_BAGGAGE_LEN), "{filled:.80?}");
        let over = write_with("b".repeat(2 + room));
        assert!(over.as_ref().is_some_and(|baggage| !baggage.contains("langsmith-metadata")), "{over:.80?}");
    }

    #[test]
    fn several_headers_are_one_list_and_its_commas_count() {
        let mut reader = Reader::default();
        let first = format!("langsmith-tags={}", "a".repeat(MAX_BAGGAGE_LEN - 15 - 24));
        reader.read(&first);
        reader.read("langsmith-project=evals");
        let baggage = reader.finish();
        assert_eq!(baggage.project.as_deref(), Some("evals"), "ends at byte {}", first.len() + 24);

        let mut reader = Reader::default();
        reader.read(&first);
        reader.read("");
        reader.read("langsmith-project=evals");
        assert_eq!(reader.finish().project, None, "an empty header adds a comma");
    }

    #[test]
    fn a_value_nested_as_deep_as_json_is_read_is_not_too_deep() {
        let nested = |depth: usize| (0..depth).fold(json!(1), |inner, _| json!({ "k": inner }));
        assert!(!nests_deeper_than(&nested(MAX_NESTING - 1), MAX_NESTING - 1));
        assert!(nests_deeper_than(&nested(MAX_NESTING), MAX_NESTING - 1));
        let json = Value::Object(metadata(&[("k", nested(MAX_NESTING - 1))])).to_string();
        assert!(serde_json::from_str::<Value>(&json).is_ok());
        let json = Value::Object(metadata(&[("k", nested(MAX_NESTING))])).to_string();
        assert!(serde_json::from_str::<Value>(&json).is_err());
    }
}
