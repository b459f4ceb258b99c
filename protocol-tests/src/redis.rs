//! A throwaway `redis-server` for the cluster tests: started on a free loopback port with no
//! persistence, killed when the handle drops, and able to stop and start again on the same port
//! (the fault tests kill Redis mid-run and expect the nodes to reconnect to the same address).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long `redis-server` gets to answer its first `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A `redis-server` child process listening on `127.0.0.1:<port>`.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts `redis-server` on a free port and waits until it answers `PING`.
    ///
    /// Calls [`crate::deps::ensure_deps`] first, so a missing `redis-server` is installed (or the
    /// test fails with a clear message).
    ///
    /// # Panics
    /// When `redis-server` cannot be started or does not answer in time.
    pub fn start() -> RedisServer {
        crate::deps::ensure_deps();
        // Another process may grab the free port between our probe and redis-server's bind: retry
        // with a new port a few times before giving up.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut server = RedisServer { port, child: None };
            match server.try_spawn() {
                Ok(()) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("redis-server could not be started: {last_error}");
    }

    /// The port Redis listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The connection URL, `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Whether the server process is currently running (not stopped by [`RedisServer::stop`]).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server (SIGKILL: like a crash, connected clients see their sockets reset).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port after [`RedisServer::stop`] (all data and
    /// subscriptions are gone, as after a real crash).
    ///
    /// # Panics
    /// When the server does not come back within the start timeout.
    pub fn restart(&mut self) {
        self.stop();
        // The port was just released by the killed process; binding it again can fail for a
        // moment, so retry until the start timeout.
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.try_spawn() {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => {
                    panic!(
                        "redis-server could not be restarted on port {}: {e}",
                        self.port
                    )
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Runs one command with the given arguments on a fresh connection and returns the raw RESP
    /// reply (for assertions such as `PUBSUB NUMSUB`).
    ///
    /// # Panics
    /// When Redis cannot be reached.
    pub fn command(&self, args: &[&str]) -> String {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))
            .unwrap_or_else(|e| panic!("cannot connect to redis on {}: {e}", self.port));
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream
            .write_all(request.as_bytes())
            .unwrap_or_else(|e| panic!("cannot write to redis: {e}"));
        let mut reply = Vec::new();
        let mut buf = [0u8; 4096];
        // Replies of the commands the tests use are small and come in one read; a short second
        // read catches a split reply.
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&buf[..n]);
            let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
        }
        String::from_utf8_lossy(&reply).into_owned()
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        let port = self.port.to_string();
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run redis-server: {e}"))?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("redis-server exited with {status}"));
            }
            if ping(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err("redis-server did not answer PING in time".to_owned());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a Redis server on `port` answers `PING` with `+PONG`.
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free port: {e}"))
}

/// A Node fixture that talks JSON lines: commands on its stdin, events and replies on its stdout
/// (`redis-node-server.js`, `redis-clients.js`). Every stdout line is kept so a test can wait for
/// the one it expects; the process is killed on drop.
#[derive(Debug)]
pub struct JsonNode {
    name: String,
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<serde_json::Value>,
    seen: Vec<serde_json::Value>,
    port: u16,
    next_id: u64,
}

impl JsonNode {
    /// Runs `node <script> <args…>` in `protocol-tests/js` and waits up to 20 s for
    /// `listening <port>`.
    ///
    /// # Panics
    /// When the script cannot start or does not announce itself in time.
    pub fn spawn(script: &str, args: &[&str]) -> JsonNode {
        use std::io::BufRead;
        crate::deps::ensure_deps();
        let mut child = Command::new("node")
            .arg(script)
            .args(args)
            .current_dir(crate::deps::js_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node {script}: {e}"));
        let stdout = child.stdout.take().expect_stdout(script);
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (tx, lines) = std::sync::mpsc::channel();
        let label = script.to_owned();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(port) = line.trim().strip_prefix("listening ") {
                    let _ = port_tx.send(port.trim().parse::<u16>().unwrap_or(0));
                    continue;
                }
                match serde_json::from_str(&line) {
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                    Err(_) => eprintln!("[{label}] {line}"),
                }
            }
        });
        let port = match port_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                panic!("node {script} did not print `listening <port>` in time");
            }
        };
        JsonNode {
            name: script.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
            port,
            next_id: 0,
        }
    }

    /// The port announced by the script.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends a command (an `id` is added) and waits up to `timeout` for its reply; returns the
    /// reply object (`{"reply", "result"}` or `{"reply", "error"}`).
    ///
    /// # Panics
    /// When no reply comes in time.
    pub fn command(
        &mut self,
        mut command: serde_json::Value,
        timeout: Duration,
    ) -> serde_json::Value {
        self.next_id += 1;
        let id = self.next_id;
        command["id"] = serde_json::Value::from(id);
        let line = format!("{command}\n");
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(line.as_bytes());
            let _ = stdin.flush();
        }
        self.wait_for(timeout, |v| v["reply"] == id)
            .unwrap_or_else(|| panic!("{}: no reply to {command} within {timeout:?}", self.name))
    }

    /// Waits up to `timeout` for a line matching `pred` (lines seen before count too; a matching
    /// line is consumed).
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        if let Some(i) = self.seen.iter().position(&pred) {
            return Some(self.seen.remove(i));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if pred(&v) => return Some(v),
                Ok(v) => self.seen.push(v),
                Err(_) => return None,
            }
        }
    }

    /// Collects every line that arrives within `window` (plus the unconsumed ones seen before).
    pub fn drain(&mut self, window: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + window;
        let mut all = std::mem::take(&mut self.seen);
        while let Ok(v) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            all.push(v);
        }
        all
    }

    /// The process id (e.g. to pause it with `kill -STOP`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`"STOP"`, `"CONT"`, `"KILL"`…) with the `kill` command.
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status();
    }

    /// Kills the process now (the fault tests kill a node mid-request).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for JsonNode {
    fn drop(&mut self) {
        self.stdin.take();
        self.kill();
    }
}

trait ExpectStdout<T> {
    fn expect_stdout(self, script: &str) -> T;
}

impl<T> ExpectStdout<T> for Option<T> {
    fn expect_stdout(self, script: &str) -> T {
        self.unwrap_or_else(|| panic!("node {script}: no stdout pipe"))
    }
}
