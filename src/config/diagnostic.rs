//! Findings about a configuration: where, what value, which rule, what fix.
//!
//! However large the file, finding and reporting stay linear in its size:
//! at most [`MAX_DIAGNOSTICS`] errors (and as many warnings) are kept, the
//! first in source order, chosen with a bounded max-heap as they are found
//! (`Collector`); the rest are only counted. Positions are byte offsets
//! until the end, when one forward sweep over the source (`Positions`)
//! turns the kept ones into lines and columns.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;

/// How many errors, and separately how many warnings, a [`Diagnostics`]
/// keeps: the first ones in source order (in reading order for formats
/// without positions, such as JSON). The others are counted
/// ([`Diagnostics::omitted_errors`], [`Diagnostics::omitted_warnings`]) and
/// still make the configuration invalid; its `Display` ends with
/// "... and N more errors". A hundred is more than anyone fixes before
/// reading again, and keeps a huge broken file's report small.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "toml")] {
/// use veltrix::config::{Config, ConfigError, MAX_DIAGNOSTICS};
///
/// let text: String = (0..250).map(|i| format!("typo_{i} = 1\n")).collect();
/// let Err(ConfigError::Invalid(found)) = Config::from_toml_str(&text) else { panic!() };
/// assert_eq!(found.errors.len(), MAX_DIAGNOSTICS);
/// assert_eq!(found.omitted_errors(), 250 - MAX_DIAGNOSTICS);
/// assert_eq!(found.errors[0].path, "typo_0"); // the first in the file
/// assert!(found.to_string().ends_with("... and 150 more errors"));
/// # }
/// ```
pub const MAX_DIAGNOSTICS: usize = 100;

// One rule set for files and code: the codes live with the rules.
pub use crate::rules::{Rule, Severity};

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
    ///
    /// This reads `source` up to `offset`; for many offsets of one source,
    /// the reader sweeps once instead.
    #[must_use]
    pub fn of_offset(source: &str, offset: usize) -> Location {
        Positions::new(source).locate(offset)
    }
}

/// Byte offsets of one source to [`Location`]s, in one forward sweep: asked
/// for offsets in increasing order, it reads each stretch of the source
/// between two of them once (three quick passes), so all the offsets
/// together cost one read of the source.
#[derive(Debug)]
pub(crate) struct Positions<'s> {
    source: &'s str,
    /// How far the sweep has read: a char boundary of `source`.
    offset: usize,
    /// The location of `offset`.
    at: Location,
}

impl<'s> Positions<'s> {
    pub(crate) fn new(source: &'s str) -> Self {
        Positions {
            source,
            offset: 0,
            at: Location { line: 1, column: 1 },
        }
    }

    /// The location of byte `offset`, clamped to the end of the source and
    /// back to a character boundary. An offset behind the sweep restarts it.
    pub(crate) fn locate(&mut self, offset: usize) -> Location {
        let mut target = offset.min(self.source.len());
        while !self.source.is_char_boundary(target) {
            target -= 1;
        }
        if target < self.offset {
            *self = Positions::new(self.source);
        }
        let between = &self.source[self.offset..target];
        match between.rfind('\n') {
            Some(last) => {
                self.at.line += between.bytes().filter(|&b| b == b'\n').count();
                self.at.column = between[last + 1..].chars().count() + 1;
            }
            None => self.at.column += between.chars().count(),
        }
        self.offset = target;
        self.at
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

/// Every finding about one configuration: the errors and, separately, the
/// warnings; of each, the first [`MAX_DIAGNOSTICS`] are kept and the rest
/// counted ([`omitted_errors`](Self::omitted_errors),
/// [`omitted_warnings`](Self::omitted_warnings)).
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
    /// Errors found past the first [`MAX_DIAGNOSTICS`]: counted, not kept.
    omitted_errors: usize,
    /// Warnings found past the first [`MAX_DIAGNOSTICS`].
    omitted_warnings: usize,
}

impl Diagnostics {
    /// Whether there is no error (warnings allowed). Errors past the cap
    /// count: a configuration with any error is never ok.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty() && self.omitted_errors == 0
    }

    /// How many errors were found beyond the [`MAX_DIAGNOSTICS`] in
    /// [`errors`](Self::errors): all errors number
    /// `errors.len() + omitted_errors()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use veltrix::config::{Config, TopicConfig, MAX_DIAGNOSTICS};
    /// use veltrix::TopicOptions;
    ///
    /// // Unnamed topics that no group reads: one error each.
    /// let config = (0..MAX_DIAGNOSTICS + 7).fold(Config::new(), |config, _| {
    ///     config.topic(TopicConfig::new("", TopicOptions::new(1)))
    /// });
    /// let found = config.validate();
    /// assert_eq!(found.errors.len(), MAX_DIAGNOSTICS);
    /// assert_eq!(found.omitted_errors(), 7);
    /// assert!(!found.is_ok());
    /// ```
    #[must_use]
    pub fn omitted_errors(&self) -> usize {
        self.omitted_errors
    }

    /// How many warnings were found beyond the [`MAX_DIAGNOSTICS`] in
    /// [`warnings`](Self::warnings).
    #[must_use]
    pub fn omitted_warnings(&self) -> usize {
        self.omitted_warnings
    }

    /// Errors first, then warnings.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.errors.iter().chain(&self.warnings)
    }

    /// Findings without positions, kept in the order given.
    pub(crate) fn from_list(list: Vec<Diagnostic>) -> Self {
        let mut found = Collector::default();
        for diagnostic in list {
            found.push(None, diagnostic);
        }
        found.into_diagnostics(None)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let more = |n: usize, what: &str| plural(n, &format!("more {what}"));
        let verdict = if self.is_ok() { "valid" } else { "invalid" };
        write!(
            f,
            "{verdict} configuration: {}, {}",
            plural(self.errors.len() + self.omitted_errors, "error"),
            plural(self.warnings.len() + self.omitted_warnings, "warning")
        )?;
        for error in &self.errors {
            write!(f, "\n  error: {error}")?;
        }
        if self.omitted_errors > 0 {
            write!(f, "\n  ... and {}", more(self.omitted_errors, "error"))?;
        }
        for warning in &self.warnings {
            write!(f, "\n  warning: {warning}")?;
        }
        if self.omitted_warnings > 0 {
            write!(f, "\n  ... and {}", more(self.omitted_warnings, "warning"))?;
        }
        Ok(())
    }
}

/// Gathers findings as they are made, keeping the first [`MAX_DIAGNOSTICS`]
/// errors and warnings by position (byte offset; findings without one come
/// first) and then by arrival, and counting the rest. Each finding costs
/// `O(log MAX_DIAGNOSTICS)`; memory stays bounded however many there are.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    errors: Kept,
    warnings: Kept,
    /// Arrival number of the next finding: the tie-break between equal
    /// positions, so the order is that of a stable sort.
    next: usize,
}

impl Collector {
    /// Offers `diagnostic`, found at byte `offset` of the source.
    pub(crate) fn push(&mut self, offset: Option<usize>, diagnostic: Diagnostic) {
        let rank = (offset, self.next);
        self.next += 1;
        let kept = match diagnostic.severity {
            Severity::Error => &mut self.errors,
            Severity::Warning => &mut self.warnings,
        };
        kept.offer(Ranked { rank, diagnostic });
    }

    /// Whether a finding of `severity` at `offset`, offered now, would be
    /// kept: when not, the caller can count it with [`omit`](Self::omit)
    /// instead of building it.
    pub(crate) fn would_keep(&self, severity: Severity, offset: Option<usize>) -> bool {
        let kept = match severity {
            Severity::Error => &self.errors,
            Severity::Warning => &self.warnings,
        };
        kept.admits((offset, self.next))
    }

    /// Counts a finding of `severity` that [`would_keep`](Self::would_keep)
    /// said is not kept.
    pub(crate) fn omit(&mut self, severity: Severity) {
        self.next += 1;
        match severity {
            Severity::Error => self.errors.omitted += 1,
            Severity::Warning => self.warnings.omitted += 1,
        }
    }

    /// The kept findings in order, located in `source` (the text their
    /// offsets point into) if given.
    pub(crate) fn into_diagnostics(self, source: Option<&str>) -> Diagnostics {
        Diagnostics {
            omitted_errors: self.errors.omitted,
            omitted_warnings: self.warnings.omitted,
            errors: self.errors.into_sorted(source),
            warnings: self.warnings.into_sorted(source),
        }
    }
}

/// Position, then arrival number.
type Rank = (Option<usize>, usize);

/// The first [`MAX_DIAGNOSTICS`] findings of one severity by rank.
#[derive(Debug, Default)]
struct Kept {
    /// A max-heap, so the one to drop for a better finding is on top. At
    /// most `MAX_DIAGNOSTICS` long.
    heap: BinaryHeap<Ranked>,
    /// Findings offered and not kept, or dropped for better ones.
    omitted: usize,
}

impl Kept {
    fn admits(&self, rank: Rank) -> bool {
        self.heap.len() < MAX_DIAGNOSTICS || self.heap.peek().is_some_and(|worst| rank < worst.rank)
    }

    fn offer(&mut self, ranked: Ranked) {
        if !self.admits(ranked.rank) {
            self.omitted += 1;
            return;
        }
        if self.heap.len() == MAX_DIAGNOSTICS {
            self.heap.pop();
            self.omitted += 1;
        }
        self.heap.push(ranked);
        debug_assert!(self.heap.len() <= MAX_DIAGNOSTICS);
    }

    fn into_sorted(self, source: Option<&str>) -> Vec<Diagnostic> {
        // Ascending ranks: offsets only grow, so the sweep reads the source
        // once.
        let mut positions = source.map(Positions::new);
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(
                |Ranked {
                     rank,
                     mut diagnostic,
                 }| {
                    if let (None, Some(offset), Some(positions)) =
                        (diagnostic.location, rank.0, positions.as_mut())
                    {
                        diagnostic.location = Some(positions.locate(offset));
                    }
                    diagnostic
                },
            )
            .collect()
    }
}

/// A finding and its rank; ordered by rank alone.
#[derive(Debug)]
struct Ranked {
    rank: Rank,
    diagnostic: Diagnostic,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.rank == other.rank
    }
}

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank.cmp(&other.rank)
    }
}
