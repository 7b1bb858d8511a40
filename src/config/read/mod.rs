//! From a document tree to typed configuration, checking the schema: unknown
//! keys (with a did-you-mean), duplicate keys, missing keys, wrong types,
//! integers out of their type's range, unreadable durations, unknown
//! choices. Every problem is collected; the value read for a broken key is
//! its default, and the key's path is remembered as *poisoned* so the rules
//! of [`validate`](super::validate) do not pile follow-up errors on it.
//!
//! This is the one schema: a configuration file, a topic or a group on its
//! own, and every option type's `Deserialize` ([`de`](super::de)) are read
//! by these functions. This module keeps the bookkeeping (paths, spans,
//! poisoning, findings) and the entry points; [`values`] reads one value of
//! each kind (a string, a bounded integer, a duration, a choice, a table
//! and its keys); [`root`], [`topic`] and [`group`] say what each key of
//! their tables means.
//!
//! Linear in the size of the tree: every lookup by path (the span of a
//! path's closest ancestor, whether a path lies under a poisoned one) hashes
//! the path and its ancestors, never scans what was seen before, and each
//! table finds its duplicate keys with one set. (The maps hash with ahash:
//! its random keys keep crafted collisions out, as SipHash's do, for less
//! work per path.)

pub(super) mod group;
mod root;
pub(super) mod topic;
mod values;

use std::collections::HashMap;
use std::ops::Range;

use super::diagnostic::{Collector, Diagnostic, Diagnostics, Rule};
use super::model::Config;
use super::node::Node;
use super::validate;

/// Reads and validates a whole configuration. `source` (the text the tree
/// was parsed from, if it has spans) turns spans into line and column.
pub(crate) fn config(node: &Node, source: Option<&str>) -> Result<Config, Diagnostics> {
    let mut reader = Reader {
        positions: source.is_some(),
        ..Reader::default()
    };
    let config = root::root(&mut reader, node);
    let checks = validate::check(&config, &|path| reader.is_poisoned(path));
    finish(reader, checks, source, config)
}

/// Reads and checks one topic or group on its own (serde's `Deserialize`
/// for [`TopicConfig`] and [`GroupConfig`]).
pub(crate) fn single<T>(
    node: &Node,
    read: fn(&mut Reader, &Node, &str) -> T,
) -> Result<T, Diagnostics>
where
    T: validate::Item,
{
    let mut reader = Reader::default();
    let item = read(&mut reader, node, "");
    let mut checks = Vec::new();
    item.check("", &|path| reader.is_poisoned(path), &mut checks);
    finish(reader, checks, None, item)
}

/// Reads one option value on its own (serde's `Deserialize` for the
/// option types): the schema's checks, every problem at once. The rules
/// over values (ranges such as `workers >= 1`) are left, as for options
/// given in code, to [`EngineBuilder::build`](crate::EngineBuilder::build)
/// or to the configuration holding the value.
pub(crate) fn value<T>(
    node: &Node,
    read: fn(&mut Reader, &Node, &str) -> Option<T>,
) -> Result<T, Diagnostics> {
    let mut reader = Reader::default();
    let value = read(&mut reader, node, "");
    match finish(reader, Vec::new(), None, value)? {
        Some(value) => Ok(value),
        // Every reader reports what it returns `None` for; were one not
        // to, the value would still not have been read.
        None => Err(Diagnostics::from_list(vec![Diagnostic::error(
            Rule::WrongType,
            "",
            "the value could not be read",
        )
        .value(node)])),
    }
}

fn finish<T>(
    mut reader: Reader,
    checks: Vec<Diagnostic>,
    source: Option<&str>,
    value: T,
) -> Result<T, Diagnostics> {
    for check in checks {
        if !reader.is_poisoned(&check.path) {
            let offset = reader.offset_of(&check.path);
            reader.found.push(offset, check);
        }
    }
    // Source order where there are positions, reading order otherwise.
    let found = reader.found.into_diagnostics(source);
    if found.is_ok() {
        Ok(value)
    } else {
        Err(found)
    }
}

/// `path` and then each of its ancestors, longest first, down to the root
/// `""`: `a.b[0].c`, `a.b[0]`, `a.b`, `a`, `""`. (A path lies under
/// another if that one is a prefix of it ending before a `.` or `[`.)
fn lineage(path: &str) -> impl Iterator<Item = &str> {
    let cuts = path
        .bytes()
        .enumerate()
        .rev()
        .filter(|&(_, b)| matches!(b, b'.' | b'['))
        // `.` and `[` are ASCII: `i` is a char boundary.
        .map(move |(i, _)| &path[..i]);
    std::iter::once(path)
        .chain(cuts)
        .chain((!path.is_empty()).then_some(""))
}

/// `parent.key`, or `key` at the top.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// What the reader has found so far.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    /// The findings kept so far, and the count of the others.
    found: Collector,
    /// Every path placed or poisoned.
    paths: HashMap<String, Seen, ahash::RandomState>,
    /// Whether some path in `paths` is poisoned (in a valid file none is,
    /// and the rules' questions need no lookup).
    any_poisoned: bool,
    /// Whether findings are placed by their spans (there is a source text
    /// to locate them in); no span is recorded otherwise.
    positions: bool,
}

/// What the reader knows of one path.
#[derive(Debug, Default)]
struct Seen {
    /// Where it is: the span of its value, or of its key if the value was
    /// not read. The last visit wins.
    span: Option<Range<usize>>,
    /// Whether its value could not be read (its typed value is a default).
    poisoned: bool,
}

impl Reader {
    /// Whether `path` or one of its ancestors could not be read.
    fn is_poisoned(&self, path: &str) -> bool {
        self.any_poisoned
            && lineage(path).any(|p| self.paths.get(p).is_some_and(|seen| seen.poisoned))
    }

    /// Where a finding about `path` points: the start of the span of
    /// `path` or of its closest ancestor that has one.
    fn offset_of(&self, path: &str) -> Option<usize> {
        if !self.positions {
            return None;
        }
        lineage(path).find_map(|p| Some(self.paths.get(p)?.span.as_ref()?.start))
    }

    /// Marks `path` as unreadable.
    fn poison(&mut self, path: String) {
        self.any_poisoned = true;
        self.paths.entry(path).or_default().poisoned = true;
    }

    /// Records a problem with the value at `diagnostic.path`.
    fn bad(&mut self, diagnostic: Diagnostic) {
        let offset = self.offset_of(&diagnostic.path);
        self.bad_at(offset, diagnostic);
    }

    /// [`bad`](Self::bad), with the offset already looked up.
    fn bad_at(&mut self, offset: Option<usize>, diagnostic: Diagnostic) {
        self.poison(diagnostic.path.clone());
        self.found.push(offset, diagnostic);
    }

    /// Remembers that `path` is at `span` of the source.
    fn place(&mut self, path: &str, span: &Range<usize>) {
        if self.positions {
            let seen = match self.paths.get_mut(path) {
                Some(seen) => seen,
                None => self.paths.entry(path.to_owned()).or_default(),
            };
            seen.span = Some(span.clone());
        }
    }

    fn visit(&mut self, node: &Node, path: &str) {
        if let Some(span) = &node.span {
            self.place(path, span);
        }
    }
}
