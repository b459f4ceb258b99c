//! What the example servers share: logging to stderr (stdout carries the `listening <port>`
//! line that test harnesses wait for), exiting with the harness that started them, and the
//! `--metrics` / `--admin` / `--webtransport` options.
#![allow(dead_code)]

// Also compiled into `protocol-tests`' `soak_server` (examples cannot depend on that crate).
mod harness;
// Not every example uses both (`bench_server` uses neither).
#[allow(unused_imports)]
pub use harness::{exit_when_stdin_closes, init_logging};

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

/// `--webtransport`: serves WebTransport on UDP 127.0.0.1:`port` with a fresh self-signed
/// certificate; returns the certificate's SHA-256 in base64 (the `webtransport-cert-hash` line).
/// Exits on failure, `name` (the example's) prefixing the message.
#[cfg(feature = "webtransport")]
pub fn serve_webtransport(io: &socketio_server::SocketIo, port: u16, name: &str) -> String {
    use base64::Engine as _;
    use engine_io::wtransport::{Endpoint, Identity, ServerConfig};
    let fail = |e: String| -> ! {
        eprintln!("{name}: webtransport: {e}");
        std::process::exit(1);
    };
    // `self_signed`: ECDSA P-256, valid from now for 14 days.
    let identity = Identity::self_signed(["localhost", "127.0.0.1", "::1"])
        .unwrap_or_else(|e| fail(e.to_string()));
    let hash = identity
        .certificate_chain()
        .as_slice()
        .first()
        .map(|c| base64::engine::general_purpose::STANDARD.encode(c.hash().as_ref()))
        .unwrap_or_else(|| fail("no certificate".into()));
    let config = ServerConfig::builder()
        .with_bind_address(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .with_identity(identity)
        .build();
    let endpoint = Endpoint::server(config)
        .unwrap_or_else(|e| fail(format!("cannot bind udp 127.0.0.1:{port}: {e}")));
    let engine = io.engine().clone();
    tokio::spawn(async move { engine.serve_webtransport(endpoint).await });
    hash
}

/// `--admin`: the `@socket.io/admin-ui` instrumentation at `/admin`, without authentication.
#[cfg(feature = "admin-ui")]
pub fn instrument_admin_ui(io: &socketio_server::SocketIo) {
    if let Err(e) = io.instrument(socketio_server::AdminUiOptions::default()) {
        eprintln!("--admin: {e}");
        std::process::exit(1);
    }
}

/// Where `scripts/install-deps.sh` puts the Admin UI's built page (npm `@socket.io/admin-ui`).
pub const ADMIN_UI_DIST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../protocol-tests/js/node_modules/@socket.io/admin-ui/ui/dist"
);

/// Serves the Admin UI's built page at `/admin/` (its assets are relative to it).
pub fn admin_ui_routes<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
) -> axum::Router<S> {
    use axum::extract::Path;
    use axum::http::{header, StatusCode};
    use axum::response::{IntoResponse, Redirect, Response};

    async fn file(path: &str) -> Response {
        // Only plain relative names: nothing outside the package's `dist` is reachable.
        if path
            .split('/')
            .any(|part| part.is_empty() || part.starts_with('.'))
        {
            return (StatusCode::NOT_FOUND, "not found").into_response();
        }
        let full = format!("{ADMIN_UI_DIST}/{path}");
        let content_type = match path.rsplit('.').next() {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("png") => "image/png",
            Some("svg") => "image/svg+xml",
            Some("map") | Some("json") => "application/json",
            _ => "application/octet-stream",
        };
        match tokio::fs::read(&full).await {
            Ok(body) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
            Err(_) => (
                StatusCode::NOT_FOUND,
                format!(
                    "{full} not found: run scripts/install-deps.sh (it installs @socket.io/admin-ui)"
                ),
            )
                .into_response(),
        }
    }
    router
        .route(
            "/admin",
            axum::routing::get(|| async { Redirect::permanent("/admin/") }),
        )
        .route("/admin/", axum::routing::get(|| file("index.html")))
        .route(
            "/admin/{*path}",
            axum::routing::get(|Path(path): Path<String>| async move { file(&path).await }),
        )
}
