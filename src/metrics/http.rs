//! A minimal `/metrics` endpoint for Prometheus scrapers, on std only.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::MetricsHandle;

/// Serves `GET /metrics` (the Prometheus text format of a fresh snapshot) on
/// `listener`, one connection at a time, until `stop` is set. Other paths
/// get 404. Meant for a scraper every few seconds, not for heavy traffic.
///
/// # Errors
///
/// An error of the listener itself (accept failures other than "would
/// block"); errors of single connections are ignored.
///
/// # Examples
///
/// ```no_run
/// use std::net::TcpListener;
/// use std::sync::atomic::AtomicBool;
/// # fn engine() -> veltrix::Engine { unimplemented!() }
/// let engine = engine();
/// let handle = engine.metrics_handle();
/// let stop = AtomicBool::new(false);
/// let listener = TcpListener::bind("127.0.0.1:9898")?;
/// veltrix::metrics::serve_prometheus(listener, &handle, &stop)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn serve_prometheus(
    listener: TcpListener,
    handle: &MetricsHandle,
    stop: &AtomicBool,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = answer(stream, handle);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn answer(mut stream: TcpStream, handle: &MetricsHandle) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut request = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let line = request.split(|&b| b == b'\r').next().unwrap_or_default();
    let (status, body) = if line.starts_with(b"GET /metrics ") || line == b"GET /metrics" {
        ("200 OK", handle.snapshot().to_prometheus())
    } else {
        ("404 Not Found", "only GET /metrics is served\n".to_owned())
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(header.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}
