//! Our own example servers (e.g. `engine-io/examples/conformance_server.rs`) run as child
//! processes, exactly as a user would run them.
//!
//! Cargo does not expose example binaries to integration tests of another package, so the example is
//! built once per test process with `cargo build -p PKG --example EX` (a no-op when it is already
//! fresh) and the executable cargo reports is run.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::deps::workspace_root;
use crate::process::ServerProcess;

/// How long an example server may take to print `listening <port>` once built.
pub const RUST_START_TIMEOUT: Duration = Duration::from_secs(15);

/// One of our example servers, killed on drop.
#[derive(Debug)]
pub struct RustPeer {
    process: ServerProcess,
}

type BuildResult = Result<PathBuf, String>;
/// One build slot per (package, example), shared by every thread of the test process.
type BuildSlots = Mutex<HashMap<(String, String), Arc<OnceLock<BuildResult>>>>;

impl RustPeer {
    /// Builds (once per process) and runs `cargo run -p <package> --example <example> -- <args…>`
    /// and waits for its stdout line `listening <port>`. Pass `--port 0` in `args` for a free port.
    ///
    /// # Panics
    /// When the build fails or the server does not start in time.
    pub fn spawn_example(package: &str, example: &str, args: &[&str]) -> RustPeer {
        let exe = match example_binary(package, example) {
            Ok(exe) => exe,
            Err(e) => panic!("building example {package}/{example} failed: {e}"),
        };
        let mut command = Command::new(exe);
        command.args(args).current_dir(workspace_root());
        RustPeer {
            process: ServerProcess::spawn(example, command, RUST_START_TIMEOUT),
        }
    }

    /// The port the server listens on (127.0.0.1).
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

/// The path of the built example, building it on first use in this process.
pub fn example_binary(package: &str, example: &str) -> BuildResult {
    static BUILDS: OnceLock<BuildSlots> = OnceLock::new();
    let cell = {
        let mut builds = BUILDS
            .get_or_init(Default::default)
            .lock()
            .map_err(|_| "build map poisoned".to_owned())?;
        Arc::clone(
            builds
                .entry((package.to_owned(), example.to_owned()))
                .or_default(),
        )
    };
    cell.get_or_init(|| build_example(package, example)).clone()
}

fn build_example(package: &str, example: &str) -> BuildResult {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "-p", package, "--example", example])
        .args(["--message-format", "json-render-diagnostics"])
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "`cargo build -p {package} --example {example}` exited with {}:\n{}",
            output.status,
            tail.join("\n")
        ));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == example)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| format!("cargo did not report an executable for example {example}"))
}
