//! A server process started by a test: it prints `listening <port>` on stdout once it accepts
//! connections, its stderr is forwarded (prefixed) to the test's stderr, and it is killed when the
//! handle is dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// How many stderr lines are kept for the panic message of a process that failed to start.
const STDERR_TAIL: usize = 100;

/// A running child process that announced `listening <port>`.
#[derive(Debug)]
pub struct ServerProcess {
    name: String,
    child: Child,
    port: u16,
    stdout: Receiver<String>,
    stderr_tail: Arc<Mutex<Vec<String>>>,
    /// Every stderr line that reports a panic (`panicked at`), kept for the whole life.
    panics: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts `command` and waits up to `timeout` for a stdout line `listening <port>`.
    ///
    /// Stdin is a pipe that stays open for the life of the handle: a fixture can exit when its
    /// stdin ends, so it does not outlive a test process that was killed.
    ///
    /// # Panics
    /// When the process cannot start, exits, or does not announce its port in time (its stderr
    /// is in the message).
    pub fn spawn(name: &str, mut command: Command, timeout: Duration) -> ServerProcess {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start {command:?}: {e}"));
        let (tx, stdout) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        let panics = Arc::new(Mutex::new(Vec::new()));
        if let Some(err) = child.stderr.take() {
            let tail = Arc::clone(&stderr_tail);
            let panic_lines = Arc::clone(&panics);
            let prefix = name.to_owned();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    eprintln!("[{prefix}] {line}");
                    if line.contains("panicked") {
                        panic_lines.lock().push(line.clone());
                    }
                    let mut tail = tail.lock();
                    if tail.len() >= STDERR_TAIL {
                        tail.remove(0);
                    }
                    tail.push(line);
                }
            });
        }
        let mut process = ServerProcess {
            name: name.to_owned(),
            child,
            port: 0,
            stdout,
            stderr_tail,
            panics,
        };
        process.port = process.wait_for_port(timeout);
        process
    }

    fn wait_for_port(&mut self, timeout: Duration) -> u16 {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    if let Some(port) = line
                        .trim()
                        .strip_prefix("listening ")
                        .and_then(|p| p.trim().parse::<u16>().ok())
                    {
                        return port;
                    }
                    eprintln!("[{}] {line}", self.name);
                }
                Err(RecvTimeoutError::Timeout) => self.fail(&format!(
                    "did not print `listening <port>` within {timeout:?}"
                )),
                Err(RecvTimeoutError::Disconnected) => {
                    // Give the stderr thread a moment to collect the last lines.
                    std::thread::sleep(Duration::from_millis(100));
                    let status = self.child.try_wait().ok().flatten();
                    self.fail(&format!(
                        "exited before printing `listening <port>` (status {status:?})"
                    ))
                }
            }
        }
    }

    fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let tail = self.stderr_tail.lock().join("\n");
        panic!("{}: {what}; stderr:\n{tail}", self.name)
    }

    /// The port from the `listening <port>` line.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next stdout line after `listening <port>`, waiting at most `timeout`.
    /// `None` on timeout or when stdout is closed.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.stdout.recv_timeout(timeout).ok()
    }

    /// The stderr lines so far that report a panic (a panic in a spawned task does not end the
    /// process, so only its log shows it).
    pub fn panics(&self) -> Vec<String> {
        self.panics.lock().clone()
    }

    /// Whether the process has exited (without waiting).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
