//! One connection to a NATS server with JetStream, and the small runtime
//! that drives it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, Context};
use async_nats::Client;
use tokio::runtime::{Handle, Runtime};

use super::error::BridgeError;
use crate::Backoff;

/// The client's bound on unacknowledged publishes, far above what the
/// export windows hold together (the semaphore's own limit is higher).
const MAX_ACK_PERMITS: usize = 1 << 24;

/// How to reach the server.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use veltrix::bridge::NatsOptions;
///
/// let options = NatsOptions::new("nats://127.0.0.1:4222")
///     .connect_deadline(Duration::from_secs(30))
///     .ack_timeout(Duration::from_secs(2));
/// assert_eq!(options.url(), "nats://127.0.0.1:4222");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsOptions {
    url: String,
    connect_deadline: Duration,
    backoff: Backoff,
    ack_timeout: Duration,
    name: String,
}

impl NatsOptions {
    /// A connection to `url` (`nats://host:port`, or `host:port`): wait up to
    /// 10 s for the server at start, retrying with a backoff from 50 ms to
    /// 1 s; give a publish 5 s to be acknowledged.
    #[must_use]
    pub fn new(url: &str) -> Self {
        NatsOptions {
            url: url.to_owned(),
            connect_deadline: Duration::from_secs(10),
            backoff: Backoff::doubling(Duration::from_millis(50), Duration::from_secs(1)),
            ack_timeout: Duration::from_secs(5),
            name: "veltrix".to_owned(),
        }
    }

    /// How long [`Nats::connect`] keeps trying before it gives up with
    /// [`BridgeError::Unreachable`].
    #[must_use]
    pub fn connect_deadline(mut self, deadline: Duration) -> Self {
        self.connect_deadline = deadline;
        self
    }

    /// The waits between connection attempts at start, and between
    /// reconnection attempts after the server went away.
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How long a publish waits for its acknowledgement before the export
    /// sends it again.
    #[must_use]
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }

    /// The connection's name, as the server's monitoring shows it.
    #[must_use]
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// The server address.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A connection to a NATS server with JetStream: what exports and imports
/// run on. Cheap to clone.
///
/// It owns a small tokio runtime (one thread, `veltrix-nats`) that drives
/// the connection and the imports, so a host without tokio needs none; the
/// client reconnects by itself when the server goes away and comes back.
#[derive(Clone)]
pub struct Nats {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) runtime: Runtime,
    pub(crate) client: Client,
    pub(crate) js: Context,
    pub(crate) options: NatsOptions,
}

impl fmt::Debug for Nats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nats")
            .field("url", &self.shared.options.url)
            .finish_non_exhaustive()
    }
}

impl Nats {
    /// Connects, retrying with the options' backoff until the connect
    /// deadline.
    ///
    /// # Errors
    ///
    /// [`BridgeError::Unreachable`] when no attempt succeeded within the
    /// deadline, with the last attempt's error; [`BridgeError::Runtime`] if
    /// the runtime thread could not start.
    pub fn connect(options: NatsOptions) -> Result<Nats, BridgeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("veltrix-nats")
            .enable_all()
            .build()
            .map_err(BridgeError::Runtime)?;
        let client = runtime.block_on(connect_with_retries(&options))?;
        // The context starts a task of its own: inside the runtime.
        let js = {
            let _inside = runtime.enter();
            jetstream::ContextBuilder::new()
                .timeout(options.ack_timeout)
                // Each export worker bounds its own window
                // (`ExportOptions::max_in_flight`) and sends it whole before
                // it awaits the acknowledgements: a shared bound below the
                // sum of the windows would let two workers wait for each
                // other's permits.
                .max_ack_inflight(MAX_ACK_PERMITS)
                .build(client.clone())
        };
        Ok(Nats {
            shared: Arc::new(Shared {
                runtime,
                client,
                js,
                options,
            }),
        })
    }

    /// The options it was made with.
    #[must_use]
    pub fn options(&self) -> &NatsOptions {
        &self.shared.options
    }

    /// The largest message the server accepts, in bytes (headers and
    /// payload).
    #[must_use]
    pub fn max_payload(&self) -> usize {
        self.shared.client.server_info().max_payload
    }

    /// The underlying async-nats client, for anything else the host wants
    /// to do on the same connection.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    pub(crate) fn handle(&self) -> &Handle {
        self.shared.runtime.handle()
    }
}

async fn connect_with_retries(options: &NatsOptions) -> Result<Client, BridgeError> {
    let start = Instant::now();
    let deadline = start + options.connect_deadline;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        let backoff = options.backoff;
        let attempt = async_nats::ConnectOptions::new()
            .name(&options.name)
            .connection_timeout(left.clamp(Duration::from_millis(100), Duration::from_secs(2)))
            .max_reconnects(None)
            .reconnect_delay_callback(move |attempt| backoff.delay(attempt as u32))
            .connect(options.url.as_str())
            .await;
        match attempt {
            Ok(client) => return Ok(client),
            Err(error) => {
                let now = Instant::now();
                let wait = options.backoff.delay(attempts);
                if now + wait >= deadline {
                    return Err(BridgeError::Unreachable {
                        url: options.url.clone(),
                        attempts,
                        waited: now - start,
                        last_error: error.to_string(),
                    });
                }
                tokio::time::sleep(wait).await;
            }
        }
    }
}
