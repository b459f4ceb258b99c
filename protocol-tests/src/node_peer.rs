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

    /// The JSON result of a script that reports `{"ok": true, ...}` or
    /// `{"ok": false, "error": "..."}`; `what` names the run in the panic message.
    ///
    /// # Panics
    /// When it printed no JSON, or a result without `"ok": true` (with its error and stderr).
    pub fn ok_result(&self, what: &str) -> serde_json::Value {
        let result = self.json_result().unwrap_or_else(|| {
            panic!(
                "{what} printed no JSON (timed out: {}); stdout:\n{}\nstderr:\n{}",
                self.timed_out, self.stdout, self.stderr
            )
        });
        assert_eq!(
            result["ok"],
            serde_json::Value::Bool(true),
            "{what} failed: {}\nstderr:\n{}",
            result["error"].as_str().unwrap_or_default(),
            self.stderr
        );
        result
    }
}

/// Runs `node <script> <args…>` (cwd `protocol-tests/js`) to completion, killing it after
/// `timeout` (what it printed until then is kept). Async so the test's own servers keep running
/// meanwhile.
///
/// # Panics
/// When node or the npm packages are missing, or node cannot start.
pub async fn run_node(
    script: &str,
    args: &[&str],
    env: &[(&str, &str)],
    timeout: Duration,
) -> NodeOutput {
    use tokio::io::AsyncReadExt;

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
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node {script}: {e}"));
    // Read both pipes concurrently so a chatty script never blocks on a full pipe, and so the
    // output survives a timeout kill.
    let read_all = |pipe: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        tokio::spawn(async move {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf).await;
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = read_all(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    );
    let stderr = read_all(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    );
    let (code, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => (status.code(), false),
        Ok(Err(e)) => panic!("node {script}: {e}"),
        Err(_) => {
            let _ = child.kill().await;
            (None, true)
        }
    };
    NodeOutput {
        code,
        timed_out,
        stdout: stdout.await.unwrap_or_default(),
        stderr: stderr.await.unwrap_or_default(),
    }
}
