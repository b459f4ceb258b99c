//! Standalone serving: [`listen`] and [`Server::serve`].

use crate::config::Config;
use crate::handler::Handler;
use crate::served_tcp::ServedTcp;
use crate::server::Server;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, ToSocketAddrs};

/// Binds `addr` and serves a new Engine.IO server on it forever.
///
/// ```no_run
/// # struct Echo;
/// # impl engine_io::Handler for Echo {
/// #     fn on_connect(&self, _s: std::sync::Arc<engine_io::Socket>) {}
/// #     fn on_message(&self, s: &std::sync::Arc<engine_io::Socket>, m: engine_io::Message) { let _ = s.try_send(m); }
/// #     fn on_close(&self, _s: &std::sync::Arc<engine_io::Socket>, _r: engine_io::CloseReason) {}
/// # }
/// # async fn demo() -> std::io::Result<()> {
/// engine_io::listen("127.0.0.1:3000", engine_io::Config::default(), Echo).await
/// # }
/// ```
pub async fn listen(
    addr: impl ToSocketAddrs,
    config: Config,
    handler: impl Handler,
) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    Server::new(config, handler).serve(listener).await
}

impl Server {
    /// Serves this server on `listener` (HTTP/1.1 with upgrades) until an
    /// unrecoverable accept error. Each connection runs in its own task;
    /// requests outside the server's path get 404. A connection whose first
    /// request opens a WebSocket session is answered without hyper, and its
    /// task becomes the session's (the cheapest connect); the others are
    /// served by hyper, as [`Server::service`] is.
    pub async fn serve(&self, listener: TcpListener) -> io::Result<()> {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) if is_transient(&e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(crate::direct_upgrade::serve_connection(
                self.clone(),
                stream,
                peer,
            ));
        }
    }
}

/// How long a connection may take to send a request's head (hyper's `header_read_timeout`),
/// also the first one, which [`crate::direct_upgrade`] reads.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves a connection with hyper (HTTP/1.1 with upgrades); `io` may hold bytes read from it
/// already.
pub(crate) async fn serve_with_hyper(server: &Server, io: ServedTcp, peer: SocketAddr) {
    let service = server.service().with_remote_addr(peer);
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    if let Err(e) = conn.await {
        tracing::debug!("connection from {peer} ended: {e}");
    }
}

fn is_transient(e: &io::Error) -> bool {
    !matches!(
        e.kind(),
        io::ErrorKind::InvalidInput | io::ErrorKind::PermissionDenied
    )
}
