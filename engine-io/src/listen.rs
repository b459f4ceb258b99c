//! Standalone serving: [`listen`] and [`Server::serve`].

use crate::config::Config;
use crate::handler::Handler;
use crate::served_tcp::ServedTcp;
use crate::server::Server;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
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
    /// requests outside the server's path get 404.
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
            let service = self.service().with_remote_addr(peer);
            // Boxed: the connection's future is a few KB, and tokio moves an unboxed
            // future three times (into the task, into its cell, and out at the end).
            tokio::spawn(Box::pin(async move {
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .max_buf_size(64 * 1024)
                    .serve_connection(TokioIo::new(ServedTcp::new(stream)), service)
                    .with_upgrades();
                if let Err(e) = conn.await {
                    tracing::debug!("connection from {peer} ended: {e}");
                }
            }));
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    !matches!(
        e.kind(),
        io::ErrorKind::InvalidInput | io::ErrorKind::PermissionDenied
    )
}
