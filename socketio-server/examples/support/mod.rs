//! What the example servers share: logging to stderr (stdout carries the `listening <port>`
//! line that test harnesses wait for), exiting with the harness that started them, and the
//! `--metrics` / `--admin` options.
#![allow(dead_code)]

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

/// The `/metrics` route: the Prometheus text of the server's metrics.
#[cfg(feature = "metrics")]
pub fn metrics_route<S: Clone + Send + Sync + 'static>(
    metrics: socketio_server::Metrics,
) -> axum::routing::MethodRouter<S> {
    axum::routing::get(move || {
        let metrics = metrics.clone();
        async move {
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    socketio_server::Metrics::CONTENT_TYPE,
                )],
                metrics.render(),
            )
        }
    })
}

/// `--admin`: not built yet.
pub fn instrument_admin_ui(_io: &socketio_server::SocketIo) {
    eprintln!("--admin: the Admin UI instrumentation is not built yet");
}

/// The Admin UI page: not built yet.
pub fn admin_ui_page() -> axum::routing::MethodRouter {
    axum::routing::get(|| async { "not built yet" })
}
