//! Errors of reading a configuration and of binding it to code.

use std::path::PathBuf;

use thiserror::Error;

use super::diagnostic::{Diagnostics, Location};
use crate::{BuildError, LookupError};

/// A configuration that could not be read.
///
/// Its `Debug` is its readable message (the list of findings), so a
/// `main` that returns this error with `?` prints the findings, not a
/// struct dump.
#[derive(Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not valid TOML or JSON. Only the first syntax error is
    /// reported: past it, the parser's guesses would mislead.
    #[error("{format} syntax error at {location}: {message}")]
    Syntax {
        /// `"TOML"` or `"JSON"`.
        format: &'static str,
        /// Where the parser stopped.
        location: Location,
        /// The parser's explanation.
        message: String,
    },
    /// The document parsed but breaks the schema or its rules: every error
    /// and every warning, each with its path.
    #[error("{0}")]
    Invalid(Diagnostics),
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file's extension names no format this build can read.
    #[error("{}: cannot tell the format from the extension; use .toml or .json ({enabled})", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// Which formats this build has (cargo features `toml`, `json`).
        enabled: &'static str,
    },
    /// The configuration could not be written out.
    #[error("cannot write the configuration as {format}: {message}")]
    Serialize {
        /// `"TOML"` or `"JSON"`.
        format: &'static str,
        /// The serializer's reason.
        message: String,
    },
}

/// `Debug` as the message: what `main` prints for an error returned with
/// `?`. The variants and fields stay public for code that inspects them.
impl std::fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// `Debug` as the message, as for [`ConfigError`].
impl std::fmt::Debug for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl ConfigError {
    /// The findings, if this is [`ConfigError::Invalid`].
    #[must_use]
    pub fn diagnostics(&self) -> Option<&Diagnostics> {
        match self {
            ConfigError::Invalid(found) => Some(found),
            _ => None,
        }
    }
}

/// A configuration that could not be turned into a running engine by
/// [`Binder::build`](super::Binder::build): each variant names the topic or
/// group, its path in the configuration, and what to do.
///
/// Like [`ConfigError`], its `Debug` is its readable message.
#[derive(Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BindError {
    /// The configuration itself breaks the rules.
    #[error("{0}")]
    Invalid(Diagnostics),
    /// A topic of the configuration with no event type bound to it.
    #[error("{path}: topic \"{topic}\" has no event type; bind one with .topic::<E>(\"{topic}\") (or .keyed_topic / .dead_letter_topic)")]
    UnboundTopic {
        /// The topic.
        topic: String,
        /// `topics[i]`.
        path: String,
    },
    /// A group of the configuration with no listener bound to it.
    #[error("{path}: group \"{group}\" has no listener; bind one with .group(\"{group}\", |worker| listener)")]
    UnboundGroup {
        /// The group.
        group: String,
        /// `groups[i]`.
        path: String,
    },
    /// Code bound a topic or group that the configuration does not declare.
    #[error("{what} \"{name}\" is bound in code but not declared in the configuration; {fix}")]
    NotDeclared {
        /// `"topic"` or `"group"`.
        what: &'static str,
        /// The name bound.
        name: String,
        /// A did-you-mean, or the declared names.
        fix: String,
    },
    /// One name bound twice.
    #[error("{what} \"{name}\" is bound twice; bind each name once")]
    BoundTwice {
        /// `"topic"` or `"group"`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A listener, validator or id function for another event type than its
    /// topic carries.
    #[error("{path}: {what} handles {found}, but topic \"{topic}\" is bound to {expected}")]
    TypeMismatch {
        /// What was bound: `group "name"`, `validator`, `dedup id`.
        what: String,
        /// Where in the configuration.
        path: String,
        /// The topic.
        topic: String,
        /// The topic's event type.
        expected: &'static str,
        /// The bound item's event type.
        found: &'static str,
    },
    /// The topic's `partitioner` and its binding disagree about keys.
    #[error("{path}: {problem}")]
    Partitioner {
        /// `topics[i].partitioner`.
        path: String,
        /// What disagrees and how to fix it.
        problem: String,
    },
    /// `dedup_window` is set but no id function is bound.
    #[error("{path}: de-duplication needs the event's id; bind it with .dedup_id::<E, _>(\"{topic}\", |e| e.id), or remove dedup_window")]
    MissingDedupId {
        /// The topic.
        topic: String,
        /// `topics[i].dedup_window`.
        path: String,
    },
    /// The engine refused the topology (see [`BuildError`]).
    #[error("{0}")]
    Build(#[from] BuildError),
    /// A router's target topic could not be connected.
    #[error("router group \"{group}\": {source}")]
    Route {
        /// The router's group.
        group: String,
        /// Why its target was not found.
        #[source]
        source: LookupError,
    },
    /// More than one of the above.
    #[error("{} errors binding the configuration:\n{}", .0.len(), .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Multiple(Vec<BindError>),
}

impl BindError {
    /// The individual errors (one, unless this is [`BindError::Multiple`]).
    #[must_use]
    pub fn errors(&self) -> Vec<&BindError> {
        match self {
            BindError::Multiple(all) => all.iter().collect(),
            one => vec![one],
        }
    }

    pub(crate) fn from_list(mut errors: Vec<BindError>) -> Option<BindError> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(BindError::Multiple(errors)),
        }
    }
}
