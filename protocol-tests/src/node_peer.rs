//! Node.js peers: fixture scripts in `protocol-tests/js` run with `node`.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::deps::{ensure_deps, js_dir};
use crate::process::ServerProcess;

/// How long a Node fixture may take to print `listening <port>`.
pub const NODE_START_TIMEOUT: Duration = Duration::from_secs(15);

/// A Node fixture server (`node protocol-tests/js/<script>`, cwd `protocol-tests/js`), killed on drop.
#[derive(Debug)]
pub struct NodePeer {
    process: ServerProcess,
}

impl NodePeer {
    /// Runs `node <script> <args…>` with the extra environment `env` and waits up to 15 s for the
    /// stdout line `listening <port>`. Calls [`ensure_deps`] first.
    ///
    /// # Panics
    /// When node or the npm packages are missing, or the script does not start in time.
    pub fn spawn(script: &str, args: &[&str], env: &[(&str, &str)]) -> NodePeer {
        ensure_deps();
        let mut command = Command::new("node");
        command.arg(script).args(args).current_dir(js_dir());
        for (k, v) in env {
            command.env(k, v);
        }
        NodePeer {
            process: ServerProcess::spawn(script, command, NODE_START_TIMEOUT),
        }
    }

    /// The port the fixture listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// The next stdout line after `listening <port>`, waiting at most `timeout`.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.process.next_line(timeout)
    }

    /// The underlying process handle.
    pub fn process(&mut self) -> &mut ServerProcess {
        &mut self.process
    }
}

/// What a Node script that ran to completion produced.
#[derive(Debug, Clone)]
pub struct NodeOutput {
    /// Exit code (`None` when killed by a signal or the timeout).
    pub code: Option<i32>,
    /// Whether the timeout killed it.
    pub timed_out: bool,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

impl NodeOutput {
    /// The last stdout line that parses as JSON (scripts report their result that way).
    pub fn json_result(&self) -> Option<serde_json::Value> {
        self.stdout
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l.trim()).ok())
    }
}

/// Runs `node <script> <args…>` (cwd `protocol-tests/js`) to completion, killing it after
/// `timeout`. Async so the test's own servers keep running meanwhile.
///
/// # Panics
/// When node or the npm packages are missing, or node cannot start.
pub async fn run_node(
    script: &str,
    args: &[&str],
    env: &[(&str, &str)],
    timeout: Duration,
) -> NodeOutput {
    ensure_deps();
    let mut command = tokio::process::Command::new("node");
    command
        .arg(script)
        .args(args)
        .current_dir(js_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node {script}: {e}"));
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => NodeOutput {
            code: out.status.code(),
            timed_out: false,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Ok(Err(e)) => panic!("node {script}: {e}"),
        // The future owned the child; dropping it killed the process (kill_on_drop).
        Err(_) => NodeOutput {
            code: None,
            timed_out: true,
            stdout: String::new(),
            stderr: String::new(),
        },
    }
}
