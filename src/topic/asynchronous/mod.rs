//! Publishing from async tasks: the futures of `publish_async` and
//! `publish_batch_async`, which wait for room by registering a [`Waker`]
//! on the full ring's gate instead of blocking the thread (see
//! [`veltrix::future`](crate::future) for the whole picture).
//!
//! [`publish`] holds the one-event futures, [`batch`] the batch future,
//! [`wait`] the wait for room they share.
//!
//! [`Waker`]: std::task::Waker

mod batch;
mod publish;
mod wait;

pub use batch::PublishBatch;
pub use publish::{ProducerPublish, Publish};

/// Attempts one poll makes while room keeps appearing and vanishing again
/// (other producers taking it) before it yields to the executor.
const ATTEMPTS_PER_POLL: usize = 64;
