//! Our own example servers (e.g. `engine-io/examples/conformance_server.rs`) run as child
//! processes, exactly as a user would run them.
//!
//! Cargo does not expose example binaries to integration tests of another package, so the example is
//! built once per test process with `cargo build --workspace --example EX` (a no-op when it is
//! already fresh: see [`example_binary`] for why `--workspace`), and a private copy of that
//! package's binary is run. [`bin_binary`] does the same for another package's `[[bin]]`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
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
/// One build slot per (package, kind, name), shared by every thread of the test process.
type BuildSlots = Mutex<HashMap<(String, Kind, String), Arc<OnceLock<BuildResult>>>>;

/// Which kind of cargo target a test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Example,
    Bin,
}

impl RustPeer {
    /// Builds (once per process) and runs `cargo run -p <package> --example <example> -- <args…>`
    /// and waits for its stdout line `listening <port>`. Pass `--port 0` in `args` for a free port.
    ///
    /// # Panics
    /// When the build fails or the server does not start in time.
    pub fn spawn_example(package: &str, example: &str, args: &[&str]) -> RustPeer {
        RustPeer::spawn_example_with_env(package, example, args, &[])
    }

    /// [`RustPeer::spawn_example`] with environment variables set for the server (e.g.
    /// `RUST_LOG`: its stderr is forwarded to the test's output, shown when the test fails).
    ///
    /// # Panics
    /// When the build fails or the server does not start in time.
    pub fn spawn_example_with_env(
        package: &str,
        example: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> RustPeer {
        let exe = match example_binary(package, example) {
            Ok(exe) => exe,
            Err(e) => panic!("building example {package}/{example} failed: {e}"),
        };
        let mut command = Command::new(exe);
        command
            .args(args)
            .envs(env.iter().copied())
            .current_dir(workspace_root());
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

/// The path of a private copy of the built example (see [`RustPeer::spawn_example`]), building
/// it on first use in this process.
///
/// The build is `cargo build --workspace`, which resolves features as `cargo test --workspace`
/// does, so after the test build it compiles nothing. `-p <package>` would resolve that package's
/// features alone (tokio without the workspace's `test-util`, serde_json, regex, … with fewer
/// features) and compile tokio and everything above it again: over a minute on a clean CI
/// target, spent inside the first test that needs the example.
pub fn example_binary(package: &str, example: &str) -> BuildResult {
    built_binary(package, Kind::Example, example)
}

/// [`example_binary`] for a `[[bin]]` of another package (e.g. `socketio-client`'s `siocat`).
/// `cargo test` builds another package's bins only as unit-test harnesses, so this compiles the
/// bin itself, and only it: `--examples` keeps the dev-dependencies' features in the resolution
/// (a bins-only build would drop them, and with them the test build's tokio), and the examples
/// are fresh after the test build.
pub fn bin_binary(package: &str, bin: &str) -> BuildResult {
    built_binary(package, Kind::Bin, bin)
}

fn built_binary(package: &str, kind: Kind, name: &str) -> BuildResult {
    static BUILDS: OnceLock<BuildSlots> = OnceLock::new();
    let cell = {
        let mut builds = BUILDS
            .get_or_init(Default::default)
            .lock()
            .map_err(|_| "build map poisoned".to_owned())?;
        Arc::clone(
            builds
                .entry((package.to_owned(), kind, name.to_owned()))
                .or_default(),
        )
    };
    cell.get_or_init(|| build(package, kind, name)).clone()
}

fn build(package: &str, kind: Kind, name: &str) -> BuildResult {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    // Without the variables cargo set for this test binary: build scripts that watch one
    // (ring's watches CARGO_MANIFEST_DIR) would otherwise see another environment than the
    // developer's `cargo test` and rebuild ring, rustls and everything above them, both ways,
    // on every run.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_BIN_EXE_")
            || matches!(
                &*key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
            )
        {
            command.env_remove(&*key);
        }
    }
    let targets: &[&str] = match kind {
        Kind::Example => &["--example", name],
        Kind::Bin => &["--bin", name, "--examples"],
    };
    let output = command
        .args(["build", "--workspace"])
        .args(targets)
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
            "`cargo build --workspace {}` exited with {}:\n{}",
            targets.join(" "),
            output.status,
            tail.join("\n")
        ));
    }
    let artifact = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|m| {
            m["reason"] == "compiler-artifact"
                && m["target"]["name"] == name
                && m["executable"].is_string()
                && is_package(&m["package_id"], package)
        })
        .ok_or_else(|| format!("cargo did not report an executable for {package}'s {name}"))?;
    let executable = PathBuf::from(artifact["executable"].as_str().unwrap_or_default());
    let manifest_dir = artifact["manifest_path"]
        .as_str()
        .map(PathBuf::from)
        .and_then(|p| p.parent().map(PathBuf::from))
        .ok_or_else(|| "cargo did not report the manifest path".to_owned())?;
    match kind {
        Kind::Example => {
            let built = own_binary(&executable, &manifest_dir, name).unwrap_or(executable);
            // target/<profile>/examples/<name>
            let profile_dir = built.parent().and_then(Path::parent);
            private_copy(&built, profile_dir, package, name)
        }
        // target/<profile>/<name>
        Kind::Bin => private_copy(&executable, executable.parent(), package, name),
    }
}

/// Whether cargo's `package_id` (`path+file:///…/<dir>#<version>` when the package is named
/// as its directory, `…#<name>@<version>` otherwise, or the older `<name> <version> (…)`) names
/// `package`.
fn is_package(package_id: &serde_json::Value, package: &str) -> bool {
    let id = package_id.as_str().unwrap_or_default();
    let name = match id.rsplit_once('#') {
        Some((path, rest)) => match rest.split_once('@') {
            Some((name, _version)) => name,
            None => path.rsplit('/').next().unwrap_or_default(),
        },
        None => id.split(' ').next().unwrap_or_default(),
    };
    name == package
}

/// Examples of different packages may share a name (both `engine-io` and `socketio-server` have a
/// `conformance_server`), and cargo "uplifts" each to the same `target/debug/examples/<name>`, so
/// that path holds whichever was built last. The hashed file next to it
/// (`<name>-<hash>`, with a `<name>-<hash>.d` naming the example's source) belongs to one package:
/// return the newest one built from `manifest_dir`'s example.
fn own_binary(executable: &Path, manifest_dir: &Path, example: &str) -> Option<PathBuf> {
    let dir = executable.parent()?;
    let root = workspace_root();
    let relative = manifest_dir.strip_prefix(&root).unwrap_or(manifest_dir);
    let sources = [
        format!("{}/examples/{example}.rs", relative.display()),
        format!("{}/examples/{example}/main.rs", relative.display()),
    ];
    let prefix = format!("{example}-");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(&prefix))
                .is_some_and(|hash| !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .filter(|path| {
            std::fs::read_to_string(path.with_extension("d"))
                .is_ok_and(|dep_info| sources.iter().any(|s| dep_info.contains(s.as_str())))
        })
        .max_by_key(|path| std::fs::metadata(path).and_then(|m| m.modified()).ok())
}

/// Copies the binary to `target/protocol-tests-bin/<package>--<example>` (write then rename, so
/// a running copy is never overwritten in place) so later rebuilds by other processes cannot
/// swap it under this test process.
fn private_copy(
    built: &Path,
    profile_dir: Option<&Path>,
    package: &str,
    example: &str,
) -> BuildResult {
    let target = profile_dir
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace_root().join("target"));
    let dir = target.join("protocol-tests-bin");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let name = format!("{package}--{example}");
    let temporary = dir.join(format!("{name}.{}.tmp", std::process::id()));
    let destination = dir.join(name);
    std::fs::copy(built, &temporary)
        .map_err(|e| format!("cannot copy {}: {e}", built.display()))?;
    std::fs::rename(&temporary, &destination)
        .map_err(|e| format!("cannot rename to {}: {e}", destination.display()))?;
    Ok(destination)
}
