//! Debug logs of the crates under test, for the tests whose failures are rare and timing-bound:
//! the test harness captures them with the test's output and shows them only when it fails.
//!
//! ```no_run
//! protocol_tests::test_log::capture("engine_io_client=debug,socketio_client=debug");
//! ```

use std::sync::Once;

/// The `RUST_LOG` a test gives the servers it starts so that their stderr (forwarded into its
/// output) tells what the Engine.IO and cluster layers did.
pub const SERVER_DEBUG: &str = "warn,engine_io=trace,engine_io_cluster=debug";

/// Logs this process's events that pass `filter` (an `EnvFilter` directive) into the output of the
/// test that emitted them. The first call in a process sets the filter; later calls do nothing.
pub fn capture(filter: &str) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .with_ansi(false)
            .try_init();
    });
}
