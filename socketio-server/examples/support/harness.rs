//! What every server a test harness starts needs: logging to stderr (stdout carries the
//! `listening <port>` line the harness waits for) and exiting with the harness. One file, shared
//! by the example servers (`support/mod.rs`) and `protocol-tests`' `soak_server` (by `#[path]`:
//! examples cannot depend on `protocol-tests`, and this is no part of `socketio-server`'s API).

/// Logs to stderr at `warn`, or as `RUST_LOG` says.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// When stdin is a pipe (a test harness started us), exit once it closes, so a killed test run
/// never leaves the server behind. A terminal or `/dev/null` stdin is left alone.
pub fn exit_when_stdin_closes() {
    use std::os::unix::fs::FileTypeExt;
    let is_pipe = std::fs::metadata("/proc/self/fd/0")
        .map(|m| m.file_type().is_fifo())
        .unwrap_or(false);
    if is_pipe {
        std::thread::spawn(|| {
            let mut sink = [0u8; 256];
            while let Ok(n) = std::io::Read::read(&mut std::io::stdin(), &mut sink) {
                if n == 0 {
                    break;
                }
            }
            std::process::exit(0);
        });
    }
}
