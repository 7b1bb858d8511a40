//! What can go wrong between a topic and JetStream, each with what was wrong
//! and what would be right.

use std::time::Duration;

/// An error of the NATS bridge: connecting, checking the stream, starting an
/// export or an import.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// No connection within the connect deadline.
    #[error(
        "NATS server at {url} unreachable: {attempts} attempts in {waited:?} failed, the last with: {last_error} \
         (is nats-server running with JetStream, `nats-server -js`? raise `NatsOptions::connect_deadline` to wait longer)"
    )]
    Unreachable {
        /// The server address tried.
        url: String,
        /// How many connection attempts were made.
        attempts: u32,
        /// How long they took in all.
        waited: Duration,
        /// What the last attempt said.
        last_error: String,
    },
    /// A name or subject the bridge cannot use.
    #[error("invalid {what} {value:?}: {rule}")]
    InvalidName {
        /// What the name is for ("stream name", "subject prefix", ...).
        what: &'static str,
        /// The name given.
        value: String,
        /// The rule it breaks, and what would be right.
        rule: &'static str,
    },
    /// The stream exists with a setting that differs from the bridge's
    /// [`StreamSpec`](super::StreamSpec).
    #[error(
        "stream {stream:?} exists with {setting} = {found}, but the bridge needs {expected} \
         (change the StreamSpec to match, or update the stream: `nats stream edit {stream}`)"
    )]
    StreamMismatch {
        /// The stream's name.
        stream: String,
        /// The setting that differs (`subjects`, `retention`, `max_age`,
        /// `replicas`, `duplicate_window`, `storage`).
        setting: &'static str,
        /// What the bridge's spec asks for.
        expected: String,
        /// What the stream has.
        found: String,
    },
    /// A durable consumer of the import exists with a different filter or
    /// ack policy.
    #[error(
        "consumer {consumer:?} of stream {stream:?} exists with {setting} = {found}, but the import needs {expected} \
         (choose another `ImportOptions::durable` name, or delete the consumer)"
    )]
    ConsumerMismatch {
        /// The stream's name.
        stream: String,
        /// The durable consumer's name.
        consumer: String,
        /// The setting that differs.
        setting: &'static str,
        /// What the import needs.
        expected: String,
        /// What the consumer has.
        found: String,
    },
    /// The local topic and the bridge disagree.
    #[error("topic {topic:?}: {problem}")]
    Topic {
        /// The topic's name.
        topic: String,
        /// What is wrong, and what would be right.
        problem: String,
    },
    /// A JetStream request failed.
    #[error("JetStream {operation} failed: {reason}")]
    JetStream {
        /// What the bridge asked for.
        operation: &'static str,
        /// What the server or the client said.
        reason: String,
    },
    /// The bridge's runtime could not start.
    #[error("could not start the bridge's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl BridgeError {
    pub(crate) fn jetstream(operation: &'static str, reason: impl std::fmt::Display) -> Self {
        BridgeError::JetStream {
            operation,
            reason: reason.to_string(),
        }
    }
}
