//! Findings about a configuration: where, what value, which rule, what fix.

use std::fmt;

/// Whether a finding stops the engine from being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Severity {
    /// The configuration is invalid; nothing is built.
    Error,
    /// The configuration works but probably not as meant (idle workers, a
    /// setting that can never take effect). Reported separately; never
    /// stops a build.
    Warning,
}

/// Which rule a finding is about. Stable, for tools that filter or count
/// findings; the [`Diagnostic`]'s text is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Rule {
    /// A key the schema does not know (a typo, usually: the fix suggests the
    /// closest known key).
    UnknownKey,
    /// A key given twice in one table.
    DuplicateKey,
    /// A required key is missing (`name`, a group's `topic`).
    MissingKey,
    /// A value of the wrong type (a string where a number belongs, …).
    WrongType,
    /// A name that is not one of the allowed choices (`full_policy = "blok"`).
    UnknownVariant,
    /// A number outside its valid range.
    OutOfRange,
    /// A ring capacity that is not a power of two.
    NotPowerOfTwo,
    /// A duration string that cannot be read (`"5 sec"`).
    InvalidDuration,
    /// An empty topic or group name.
    EmptyName,
    /// Two topics, or two groups, with one name.
    DuplicateName,
    /// A group subscribed to a topic that is not declared.
    UnknownTopic,
    /// A group's dead-letter topic is not declared.
    MissingDeadLetterTopic,
    /// A group dead-letters into the topic it reads.
    DeadLetterLoop,
    /// A topic no group reads.
    TopicWithoutGroup,
    /// `retries = "forever"` with a zero initial backoff.
    RetryWithoutBackoff,
    /// A backoff whose `max` is below its `initial`.
    BackoffMaxBelowInitial,
    /// Warning: more workers than the topic has partitions.
    IdleWorkers,
    /// Warning: `on_exhausted` is set but `retries = "forever"` never
    /// exhausts.
    UnreachableExhausted,
    /// Warning: `block_timeout` of zero: every full publish times out at
    /// once.
    ZeroTimeout,
}

/// A place in the source file: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, in characters.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` of `source` (clamped to its end and to
    /// a character boundary).
    #[must_use]
    pub fn of_offset(source: &str, offset: usize) -> Location {
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            line,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// One finding: an error or a warning, with the path of the offending key
/// (`topics[2].capacity`), the bad value as written, the rule in words, and
/// a fix.
///
/// `Display` puts it on one line:
///
/// ```text
/// topics[2].capacity = 1000: capacity must be a power of two; use 1024 (or 512) (line 14, column 12)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The rule, for tools.
    pub rule: Rule,
    /// Where: `topics[2].capacity`, `groups[0].failure.backoff.initial`.
    pub path: String,
    /// The offending value as written (`1000`, `"blok"`), when there is one.
    pub value: Option<String>,
    /// What is wrong, stated as the rule it breaks.
    pub message: String,
    /// What to write instead.
    pub fix: Option<String>,
    /// Line and column in the source file, for formats that keep positions
    /// (TOML).
    pub location: Option<Location>,
}

impl Diagnostic {
    pub(crate) fn error(rule: Rule, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            rule,
            path: path.into(),
            value: None,
            message: message.into(),
            fix: None,
            location: None,
        }
    }

    pub(crate) fn warning(rule: Rule, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(rule, path, message)
        }
    }

    pub(crate) fn value(mut self, value: impl fmt::Display) -> Self {
        self.value = Some(value.to_string());
        self
    }

    pub(crate) fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    /// Whether this is an error (not a warning).
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(top level)"
        } else {
            &self.path
        };
        f.write_str(path)?;
        if let Some(value) = &self.value {
            write!(f, " = {value}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "; {fix}")?;
        }
        if let Some(location) = &self.location {
            write!(f, " ({location})")?;
        }
        Ok(())
    }
}

/// Every finding about one configuration: all errors and, separately, all
/// warnings.
///
/// # Examples
///
/// ```
/// use veltrix::config::{Config, GroupConfig, TopicConfig};
/// use veltrix::{GroupOptions, TopicOptions};
///
/// let config = Config::new()
///     .topic(TopicConfig::new("moves", TopicOptions::new(2).capacity(1000)))
///     .group(GroupConfig::new("physics", "moves", GroupOptions::workers(4)));
/// let found = config.validate();
/// assert_eq!(found.errors.len(), 1);
/// assert_eq!(found.errors[0].path, "topics[0].capacity");
/// assert_eq!(found.warnings.len(), 1); // 4 workers, 2 partitions
/// assert!(found.warnings[0].to_string().contains("2 of the 4 workers would be idle"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Diagnostics {
    /// Problems that stop the build.
    pub errors: Vec<Diagnostic>,
    /// Probable mistakes that do not.
    pub warnings: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Whether there is no error (warnings allowed).
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Errors first, then warnings.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.errors.iter().chain(&self.warnings)
    }

    pub(crate) fn from_list(list: Vec<Diagnostic>) -> Self {
        let (errors, warnings) = list.into_iter().partition(Diagnostic::is_error);
        Diagnostics { errors, warnings }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let verdict = if self.is_ok() { "valid" } else { "invalid" };
        write!(
            f,
            "{verdict} configuration: {}, {}",
            plural(self.errors.len(), "error"),
            plural(self.warnings.len(), "warning")
        )?;
        for error in &self.errors {
            write!(f, "\n  error: {error}")?;
        }
        for warning in &self.warnings {
            write!(f, "\n  warning: {warning}")?;
        }
        Ok(())
    }
}
