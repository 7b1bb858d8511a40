//! Reading one value of each kind: a string, a boolean, a bounded integer,
//! a duration, a choice among named variants, a table and its keys. Each
//! reader reports what it cannot read (wrong type, out of range, unknown
//! choice or key, with a fix) and returns `None` for it.

use std::collections::HashSet;
use std::time::Duration;

use super::{join, Reader};
use crate::config::diagnostic::{Diagnostic, Rule, Severity};
use crate::config::node::{Key, Node, Value};
use crate::config::suggest::did_you_mean;

/// One choice of an enum-like value: written as a string (`unit`), as a
/// one-key table (`table`), or either.
pub(super) struct Variant {
    pub(super) name: &'static str,
    pub(super) unit: bool,
    pub(super) table: bool,
    pub(super) example: &'static str,
}

pub(super) const fn unit(name: &'static str, example: &'static str) -> Variant {
    Variant {
        name,
        unit: true,
        table: false,
        example,
    }
}

pub(super) const fn table(name: &'static str, example: &'static str) -> Variant {
    Variant {
        name,
        unit: false,
        table: true,
        example,
    }
}

impl Reader {
    pub(super) fn wrong_type(
        &mut self,
        node: &Node,
        path: &str,
        expected: &str,
        fix: impl Into<String>,
    ) {
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

    pub(super) fn table<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        example: &str,
    ) -> Option<Table<'n>> {
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

    pub(super) fn string(&mut self, node: &Node, path: &str) -> Option<String> {
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

    pub(super) fn bool(&mut self, node: &Node, path: &str) -> Option<bool> {
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
    pub(super) fn uint(&mut self, node: &Node, path: &str, max: u128) -> Option<u128> {
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

    pub(super) fn duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
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
    pub(super) fn choice<'n>(
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
pub(super) struct Table<'n> {
    path: String,
    entries: &'n [(Key, Node)],
    used: Vec<bool>,
}

impl<'n> Table<'n> {
    /// The value of `key` (its first occurrence) and its path.
    pub(super) fn get(&mut self, reader: &mut Reader, key: &str) -> Option<(&'n Node, String)> {
        let index = self.entries.iter().position(|(k, _)| k.name == key)?;
        self.used[index] = true;
        let path = join(&self.path, key);
        let node = &self.entries[index].1;
        reader.visit(node, &path);
        Some((node, path))
    }

    /// `key`, which must be there.
    pub(super) fn require(
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
    pub(super) fn finish(self, reader: &mut Reader, known: &[&str]) {
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
pub(super) fn field<'n, T>(
    reader: &mut Reader,
    table: &mut Table<'n>,
    key: &str,
    read: impl FnOnce(&mut Reader, &'n Node, &str) -> Option<T>,
) -> Option<T> {
    let (node, path) = table.get(reader, key)?;
    read(reader, node, &path)
}
