//! From a document tree to typed configuration, checking the schema: unknown
//! keys (with a did-you-mean), duplicate keys, missing keys, wrong types,
//! integers out of their type's range, unreadable durations, unknown
//! choices. Every problem is collected; the value read for a broken key is
//! its default, and the key's path is remembered as *poisoned* so the rules
//! of [`validate`](super::validate) do not pile follow-up errors on it.
//!
//! Linear in the size of the tree: every lookup by path (the span of a
//! path's closest ancestor, whether a path lies under a poisoned one) hashes
//! the path and its ancestors, never scans what was seen before, and each
//! table finds its duplicate keys with one set. (The maps hash with ahash:
//! its random keys keep crafted collisions out, as SipHash's do, for less
//! work per path.)

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::time::Duration;

use super::diagnostic::{Collector, Diagnostic, Diagnostics, Rule, Severity};
use super::model::{Config, EngineConfig, GroupConfig, Partitioning, TopicConfig};
use super::node::{Key, Node, Value};
use super::suggest::did_you_mean;
use super::validate;
use crate::{
    Assignment, Backoff, Exhausted, FailurePolicy, FullPolicy, GroupMode, Producers, Retries,
    WaitStrategy,
};

/// Keys of each table, in the order the reference documents them.
pub(crate) const ROOT_KEYS: &[&str] = &["engine", "topics", "groups"];
pub(crate) const ENGINE_KEYS: &[&str] = &[
    "memory_budget",
    "metrics",
    "latency_sampling",
    "latency_buckets",
];
pub(crate) const TOPIC_KEYS: &[&str] = &[
    "name",
    "partitions",
    "capacity",
    "partitioner",
    "timestamps",
    "producers",
    "full_policy",
    "dedup_window",
];
pub(crate) const GROUP_KEYS: &[&str] = &[
    "name",
    "topic",
    "mode",
    "assignment",
    "wait",
    "max_batch",
    "failure",
];
pub(crate) const FAILURE_KEYS: &[&str] = &["retries", "backoff", "on_exhausted"];
pub(crate) const BACKOFF_KEYS: &[&str] = &["initial", "max", "multiplier"];
pub(crate) const ADAPTIVE_KEYS: &[&str] = &["spins", "yields"];

/// Reads and validates a whole configuration. `source` (the text the tree
/// was parsed from, if it has spans) turns spans into line and column.
pub(crate) fn config(node: &Node, source: Option<&str>) -> Result<Config, Diagnostics> {
    let mut reader = Reader {
        positions: source.is_some(),
        ..Reader::default()
    };
    let config = root(&mut reader, node);
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

/// One choice of an enum-like value: written as a string (`unit`), as a
/// one-key table (`table`), or either.
struct Variant {
    name: &'static str,
    unit: bool,
    table: bool,
    example: &'static str,
}

const fn unit(name: &'static str, example: &'static str) -> Variant {
    Variant {
        name,
        unit: true,
        table: false,
        example,
    }
}

const fn table(name: &'static str, example: &'static str) -> Variant {
    Variant {
        name,
        unit: false,
        table: true,
        example,
    }
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

    fn wrong_type(&mut self, node: &Node, path: &str, expected: &str, fix: impl Into<String>) {
        self.bad(
            Diagnostic::error(
                Rule::WrongType,
                path,
                format!("expected {expected}, found {}", node.kind()),
            )
            .value(node)
            .fix(fix),
        );
    }

    fn table<'n>(&mut self, node: &'n Node, path: &str, example: &str) -> Option<Table<'n>> {
        self.visit(node, path);
        match &node.value {
            Value::Table(entries) => Some(Table {
                path: path.to_owned(),
                entries,
                used: vec![false; entries.len()],
            }),
            _ => {
                self.wrong_type(node, path, "a table", format!("write it as {example}"));
                None
            }
        }
    }

    fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                let fix = format!("write it in quotes: \"{node}\"");
                self.wrong_type(node, path, "a string", fix);
                None
            }
            _ => {
                self.wrong_type(node, path, "a string", "write a string such as \"orders\"");
                None
            }
        }
    }

    fn bool(&mut self, node: &Node, path: &str) -> Option<bool> {
        match &node.value {
            Value::Bool(b) => Some(*b),
            Value::Str(s) if s == "true" || s == "false" => {
                self.wrong_type(node, path, "a boolean", format!("write {s} without quotes"));
                None
            }
            _ => {
                self.wrong_type(node, path, "a boolean", "write true or false");
                None
            }
        }
    }

    /// A non-negative integer of at most `max`.
    fn uint(&mut self, node: &Node, path: &str, max: u128) -> Option<u128> {
        let range = format!("an integer from 0 to {max}");
        match &node.value {
            Value::Int(i) => match u128::try_from(*i) {
                Ok(n) if n <= max => Some(n),
                _ => {
                    self.bad(
                        Diagnostic::error(Rule::OutOfRange, path, format!("must be {range}"))
                            .value(i)
                            .fix(format!("use a value from 0 to {max}")),
                    );
                    None
                }
            },
            Value::Float(x) if x.fract() == 0.0 && x.abs() < 1e15 => {
                self.wrong_type(
                    node,
                    path,
                    &range,
                    format!("write it without a decimal point: {x:.0}"),
                );
                None
            }
            Value::Str(s) if s.trim().parse::<u128>().is_ok() => {
                self.wrong_type(
                    node,
                    path,
                    &range,
                    format!("remove the quotes: {}", s.trim()),
                );
                None
            }
            _ => {
                self.wrong_type(node, path, &range, "write a whole number such as 8");
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        match &node.value {
            Value::Str(s) => match crate::duration::parse(s) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.bad(
                        Diagnostic::error(Rule::InvalidDuration, path, "not a duration")
                            .value(node)
                            .fix(e.reason),
                    );
                    None
                }
            },
            Value::Int(n) => {
                self.wrong_type(
                    node,
                    path,
                    "a duration string",
                    format!("add a unit in quotes, e.g. \"{n}ms\" or \"{n}s\""),
                );
                None
            }
            _ => {
                self.wrong_type(
                    node,
                    path,
                    "a duration string",
                    "write e.g. \"5ms\" or \"1s\"",
                );
                None
            }
        }
    }

    /// An enum-like value: its variant's name and, for the table form, the
    /// settings node and its path.
    fn choice<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        variants: &[Variant],
    ) -> Option<(&'static str, Option<(&'n Node, String)>)> {
        let examples: Vec<&str> = variants.iter().map(|v| v.example).collect();
        let one_of = format!("one of {}", examples.join(", "));
        let names = || variants.iter().map(|v| v.name);
        let unknown = |reader: &mut Reader, name: &str, value: &dyn std::fmt::Display| {
            let fix = match did_you_mean(name, names()) {
                Some(close) => {
                    let example = variants
                        .iter()
                        .find(|v| v.name == close)
                        .map_or("", |v| v.example);
                    format!("did you mean {example}? valid: {}", examples.join(", "))
                }
                None => format!("use {one_of}"),
            };
            reader.bad(
                Diagnostic::error(
                    Rule::UnknownVariant,
                    path,
                    format!("unknown choice \"{name}\""),
                )
                .value(value)
                .fix(fix),
            );
        };
        match &node.value {
            Value::Str(name) => match variants.iter().find(|v| v.name == name) {
                Some(v) if v.unit => Some((v.name, None)),
                Some(v) => {
                    self.bad(
                        Diagnostic::error(
                            Rule::WrongType,
                            path,
                            format!("\"{}\" needs settings", v.name),
                        )
                        .value(node)
                        .fix(format!("write {}", v.example)),
                    );
                    None
                }
                None => {
                    unknown(self, name, node);
                    None
                }
            },
            Value::Table(entries) if entries.len() == 1 => {
                let (key, inner) = &entries[0];
                let inner_path = join(path, &key.name);
                self.visit(inner, &inner_path);
                match variants.iter().find(|v| v.name == key.name) {
                    Some(v) if v.table => Some((v.name, Some((inner, inner_path)))),
                    Some(v) => {
                        self.bad(
                            Diagnostic::error(
                                Rule::WrongType,
                                path,
                                format!("\"{}\" takes no settings", v.name),
                            )
                            .value(node)
                            .fix(format!("write {}", v.example)),
                        );
                        None
                    }
                    None => {
                        unknown(self, &key.name, node);
                        None
                    }
                }
            }
            _ => {
                self.wrong_type(node, path, &one_of, format!("use {one_of}"));
                None
            }
        }
    }
}

/// A table being read: which keys were used, so the rest can be reported.
struct Table<'n> {
    path: String,
    entries: &'n [(Key, Node)],
    used: Vec<bool>,
}

impl<'n> Table<'n> {
    /// The value of `key` (its first occurrence) and its path.
    fn get(&mut self, reader: &mut Reader, key: &str) -> Option<(&'n Node, String)> {
        let index = self.entries.iter().position(|(k, _)| k.name == key)?;
        self.used[index] = true;
        let path = join(&self.path, key);
        let node = &self.entries[index].1;
        reader.visit(node, &path);
        Some((node, path))
    }

    /// `key`, which must be there.
    fn require(
        &mut self,
        reader: &mut Reader,
        key: &str,
        example: &str,
    ) -> Option<(&'n Node, String)> {
        let found = self.get(reader, key);
        if found.is_none() {
            reader.bad(
                Diagnostic::error(
                    Rule::MissingKey,
                    join(&self.path, key),
                    format!("the required key `{key}` is missing"),
                )
                .fix(format!("add {key} = {example}")),
            );
        }
        found
    }

    /// Reports every key not in `known`, and every key given twice.
    fn finish(self, reader: &mut Reader, known: &[&str]) {
        let mut seen: HashSet<&str, ahash::RandomState> =
            HashSet::with_capacity_and_hasher(self.entries.len(), ahash::RandomState::new());
        for (i, (key, node)) in self.entries.iter().enumerate() {
            let path = join(&self.path, &key.name);
            if let (Some(span), false) = (&key.span, self.used[i]) {
                // Unread keys have no value span: point at the key.
                reader.place(&path, span);
            }
            if !seen.insert(&key.name) {
                reader.bad(
                    Diagnostic::error(Rule::DuplicateKey, path, "the key is given twice")
                        .value(node)
                        .fix("keep one of them"),
                );
            } else if !self.used[i] && !known.contains(&key.name.as_str()) {
                let offset = reader.offset_of(&path);
                if !reader.found.would_keep(Severity::Error, offset) {
                    // Past the cap: counted and poisoned like any other,
                    // without building a message no one will see.
                    reader.found.omit(Severity::Error);
                    reader.poison(path);
                    continue;
                }
                let fix = match did_you_mean(&key.name, known.iter().copied()) {
                    Some(close) => {
                        format!("did you mean `{close}`? known keys: {}", known.join(", "))
                    }
                    None => format!("remove it; known keys: {}", known.join(", ")),
                };
                reader.bad_at(
                    offset,
                    Diagnostic::error(
                        Rule::UnknownKey,
                        path,
                        format!("unknown key `{}`", key.name),
                    )
                    .value(node)
                    .fix(fix),
                );
            }
        }
    }
}

/// Reads `key` of `table` with `read` if present.
fn field<'n, T>(
    reader: &mut Reader,
    table: &mut Table<'n>,
    key: &str,
    read: impl FnOnce(&mut Reader, &'n Node, &str) -> Option<T>,
) -> Option<T> {
    let (node, path) = table.get(reader, key)?;
    read(reader, node, &path)
}

fn root(reader: &mut Reader, node: &Node) -> Config {
    let mut config = Config::default();
    let Some(mut table) = reader.table(node, "", "a table with `topics` and `groups` arrays")
    else {
        return config;
    };
    if let Some((node, path)) = table.get(reader, "engine") {
        config.engine = engine(reader, node, &path);
    }
    if let Some(items) = field(reader, &mut table, "topics", array_of_tables) {
        config.topics = items
            .iter()
            .enumerate()
            .map(|(i, item)| topic(reader, item, &format!("topics[{i}]")))
            .collect();
    }
    if let Some(items) = field(reader, &mut table, "groups", array_of_tables) {
        config.groups = items
            .iter()
            .enumerate()
            .map(|(i, item)| group(reader, item, &format!("groups[{i}]")))
            .collect();
    }
    table.finish(reader, ROOT_KEYS);
    config
}

fn engine(reader: &mut Reader, node: &Node, path: &str) -> EngineConfig {
    let mut engine = EngineConfig::default();
    let Some(mut table) =
        reader.table(node, path, "a table such as { memory_budget = 1073741824 }")
    else {
        return engine;
    };
    if let Some(n) = field(reader, &mut table, "memory_budget", |r, n, p| {
        r.uint(n, p, u64::MAX.into())
    }) {
        engine.memory_budget = n as u64;
    }
    if let Some(b) = field(reader, &mut table, "metrics", Reader::bool) {
        engine.metrics = b;
    }
    if let Some(n) = field(reader, &mut table, "latency_sampling", |r, n, p| {
        r.uint(n, p, u32::MAX.into())
    }) {
        engine.latency_sampling = n as u32;
    }
    if let Some(bounds) = field(reader, &mut table, "latency_buckets", durations) {
        engine.latency_buckets = bounds;
    }
    table.finish(reader, ENGINE_KEYS);
    engine
}

/// An array of duration strings; `None` (with the findings reported) if
/// it is not one or an element cannot be read.
fn durations(reader: &mut Reader, node: &Node, path: &str) -> Option<Vec<Duration>> {
    let Value::Array(items) = &node.value else {
        reader.wrong_type(
            node,
            path,
            "an array of duration strings",
            "write e.g. [\"10us\", \"1ms\", \"100ms\"]",
        );
        return None;
    };
    let read: Vec<Option<Duration>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| reader.duration(item, &format!("{path}[{i}]")))
        .collect();
    read.into_iter().collect()
}

fn array_of_tables<'n>(reader: &mut Reader, node: &'n Node, path: &str) -> Option<&'n [Node]> {
    match &node.value {
        Value::Array(items) => Some(items),
        _ => {
            reader.wrong_type(
                node,
                path,
                "an array of tables",
                format!("declare each entry as a [[{path}]] table"),
            );
            None
        }
    }
}

pub(crate) fn topic(reader: &mut Reader, node: &Node, path: &str) -> TopicConfig {
    let mut topic = TopicConfig::default();
    let Some(mut table) = reader.table(node, path, "a table such as { name = \"orders\" }") else {
        return topic;
    };
    if let Some((node, path)) = table.require(reader, "name", "\"orders\"") {
        if let Some(name) = reader.string(node, &path) {
            topic.name = name;
        }
    }
    if let Some(n) = field(reader, &mut table, "partitions", |r, n, p| {
        r.uint(n, p, u32::MAX.into())
    }) {
        topic.partitions = n as u32;
    }
    if let Some(n) = field(reader, &mut table, "capacity", |r, n, p| {
        r.uint(n, p, usize::MAX as u128)
    }) {
        topic.capacity = n as usize;
    }
    if let Some(p) = field(reader, &mut table, "partitioner", partitioning) {
        topic.partitioner = p;
    }
    if let Some(b) = field(reader, &mut table, "timestamps", Reader::bool) {
        topic.timestamps = b;
    }
    if let Some(producers) = field(reader, &mut table, "producers", producers) {
        topic.producers = producers;
    }
    if let Some(policy) = field(reader, &mut table, "full_policy", full_policy) {
        topic.full_policy = policy;
    }
    if let Some(n) = field(reader, &mut table, "dedup_window", |r, n, p| {
        r.uint(n, p, usize::MAX as u128)
    }) {
        topic.dedup_window = Some(n as usize);
    }
    table.finish(reader, TOPIC_KEYS);
    topic
}

fn partitioning(reader: &mut Reader, node: &Node, path: &str) -> Option<Partitioning> {
    const VARIANTS: &[Variant] = &[
        unit("round_robin", "\"round_robin\""),
        unit("key", "\"key\""),
        table("sticky", "{ sticky = { linger = 16 } }"),
        table("fixed", "{ fixed = { partition = 0 } }"),
    ];
    let (name, settings) = reader.choice(node, path, VARIANTS)?;
    match (name, settings) {
        ("round_robin", _) => Some(Partitioning::RoundRobin),
        ("key", _) => Some(Partitioning::Key),
        ("sticky", Some((node, path))) => {
            let mut table = reader.table(node, &path, "{ linger = 16 }")?;
            let linger = table
                .require(reader, "linger", "16")
                .and_then(|(n, p)| reader.uint(n, &p, u64::MAX.into()));
            table.finish(reader, &["linger"]);
            Some(Partitioning::Sticky {
                linger: linger? as u64,
            })
        }
        (_, Some((node, path))) => {
            let mut table = reader.table(node, &path, "{ partition = 0 }")?;
            let partition = table
                .require(reader, "partition", "0")
                .and_then(|(n, p)| reader.uint(n, &p, u32::MAX.into()));
            table.finish(reader, &["partition"]);
            Some(Partitioning::Fixed {
                partition: partition? as u32,
            })
        }
        _ => None,
    }
}

fn producers(reader: &mut Reader, node: &Node, path: &str) -> Option<Producers> {
    const VARIANTS: &[Variant] = &[unit("multi", "\"multi\""), unit("single", "\"single\"")];
    match reader.choice(node, path, VARIANTS)? {
        ("multi", _) => Some(Producers::Multi),
        ("single", _) => Some(Producers::Single),
        _ => None,
    }
}

fn full_policy(reader: &mut Reader, node: &Node, path: &str) -> Option<FullPolicy> {
    const VARIANTS: &[Variant] = &[
        unit("block", "\"block\""),
        unit("reject", "\"reject\""),
        unit("drop_newest", "\"drop_newest\""),
        table("block_timeout", "{ block_timeout = \"5ms\" }"),
    ];
    match reader.choice(node, path, VARIANTS)? {
        ("block", _) => Some(FullPolicy::Block),
        ("reject", _) => Some(FullPolicy::Reject),
        ("drop_newest", _) => Some(FullPolicy::DropNewest),
        (_, Some((node, path))) => reader.duration(node, &path).map(FullPolicy::BlockTimeout),
        _ => None,
    }
}

pub(crate) fn group(reader: &mut Reader, node: &Node, path: &str) -> GroupConfig {
    let mut group = GroupConfig::new("", "", crate::GroupOptions::default());
    let Some(mut table) = reader.table(
        node,
        path,
        "a table such as { name = \"billing\", topic = \"orders\" }",
    ) else {
        return group;
    };
    if let Some((node, path)) = table.require(reader, "name", "\"billing\"") {
        if let Some(name) = reader.string(node, &path) {
            group.name = name;
        }
    }
    if let Some((node, path)) = table.require(reader, "topic", "\"orders\"") {
        if let Some(topic) = reader.string(node, &path) {
            group.topic = topic;
        }
    }
    let options = &mut group.options;
    if let Some(mode) = field(reader, &mut table, "mode", mode) {
        options.mode = mode;
    }
    if let Some(a) = field(reader, &mut table, "assignment", assignment) {
        options.assignment = a;
    }
    if let Some(w) = field(reader, &mut table, "wait", wait) {
        options.wait = w;
    }
    if let Some(n) = field(reader, &mut table, "max_batch", |r, n, p| {
        r.uint(n, p, usize::MAX as u128)
    }) {
        options.max_batch = n as usize;
    }
    if let Some(f) = field(reader, &mut table, "failure", failure) {
        options.failure = f;
    }
    table.finish(reader, GROUP_KEYS);
    group
}

fn mode(reader: &mut Reader, node: &Node, path: &str) -> Option<GroupMode> {
    const VARIANTS: &[Variant] = &[
        table("workers", "{ workers = 2 }"),
        unit("poll", "\"poll\""),
    ];
    match reader.choice(node, path, VARIANTS)? {
        ("poll", _) => Some(GroupMode::Poll),
        (_, Some((node, path))) => reader
            .uint(node, &path, usize::MAX as u128)
            .map(|n| GroupMode::Workers(n as usize)),
        _ => None,
    }
}

fn assignment(reader: &mut Reader, node: &Node, path: &str) -> Option<Assignment> {
    const VARIANTS: &[Variant] = &[
        unit("range", "\"range\""),
        unit("round_robin", "\"round_robin\""),
    ];
    match reader.choice(node, path, VARIANTS)? {
        ("range", _) => Some(Assignment::Range),
        _ => Some(Assignment::RoundRobin),
    }
}

fn wait(reader: &mut Reader, node: &Node, path: &str) -> Option<WaitStrategy> {
    const VARIANTS: &[Variant] = &[
        Variant {
            name: "adaptive",
            unit: true,
            table: true,
            example: "\"adaptive\" or { adaptive = { spins = 100, yields = 8 } }",
        },
        unit("busy_spin", "\"busy_spin\""),
    ];
    let default = WaitStrategy::default();
    let WaitStrategy::Adaptive {
        mut spins,
        mut yields,
    } = default
    else {
        return Some(default);
    };
    match reader.choice(node, path, VARIANTS)? {
        ("busy_spin", _) => Some(WaitStrategy::BusySpin),
        (_, None) => Some(default),
        (_, Some((node, path))) => {
            let mut table = reader.table(node, &path, "{ spins = 100, yields = 8 }")?;
            if let Some(n) = field(reader, &mut table, "spins", |r, n, p| {
                r.uint(n, p, u32::MAX.into())
            }) {
                spins = n as u32;
            }
            if let Some(n) = field(reader, &mut table, "yields", |r, n, p| {
                r.uint(n, p, u32::MAX.into())
            }) {
                yields = n as u32;
            }
            table.finish(reader, ADAPTIVE_KEYS);
            Some(WaitStrategy::Adaptive { spins, yields })
        }
    }
}

fn failure(reader: &mut Reader, node: &Node, path: &str) -> Option<FailurePolicy> {
    let mut policy = FailurePolicy::default();
    let mut table = reader.table(node, path, "{ retries = 3, on_exhausted = \"skip\" }")?;
    if let Some(r) = field(reader, &mut table, "retries", retries) {
        policy.retries = r;
    }
    if let Some(b) = field(reader, &mut table, "backoff", backoff) {
        policy.backoff = b;
    }
    if let Some(e) = field(reader, &mut table, "on_exhausted", exhausted) {
        policy.exhausted = e;
    }
    table.finish(reader, FAILURE_KEYS);
    Some(policy)
}

fn retries(reader: &mut Reader, node: &Node, path: &str) -> Option<Retries> {
    match &node.value {
        Value::Str(s) if s == "forever" => Some(Retries::Forever),
        Value::Str(s) if did_you_mean(s, ["forever"]).is_some() => {
            reader.bad(
                Diagnostic::error(
                    Rule::UnknownVariant,
                    path,
                    format!("unknown choice \"{s}\""),
                )
                .value(node)
                .fix("did you mean \"forever\"? or write a retry count such as 3"),
            );
            None
        }
        Value::Int(_) => reader
            .uint(node, path, u32::MAX.into())
            .map(|n| Retries::Limited(n as u32)),
        _ => {
            reader.wrong_type(
                node,
                path,
                "a retry count or \"forever\"",
                "write a count such as 3, or \"forever\"",
            );
            None
        }
    }
}

fn backoff(reader: &mut Reader, node: &Node, path: &str) -> Option<Backoff> {
    let mut backoff = Backoff::default();
    let mut table = reader.table(
        node,
        path,
        "{ initial = \"1ms\", max = \"1s\", multiplier = 2 }",
    )?;
    if let Some(d) = field(reader, &mut table, "initial", Reader::duration) {
        backoff.initial = d;
    }
    if let Some(d) = field(reader, &mut table, "max", Reader::duration) {
        backoff.max = d;
    }
    if let Some(n) = field(reader, &mut table, "multiplier", |r, n, p| {
        r.uint(n, p, u32::MAX.into())
    }) {
        backoff.multiplier = n as u32;
    }
    table.finish(reader, BACKOFF_KEYS);
    Some(backoff)
}

fn exhausted(reader: &mut Reader, node: &Node, path: &str) -> Option<Exhausted> {
    const VARIANTS: &[Variant] = &[
        unit("skip", "\"skip\""),
        unit("halt", "\"halt\""),
        table("dead_letter", "{ dead_letter = \"orders.dlq\" }"),
    ];
    match reader.choice(node, path, VARIANTS)? {
        ("skip", _) => Some(Exhausted::Skip),
        ("halt", _) => Some(Exhausted::Halt),
        (_, Some((node, path))) => reader
            .string(node, &path)
            .map(|topic| Exhausted::DeadLetter { topic }),
        _ => None,
    }
}
