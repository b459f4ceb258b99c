//! A throwaway HAProxy load balancer for the load-balancer tests: round-robin over N backends with
//! cookie-sticky sessions, as a production Socket.IO deployment runs it.
//!
//! `balance roundrobin` alone sends consecutive requests to alternating nodes, so a client that
//! drops cookies lands its second polling request on a node that does not know the session (400
//! "Session ID unknown"). `cookie SERVERID insert indirect nocache` sets `SERVERID` on the first
//! response and routes every request that carries it back to the same node.

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long HAProxy gets to listen on its front port.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How many free ports are tried: another process may grab the probed port before HAProxy binds it.
const START_ATTEMPTS: usize = 5;

/// `haproxy -db` (foreground) in front of local backends; killed, and its config removed, on drop.
#[derive(Debug)]
pub struct Haproxy {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Haproxy {
    /// Starts HAProxy on a free loopback port, balancing round-robin over `backends` (ports on
    /// 127.0.0.1, servers named `n0`, `n1`, ... with the same cookie values) with
    /// `cookie SERVERID insert indirect nocache`, and waits until it accepts connections.
    ///
    /// Calls [`crate::ensure_deps`] first, so a missing `haproxy` is installed (or the test fails
    /// with a clear message).
    ///
    /// # Panics
    /// When `haproxy` cannot be run, exits at startup (its log is in the message) or does not
    /// listen in time.
    pub fn sticky(backends: &[u16]) -> Haproxy {
        Haproxy::start(backends, true)
    }

    /// Like [`Haproxy::sticky`] but with no cookie and no stickiness of any kind: plain
    /// `balance roundrobin`, every request to the next backend (the cluster engine's setup).
    ///
    /// # Panics
    /// As [`Haproxy::sticky`].
    pub fn round_robin(backends: &[u16]) -> Haproxy {
        Haproxy::start(backends, false)
    }

    fn start(backends: &[u16], sticky: bool) -> Haproxy {
        crate::ensure_deps();
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            match Haproxy::try_start(backends, sticky) {
                Ok(haproxy) => return haproxy,
                Err(e) => last_error = e,
            }
        }
        panic!("haproxy could not be started (scripts/install-deps.sh installs it): {last_error}");
    }

    /// The front port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The front URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn try_start(backends: &[u16], sticky: bool) -> Result<Haproxy, String> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!(
            "protocol-tests-haproxy-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let config = dir.join("haproxy.cfg");
        std::fs::write(&config, config_text(port, backends, sticky))
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        // HAProxy's own messages go to a file (not the test's terminal) and into the panic message.
        let log = dir.join("haproxy.log");
        let stderr =
            File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let spawned = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!("cannot run haproxy: {e}"));
            }
        };
        // From here on, dropping the handle kills the process and removes the directory.
        let mut haproxy = Haproxy { child, port, dir };
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = haproxy.child.try_wait() {
                let output = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("haproxy exited at startup ({status}): {output}"));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "haproxy did not listen on {port} within {START_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(haproxy)
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The HAProxy configuration: front `127.0.0.1:<port>`, round robin over `backends`, sessions
/// pinned by the `SERVERID` cookie when `sticky`.
fn config_text(port: u16, backends: &[u16], sticky: bool) -> String {
    // `timeout tunnel` applies to WebSocket connections after the HTTP upgrade; Engine.IO pings
    // every 25 s by default, so 60 s of silence means the peer is gone.
    let mut config = format!(
        "global
    maxconn 512

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 60s

frontend socketio
    bind 127.0.0.1:{port}
    default_backend nodes

backend nodes
    balance roundrobin
"
    );
    if sticky {
        config.push_str("    cookie SERVERID insert indirect nocache\n");
    }
    for (i, backend) in backends.iter().enumerate() {
        let cookie = if sticky {
            format!(" cookie n{i}")
        } else {
            String::new()
        };
        config.push_str(&format!("    server n{i} 127.0.0.1:{backend}{cookie}\n"));
    }
    config
}

/// A port the OS reports free right now; HAProxy binds it right after (a small race that
/// [`Haproxy::sticky`] covers by retrying).
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}
