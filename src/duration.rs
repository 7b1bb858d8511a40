//! Durations as humans write them in configuration files: `"5ms"`, `"1s"`,
//! `"250us"`.
//!
//! The format is an unsigned integer followed by one unit — `ns`, `us` (or
//! `µs`), `ms`, `s`, `m`, `h` — with no space and no fraction. Formatting
//! picks the largest unit that states the value exactly, so `format` then
//! `parse` gives back the same `Duration`, to the nanosecond.
//!
//! Why not `humantime`: its `parse_duration` reads another, much larger
//! language, not this rule. It takes fractions (`"1.5s"`), a bare `"0"`,
//! sums (`"1s 500ms"`, `"1h30m"`), word units (`"5 min"`, `"2 hours"`),
//! days and weeks, and months and years that are averages (`"1M"` is
//! 30.44 days, `"1y"` 365.25): `"5M"` (five months) and `"5m"` (five
//! minutes) would differ by case alone, and a `block_timeout` has no
//! bound to catch the slip. Its errors are byte offsets ("expected number
//! at 0") that we would re-parse to give the fixes below, and its
//! `format_duration` prints sums (`"1m 30s"`), so the printer would stay
//! ours anyway. One integer and one unit keeps a single spelling per value,
//! the one the effective configuration prints; fifty lines do not justify
//! a second language.
//!
//! Used by the `Serialize` derives of the option types (feature `serde`),
//! by the [`config`](crate::config) reader and by the builder's messages;
//! it knows nothing of any of them.

// Parsing serves files only (feature `serde`); formatting also serves the
// builder's error messages.
#![cfg_attr(not(feature = "serde"), allow(dead_code))]

use std::fmt;
use std::time::Duration;

/// The units, largest first, with their length in nanoseconds.
const UNITS: [(&str, u128); 6] = [
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// Why a duration string was not understood. The message says what a valid
/// one looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DurationError {
    pub(crate) reason: String,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Parses `"5ms"`, `"1s"`, `"250us"`, `"0s"`.
pub(crate) fn parse(text: &str) -> Result<Duration, DurationError> {
    let fail = |why: &str| {
        Err(DurationError {
            reason: format!(
                "{why}; write an integer and a unit (ns, us, ms, s, m, h), e.g. \"5ms\" or \"1s\""
            ),
        })
    };
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return fail("no number before the unit");
    }
    let unit = if unit == "µs" { "us" } else { unit };
    if unit.is_empty() {
        return fail("no unit after the number");
    }
    if unit.starts_with('.') {
        // Units ending in "s" come before "s" in reverse order.
        let whole = UNITS
            .iter()
            .rev()
            .map(|(u, _)| *u)
            .find(|u| text.ends_with(u));
        return match whole {
            Some(u) => fail(&format!(
                "fractions are not supported; use a smaller unit than {u} (e.g. \"1500ms\" for 1.5s)"
            )),
            None => fail("fractions are not supported"),
        };
    }
    let Some(&(_, nanos_per_unit)) = UNITS.iter().find(|(u, _)| *u == unit) else {
        return fail(&format!("unknown unit \"{unit}\""));
    };
    let Ok(count) = digits.parse::<u128>() else {
        return fail("the number is too large");
    };
    let nanos = count.saturating_mul(nanos_per_unit);
    let secs = nanos / 1_000_000_000;
    let Ok(secs) = u64::try_from(secs) else {
        return fail("the duration is too long");
    };
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// Formats with the largest unit that is exact: 1 s → `"1s"`, 1.5 s →
/// `"1500ms"`, zero → `"0s"`.
pub(crate) fn format(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    let (unit, per) = UNITS
        .iter()
        .find(|(_, per)| nanos % per == 0)
        .copied()
        .unwrap_or(("ns", 1));
    format!("{}{unit}", nanos / per)
}

/// `#[serde(serialize_with = "crate::duration::serde_str::serialize")]`: a
/// `Duration` as a `"5ms"` string. (Reading one back is the config
/// reader's: it parses with [`parse`](super::parse) and reports what it
/// cannot read with the rest.)
#[cfg(feature = "serde")]
pub(crate) mod serde_str {
    use std::time::Duration;

    use serde::Serializer;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(*d))
    }

    /// An optional duration as a string, `None` as `"off"`.
    pub(crate) fn serialize_or_off<S: Serializer>(
        d: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&super::format(*d)),
            None => s.serialize_str("off"),
        }
    }

    /// A list of durations as a list of strings: `["1us", "5ms"]`.
    pub(crate) fn serialize_list<S: Serializer>(
        list: &[Duration],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(list.iter().map(|d| super::format(*d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse("5ms"), Ok(Duration::from_millis(5)));
        assert_eq!(parse("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("250µs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_with_a_fix() {
        for bad in [
            "",
            "5",
            "ms",
            "5 ms",
            "5sec",
            "1.5s",
            "-1s",
            "99999999999999999999999h",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.reason.contains("e.g. \"5ms\""), "{bad}: {err}");
        }
        assert!(parse("1.5s").unwrap_err().reason.contains("1500ms"));
    }

    #[test]
    fn format_round_trips() {
        for d in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_micros(1500),
            Duration::from_millis(1000),
            Duration::from_secs(90),
            Duration::from_secs(7200),
            Duration::new(u64::MAX, 999_999_999),
        ] {
            assert_eq!(parse(&format(d)), Ok(d), "{}", format(d));
        }
        assert_eq!(format(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format(Duration::from_secs(60)), "1m");
    }
}
