//! Making sure the tools the tests need (the npm peers, node, redis-server, haproxy, chromium) are
//! installed, by running `scripts/install-deps.sh` at most once per process.
//!
//! Test binaries run concurrently (cargo runs several test binaries, each with many threads), so the
//! install is guarded twice: a process-wide [`OnceLock`] so one thread per process does the work, and
//! a lock directory under the target directory so two processes never run `npm ci` on the same
//! `node_modules` at the same time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// The binaries `scripts/install-deps.sh` provides. A test that needs one calls [`ensure_deps`].
pub const NEEDED_BINARIES: &[&str] = &["node", "redis-server", "haproxy", "chromium"];

/// How long a process waits for another process's install before giving up.
const INSTALL_WAIT: Duration = Duration::from_secs(600);

/// The workspace root (the parent of the `protocol-tests` crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The directory of the Node fixture scripts and their `node_modules` (`protocol-tests/js`).
pub fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// Whether `name` is an executable somewhere on `PATH`.
pub fn binary_on_path(name: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        let candidate = dir.join(name);
        candidate.is_file()
            && std::fs::metadata(&candidate)
                .map(|m| {
                    use std::os::unix::fs::PermissionsExt;
                    m.permissions().mode() & 0o111 != 0
                })
                .unwrap_or(false)
    })
}

/// What is missing right now (empty when everything is installed).
fn missing() -> Vec<String> {
    let mut missing: Vec<String> = NEEDED_BINARIES
        .iter()
        .filter(|b| !binary_on_path(b))
        .map(|b| (*b).to_owned())
        .collect();
    // The script writes this marker last, so its presence means `npm ci` finished.
    if !js_dir().join("node_modules/.package-lock.json").is_file() {
        missing.push("protocol-tests/js/node_modules".to_owned());
    }
    missing
}

/// Makes sure the npm peers and the binaries in [`NEEDED_BINARIES`] are installed, running
/// `scripts/install-deps.sh` once (per process, and never by two processes at once) if something
/// is missing.
///
/// # Panics
/// When something is still missing after the script ran, or the script failed: the tests that
/// need these tools must fail loudly, never skip.
pub fn ensure_deps() {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(message) = DONE.get_or_init(install_if_missing) {
        panic!("protocol-tests: the test dependencies are not available: {message}");
    }
}

fn install_if_missing() -> Result<(), String> {
    if missing().is_empty() {
        return Ok(());
    }
    let _lock = DirLock::acquire(&lock_path())?;
    // Another process may have installed everything while we waited for the lock.
    let before = missing();
    if before.is_empty() {
        return Ok(());
    }
    let script = workspace_root().join("scripts/install-deps.sh");
    eprintln!(
        "protocol-tests: missing {}; running {}",
        before.join(", "),
        script.display()
    );
    let status = Command::new("bash")
        .arg(&script)
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("could not run {}: {e}", script.display()))?;
    if !status.success() {
        return Err(format!(
            "{} failed ({status}); run it by hand to see why",
            script.display()
        ));
    }
    let after = missing();
    if after.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "still missing after {}: {}",
            script.display(),
            after.join(", ")
        ))
    }
}

fn lock_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("protocol-tests-install-deps.lock")
}

/// A cross-process lock: `create_dir` is atomic, so whoever creates the directory holds the lock.
/// A lock older than [`INSTALL_WAIT`] is treated as left behind by a killed process.
struct DirLock(PathBuf);

impl DirLock {
    fn acquire(path: &Path) -> Result<Self, String> {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let start = Instant::now();
        loop {
            match std::fs::create_dir(path) {
                Ok(()) => return Ok(DirLock(path.to_path_buf())),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = std::fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok())
                        .is_some_and(|age| age > INSTALL_WAIT);
                    if stale {
                        let _ = std::fs::remove_dir(path);
                        continue;
                    }
                    if start.elapsed() > INSTALL_WAIT {
                        return Err(format!(
                            "timed out waiting for the install lock {}",
                            path.display()
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}
