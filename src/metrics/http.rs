//! A `/metrics` endpoint for Prometheus scrapers, on tiny_http (feature
//! `http`).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::MetricsHandle;

/// Threads answering requests: two scrapers (say Prometheus and a curl)
/// are served at once, and a slow client's connection never holds up the
/// others (tiny_http reads each connection on a thread of its own pool).
const ANSWERING_THREADS: usize = 2;

/// How long an answering thread waits for a request before it looks at the
/// stop flag again (and so the longest a [`MetricsServer::stop`] waits).
const STOP_POLL: Duration = Duration::from_millis(100);

/// The content type of the Prometheus text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves `GET /metrics`, the Prometheus text format of a fresh snapshot
/// (see [`MetricsSnapshot::to_prometheus`](super::MetricsSnapshot::to_prometheus)),
/// until it is stopped or dropped. Other paths get 404, other methods 405.
/// Built on tiny_http; serves concurrent scrapes.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use veltrix::metrics::MetricsServer;
/// use veltrix::{Engine, GroupOptions, TopicOptions};
///
/// let engine = Engine::builder()
///     .topic::<u32>("orders", TopicOptions::new(1))
///     .subscribe("billing", "orders", GroupOptions::poll(), |_| veltrix::listener::from_fn(|_: &u32, _| Ok(())))
///     .build()?;
/// // Port 0: any free port on 127.0.0.1.
/// let server = MetricsServer::loopback(0, engine.metrics_handle())?;
/// engine.topic::<u32>("orders")?.publish(7)?;
///
/// let mut scrape = std::net::TcpStream::connect(server.local_addr())?;
/// scrape.write_all(b"GET /metrics HTTP/1.0\r\n\r\n")?;
/// let mut response = String::new();
/// scrape.read_to_string(&mut response)?;
/// assert!(response.starts_with("HTTP/1.0 200"));
/// assert!(response.contains("veltrix_published_total{topic=\"orders\",partition=\"0\"} 1"));
/// server.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MetricsServer {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl MetricsServer {
    /// Serves on `127.0.0.1:port` (0 picks a free port; see
    /// [`local_addr`](Self::local_addr)): reachable from this machine only.
    ///
    /// # Errors
    ///
    /// If the port cannot be bound (in use, not permitted).
    pub fn loopback(port: u16, handle: MetricsHandle) -> io::Result<MetricsServer> {
        Self::from_listener(TcpListener::bind((Ipv4Addr::LOCALHOST, port))?, handle)
    }

    /// Serves on a listener the host bound itself: another address or
    /// interface than loopback, a socket handed over by a supervisor.
    ///
    /// # Errors
    ///
    /// If the listener's address cannot be read or a thread cannot start.
    pub fn from_listener(
        listener: TcpListener,
        handle: MetricsHandle,
    ) -> io::Result<MetricsServer> {
        let addr = listener.local_addr()?;
        let server = tiny_http::Server::from_listener(listener, None).map_err(io::Error::other)?;
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let mut running = MetricsServer {
            server,
            addr,
            stop,
            threads: Vec::with_capacity(ANSWERING_THREADS),
        };
        for i in 0..ANSWERING_THREADS {
            let (server, stop, handle) = (
                Arc::clone(&running.server),
                Arc::clone(&running.stop),
                handle.clone(),
            );
            let thread = std::thread::Builder::new()
                .name(format!("veltrix-metrics-{i}"))
                .spawn(move || answer_until_stopped(&server, &handle, &stop))?;
            running.threads.push(thread);
        }
        Ok(running)
    }

    /// The address it serves on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the answering threads (at most about
    /// 100 ms, plus a request being answered). Dropping it does the same.
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for _ in &self.threads {
            self.server.unblock();
        }
        for thread in self.threads.drain(..) {
            // A thread that panicked has nothing left to clean up.
            let _ = thread.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn answer_until_stopped(server: &tiny_http::Server, handle: &MetricsHandle, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match server.recv_timeout(STOP_POLL) {
            Ok(Some(request)) => answer(request, handle),
            Ok(None) => {}
            // The listener failed; nothing more will arrive.
            Err(_) => return,
        }
    }
}

fn answer(request: tiny_http::Request, handle: &MetricsHandle) {
    let path = request.url().split('?').next().unwrap_or_default();
    let (status, body) = match (request.method(), path) {
        (tiny_http::Method::Get, "/metrics") => (200, handle.snapshot().to_prometheus()),
        (_, "/metrics") => (405, "only GET /metrics is served\n".to_owned()),
        _ => (404, "only GET /metrics is served\n".to_owned()),
    };
    let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], CONTENT_TYPE.as_bytes())
        .expect("a valid constant header");
    let response = tiny_http::Response::from_string(body)
        .with_status_code(status)
        .with_header(header);
    // A client that went away gets no answer; the server goes on.
    let _ = request.respond(response);
}
