//! Headless Chromium sessions take turns within one test process.
//!
//! Each browser test runs its own Chromium (through `js/cdp-browser.js`), which takes most of a
//! core while the page loads; the WebTransport pages also hold a 200 ms heartbeat. Two at once on
//! a loaded 2-core machine missed such deadlines, so every browser test of a test binary holds
//! [`one_at_a_time`] for its whole session. Test binaries run one after another, so this is one
//! Chromium at a time for the whole `cargo test`, while the other test thread runs other suites.

use tokio::sync::{Mutex, MutexGuard};

static ONE_BROWSER: Mutex<()> = Mutex::const_new(());

/// Waits until no other browser session of this process runs; the session lasts as long as the
/// guard.
pub async fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_BROWSER.lock().await
}
