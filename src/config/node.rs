//! A format-neutral document tree: what any serde format (or the TOML
//! parser, with positions) reads into before the schema is checked.
//!
//! Reading into this tree first, instead of straight into the typed
//! configuration, is what lets validation report every mistake at once:
//! serde's derived `Deserialize` stops at the first unknown key or wrong
//! type, while [`read`](super::read) walks the whole tree.

use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A value and, when the format keeps them, its byte span in the source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) span: Option<Range<usize>>,
}

/// A table key and its span.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Key {
    pub(crate) name: String,
    pub(crate) span: Option<Range<usize>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Bool(bool),
    /// Wide enough for every JSON (u64) and TOML (i64) integer.
    Int(i128),
    Float(f64),
    Str(String),
    Array(Vec<Node>),
    /// Entries in source order; duplicates kept (JSON allows them) so the
    /// reader can report them.
    Table(Vec<(Key, Node)>),
    /// A value the schema never uses (a TOML datetime, a null), by its kind.
    Other(&'static str),
}

impl Node {
    pub(crate) fn new(value: Value) -> Self {
        Node { value, span: None }
    }

    /// "an integer", "a string", … for "expected X, found Y" messages.
    pub(crate) fn kind(&self) -> &'static str {
        match &self.value {
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
            Value::Other(kind) => kind,
        }
    }
}

/// The value, written back the way a config file would show it, shortened
/// to stay readable in a one-line message. Writing stops at the limit, so a
/// huge value costs no more than a small one.
impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LIMIT: usize = 60;
        let mut out = Truncated {
            text: String::new(),
            room: LIMIT,
            cut: false,
        };
        // The one error `Truncated` raises is the cut: what it holds is the
        // start of the value either way.
        let _ = write_value(&mut out, self);
        f.write_str(&out.text)?;
        if out.cut {
            f.write_str("…")?;
        }
        Ok(())
    }
}

/// The whole value, as [`Node`]'s `Display` shows it before the cut.
fn write_value(out: &mut impl fmt::Write, node: &Node) -> fmt::Result {
    match &node.value {
        Value::Bool(b) => write!(out, "{b}"),
        Value::Int(i) => write!(out, "{i}"),
        Value::Float(x) => write!(out, "{x:?}"),
        Value::Str(s) => write!(out, "{s:?}"),
        Value::Array(items) => {
            out.write_char('[')?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.write_str(", ")?;
                }
                write_value(out, item)?;
            }
            out.write_char(']')
        }
        Value::Table(entries) => {
            out.write_str("{ ")?;
            for (i, (key, value)) in entries.iter().enumerate() {
                if i > 0 {
                    out.write_str(", ")?;
                }
                write!(out, "{} = ", key.name)?;
                write_value(out, value)?;
            }
            out.write_str(" }")
        }
        Value::Other(kind) => write!(out, "({kind})"),
    }
}

/// A writer that keeps the first `room` chars and fails on the next one.
struct Truncated {
    text: String,
    /// Chars it can still take.
    room: usize,
    /// Whether a char was refused.
    cut: bool,
}

impl fmt::Write for Truncated {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut chars = s.chars();
        for c in chars.by_ref().take(self.room) {
            self.text.push(c);
            self.room -= 1;
        }
        if chars.next().is_some() {
            self.cut = true;
            return Err(fmt::Error);
        }
        Ok(())
    }
}

/// Reads any self-describing serde format (JSON, TOML, YAML, …) into a tree
/// without positions.
impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a configuration value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::new(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::new(Value::Int(i128::from(v))))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::new(Value::Int(i128::from(v))))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(Node::new(Value::Int(v)))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        Ok(Node::new(match i128::try_from(v) {
            Ok(v) => Value::Int(v),
            Err(_) => Value::Other("an integer beyond 2^127"),
        }))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::new(Value::Float(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::new(Value::Str(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::new(Value::Str(v)))
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
        Ok(Node::new(Value::Other("bytes")))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::new(Value::Other("null")))
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::new(Value::Other("null")))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::new(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let name = match key.value {
                Value::Str(s) => s,
                _ => key.to_string(),
            };
            let value = map.next_value::<Node>()?;
            entries.push((Key { name, span: None }, value));
        }
        Ok(Node::new(Value::Table(entries)))
    }
}

/// The TOML reader: the same tree, with the span of every key and value.
#[cfg(feature = "toml")]
pub(crate) mod toml_spans {
    use std::borrow::Cow;

    use toml::de::{DeTable, DeValue};
    use toml::Spanned;

    use super::{Key, Node, Value};
    use crate::config::{ConfigError, Location};

    /// Parses `text`; a syntax error keeps its line and column.
    pub(crate) fn parse(text: &str) -> Result<Node, ConfigError> {
        match DeTable::parse(text) {
            Ok(table) => {
                let span = table.span();
                Ok(Node {
                    value: table_value(table.into_inner()),
                    span: Some(span),
                })
            }
            Err(error) => {
                let location = error
                    .span()
                    .map_or(Location { line: 1, column: 1 }, |span| {
                        Location::of_offset(text, span.start)
                    });
                Err(ConfigError::Syntax {
                    format: "TOML",
                    location,
                    message: error.message().trim().to_owned(),
                })
            }
        }
    }

    fn table_value(table: DeTable<'_>) -> Value {
        Value::Table(
            table
                .into_iter()
                .map(|(key, value)| {
                    let key_span = key.span();
                    let name: Cow<'_, str> = key.into_inner();
                    (
                        Key {
                            name: name.into_owned(),
                            span: Some(key_span),
                        },
                        node(value),
                    )
                })
                .collect(),
        )
    }

    fn node(spanned: Spanned<DeValue<'_>>) -> Node {
        let span = spanned.span();
        let value = match spanned.into_inner() {
            DeValue::String(s) => Value::Str(s.into_owned()),
            DeValue::Integer(i) => match i128::from_str_radix(i.as_str(), i.radix()) {
                Ok(i) => Value::Int(i),
                Err(_) => Value::Other("an integer out of range"),
            },
            DeValue::Float(x) => match x.as_str().parse::<f64>() {
                Ok(x) => Value::Float(x),
                Err(_) => Value::Other("a float"),
            },
            DeValue::Boolean(b) => Value::Bool(b),
            DeValue::Datetime(_) => Value::Other("a datetime"),
            DeValue::Array(items) => Value::Array(items.into_iter().map(node).collect()),
            DeValue::Table(table) => table_value(table),
        };
        Node {
            value,
            span: Some(span),
        }
    }
}

/// The JSON reader: the tree without positions (serde_json keeps none per
/// value), syntax errors with line and column.
#[cfg(feature = "json")]
pub(crate) fn parse_json(text: &str) -> Result<Node, ConfigError> {
    serde_json::from_str::<Node>(text).map_err(|error| ConfigError::Syntax {
        format: "JSON",
        location: Location {
            line: error.line().max(1),
            column: error.column().max(1),
        },
        message: strip_position(&error.to_string()),
    })
}

#[cfg(feature = "json")]
use super::{ConfigError, Location};

/// serde_json appends " at line L column C"; the location is kept apart.
#[cfg(feature = "json")]
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}
