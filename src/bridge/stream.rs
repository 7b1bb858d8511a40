//! The JetStream stream a bridged topic lives in: its settings, the subject
//! layout, and the check (or creation) at start.

use std::time::Duration;

use async_nats::jetstream::stream::{Config, RetentionPolicy, StorageType};
use async_nats::jetstream::Context;

use super::error::BridgeError;

/// How the stream keeps messages (JetStream's retention policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Retention {
    /// Kept until a limit (age, count, bytes) removes them; every durable
    /// consumer reads them all. The default.
    #[default]
    Limits,
    /// Kept while a consumer has not acknowledged them.
    Interest,
    /// Removed once acknowledged by their one consumer.
    WorkQueue,
}

/// Where the stream keeps messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Storage {
    /// On disk, surviving a server restart. The default.
    #[default]
    File,
    /// In memory.
    Memory,
}

/// The stream behind a bridged topic. Partition `p` of the topic is subject
/// `<subject_prefix>.<p>`; the stream holds `<subject_prefix>.*`.
///
/// Both sides (export and import) take the same spec: each creates the
/// stream if it is missing and otherwise checks that it has these settings,
/// with [`BridgeError::StreamMismatch`] naming the first that differs.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use veltrix::bridge::StreamSpec;
///
/// let spec = StreamSpec::new("INPUT", "game.input")
///     .max_age(Duration::from_secs(3600))
///     .duplicate_window(Duration::from_secs(300));
/// assert_eq!(spec.subject(3), "game.input.3");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    name: String,
    prefix: String,
    retention: Retention,
    storage: Storage,
    max_age: Duration,
    replicas: usize,
    duplicate_window: Duration,
}

impl StreamSpec {
    /// A stream named `name` holding subjects `<subject_prefix>.*`: limits
    /// retention, file storage, no age limit, one replica, a two-minute
    /// duplicate window (JetStream's defaults).
    #[must_use]
    pub fn new(name: &str, subject_prefix: &str) -> Self {
        StreamSpec {
            name: name.to_owned(),
            prefix: subject_prefix.to_owned(),
            retention: Retention::Limits,
            storage: Storage::File,
            max_age: Duration::ZERO,
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
        }
    }

    /// Sets the retention policy.
    #[must_use]
    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// Sets the storage.
    #[must_use]
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// Sets the age after which messages are removed (zero: never).
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Sets the number of replicas (1 on a single server; up to 5 in a
    /// cluster).
    #[must_use]
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas;
        self
    }

    /// Sets how long JetStream remembers message ids to drop re-sent
    /// copies: it must cover the longest outage an export rides out.
    #[must_use]
    pub fn duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }

    /// The stream's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The number of replicas.
    pub(crate) fn replicas_count(&self) -> usize {
        self.replicas
    }

    /// The subject prefix.
    #[must_use]
    pub fn subject_prefix(&self) -> &str {
        &self.prefix
    }

    /// The subject of partition `partition`.
    #[must_use]
    pub fn subject(&self, partition: u32) -> String {
        format!("{}.{partition}", self.prefix)
    }

    /// The stream's subject filter, `<prefix>.*`.
    fn subjects(&self) -> String {
        format!("{}.*", self.prefix)
    }

    /// Checks the names and numbers before anything is sent.
    pub(crate) fn validate(&self) -> Result<(), BridgeError> {
        let bad_name = |c: char| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\');
        if self.name.is_empty() || self.name.chars().any(bad_name) {
            return Err(BridgeError::InvalidName {
                what: "stream name",
                value: self.name.clone(),
                rule: "a stream name is non-empty, without whitespace, '.', '*', '>', '/' or '\\' (e.g. \"GAME_INPUT\")",
            });
        }
        let bad_token =
            |t: &str| t.is_empty() || t.chars().any(|c| c.is_whitespace() || c == '*' || c == '>');
        if self.prefix.is_empty() || self.prefix.split('.').any(bad_token) {
            return Err(BridgeError::InvalidName {
                what: "subject prefix",
                value: self.prefix.clone(),
                rule: "a subject prefix is dot-separated non-empty tokens without whitespace or wildcards (e.g. \"game.input\")",
            });
        }
        if !(1..=5).contains(&self.replicas) {
            return Err(BridgeError::InvalidName {
                what: "replica count",
                value: self.replicas.to_string(),
                rule: "JetStream keeps 1 to 5 replicas of a stream",
            });
        }
        Ok(())
    }

    fn config(&self) -> Config {
        Config {
            name: self.name.clone(),
            subjects: vec![self.subjects()],
            retention: match self.retention {
                Retention::Limits => RetentionPolicy::Limits,
                Retention::Interest => RetentionPolicy::Interest,
                Retention::WorkQueue => RetentionPolicy::WorkQueue,
            },
            storage: match self.storage {
                Storage::File => StorageType::File,
                Storage::Memory => StorageType::Memory,
            },
            max_age: self.max_age,
            num_replicas: self.replicas,
            duplicate_window: self.duplicate_window,
            ..Config::default()
        }
    }

    /// The first setting of `found` that differs from this spec.
    fn mismatch(&self, found: &Config) -> Option<BridgeError> {
        let want = self.config();
        let differs = |setting: &'static str, expected: String, found: String| {
            (expected != found).then(|| BridgeError::StreamMismatch {
                stream: self.name.clone(),
                setting,
                expected,
                found,
            })
        };
        let subjects = if found.subjects.contains(&want.subjects[0]) {
            None
        } else {
            Some(BridgeError::StreamMismatch {
                stream: self.name.clone(),
                setting: "subjects",
                expected: format!("a list holding {:?}", want.subjects[0]),
                found: format!("{:?}", found.subjects),
            })
        };
        subjects
            .or_else(|| {
                differs(
                    "retention",
                    format!("{:?}", want.retention),
                    format!("{:?}", found.retention),
                )
            })
            .or_else(|| {
                differs(
                    "storage",
                    format!("{:?}", want.storage),
                    format!("{:?}", found.storage),
                )
            })
            .or_else(|| {
                differs(
                    "max_age",
                    format!("{:?}", want.max_age),
                    format!("{:?}", found.max_age),
                )
            })
            .or_else(|| {
                differs(
                    "replicas",
                    want.num_replicas.to_string(),
                    found.num_replicas.to_string(),
                )
            })
            .or_else(|| {
                differs(
                    "duplicate_window",
                    format!("{:?}", want.duplicate_window),
                    format!("{:?}", found.duplicate_window),
                )
            })
    }

    /// Creates the stream, or checks the one that exists.
    pub(crate) async fn ensure(&self, js: &Context) -> Result<(), BridgeError> {
        self.validate()?;
        match js.get_stream(&self.name).await {
            Ok(mut stream) => {
                let info = stream
                    .info()
                    .await
                    .map_err(|e| BridgeError::jetstream("stream info", e))?;
                match self.mismatch(&info.config) {
                    Some(error) => Err(error),
                    None => Ok(()),
                }
            }
            Err(error) if is_not_found(&error) => js
                .create_stream(self.config())
                .await
                .map(|_| ())
                .map_err(|e| BridgeError::jetstream("stream create", e)),
            Err(error) => Err(BridgeError::jetstream("stream lookup", error)),
        }
    }
}

/// Whether a stream lookup failed because the stream does not exist.
/// The highest partition of `spec`'s subjects that holds messages in
/// `stream` (`(partition, messages)`), if any does; subjects whose last
/// token is not a partition number are not the bridge's and are left out.
pub(crate) async fn highest_partition_in_use(
    spec: &StreamSpec,
    stream: &async_nats::jetstream::stream::Stream,
) -> Result<Option<(u32, usize)>, BridgeError> {
    use futures_util::TryStreamExt;
    let mut subjects = stream
        .info_with_subjects(spec.subjects())
        .await
        .map_err(|e| BridgeError::jetstream("stream subjects", e))?;
    let mut highest: Option<(u32, usize)> = None;
    while let Some((subject, messages)) = subjects
        .try_next()
        .await
        .map_err(|e| BridgeError::jetstream("stream subjects", e))?
    {
        let partition = subject
            .strip_prefix(spec.subject_prefix())
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(partition) = partition {
            if messages > 0 && highest.is_none_or(|(h, _)| partition > h) {
                highest = Some((partition, messages));
            }
        }
    }
    Ok(highest)
}

fn is_not_found(error: &async_nats::jetstream::context::GetStreamError) -> bool {
    use async_nats::jetstream::context::GetStreamErrorKind;
    use async_nats::jetstream::ErrorCode;
    matches!(error.kind(), GetStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_anything_is_sent() {
        assert!(StreamSpec::new("GAME", "game.input").validate().is_ok());
        for (name, prefix) in [
            ("a.b", "x"),
            ("", "x"),
            ("a b", "x"),
            ("A", "x.*"),
            ("A", ""),
            ("A", "x..y"),
        ] {
            let error = StreamSpec::new(name, prefix).validate().unwrap_err();
            assert!(
                matches!(error, BridgeError::InvalidName { .. }),
                "{name:?} {prefix:?}: {error}"
            );
        }
        assert!(StreamSpec::new("A", "x").replicas(0).validate().is_err());
    }

    #[test]
    fn a_differing_setting_is_named() {
        let spec = StreamSpec::new("GAME", "game.input");
        let mut found = spec.config();
        assert!(spec.mismatch(&found).is_none());
        found.duplicate_window = Duration::from_secs(1);
        let error = spec.mismatch(&found).unwrap();
        assert!(
            matches!(
                error,
                BridgeError::StreamMismatch {
                    setting: "duplicate_window",
                    ..
                }
            ),
            "{error}"
        );
        found.subjects = vec!["other.*".into()];
        let text = spec.mismatch(&found).unwrap().to_string();
        assert!(
            text.contains("subjects") && text.contains("game.input.*"),
            "{text}"
        );
    }
}
