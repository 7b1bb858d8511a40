//! Events to bytes and back: the [`Codec`] trait and two serde codecs.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Turns events into message payloads and back.
///
/// The exporter writes the codec's [`name`](Codec::name) into each message's
/// `Veltrix` header; the importer sets aside a message written by another
/// codec (counted as undecodable) instead of misreading it.
///
/// # Examples
///
/// ```
/// use veltrix::bridge::{Codec, Json, Postcard};
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Move { player: u64, dx: i32 }
///
/// let mut bytes = Vec::new();
/// Postcard.encode(&Move { player: 7, dx: -1 }, &mut bytes)?;
/// assert_eq!(Codec::<Move>::decode(&Postcard, &bytes)?, Move { player: 7, dx: -1 });
/// assert!(Codec::<Move>::decode(&Json, b"{\"player\": 7}").is_err());
/// # Ok::<(), veltrix::bridge::CodecError>(())
/// ```
pub trait Codec<E>: Send + Sync + 'static {
    /// A short name for the format, e.g. `"json"`.
    fn name(&self) -> &'static str;

    /// Appends the bytes of `event` to `out`.
    ///
    /// # Errors
    ///
    /// When the event cannot be written in this format.
    fn encode(&self, event: &E, out: &mut Vec<u8>) -> Result<(), CodecError>;

    /// Reads an event back from `bytes`.
    ///
    /// # Errors
    ///
    /// When `bytes` are not an event of this format.
    fn decode(&self, bytes: &[u8]) -> Result<E, CodecError>;
}

/// Why an event could not be encoded or a payload decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{codec} could not {operation} the event: {reason}")]
pub struct CodecError {
    /// The codec's name.
    pub codec: &'static str,
    /// `"encode"` or `"decode"`.
    pub operation: &'static str,
    /// What the format library said.
    pub reason: String,
}

impl CodecError {
    /// An error of codec `codec` while it `operation`s ("encode" or
    /// "decode"), for `reason`.
    #[must_use]
    pub fn new(
        codec: &'static str,
        operation: &'static str,
        reason: impl std::fmt::Display,
    ) -> Self {
        CodecError {
            codec,
            operation,
            reason: reason.to_string(),
        }
    }
}

/// JSON (serde_json): readable on the wire, with `nats sub` or any tool.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl<E: Serialize + DeserializeOwned> Codec<E> for Json {
    fn name(&self) -> &'static str {
        "json"
    }

    fn encode(&self, event: &E, out: &mut Vec<u8>) -> Result<(), CodecError> {
        serde_json::to_writer(out, event).map_err(|e| CodecError::new("json", "encode", e))
    }

    fn decode(&self, bytes: &[u8]) -> Result<E, CodecError> {
        serde_json::from_slice(bytes).map_err(|e| CodecError::new("json", "decode", e))
    }
}

/// postcard: a compact binary format (varints, no field names), a few
/// bytes per small event.
#[derive(Debug, Clone, Copy, Default)]
pub struct Postcard;

impl<E: Serialize + DeserializeOwned> Codec<E> for Postcard {
    fn name(&self) -> &'static str {
        "postcard"
    }

    fn encode(&self, event: &E, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let bytes = postcard::to_extend(event, std::mem::take(out))
            .map_err(|e| CodecError::new("postcard", "encode", e))?;
        *out = bytes;
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<E, CodecError> {
        postcard::from_bytes(bytes).map_err(|e| CodecError::new("postcard", "decode", e))
    }
}
