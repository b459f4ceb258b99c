//! Standalone serving: [`listen`] and [`Server::serve`].

use crate::config::Config;
use crate::direct_upgrade::{take, Taken, HEADER_READ_TIMEOUT};
use crate::handler::Handler;
use crate::served_tcp::ServedTcp;
use crate::server::Server;
use futures_util::future::{Either, FutureExt};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};

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
            tokio::spawn(serve_connection(self.clone(), stream, peer));
        }
    }
}

/// Serves a connection [`Server::serve`] accepted from `peer`: the task of the connection, and
/// of the WebSocket session it opens, if any ([`crate::direct_upgrade`]).
fn serve_connection(
    server: Server,
    tcp: TcpStream,
    peer: SocketAddr,
) -> impl Future<Output = ()> + Send {
    // Reading and routing the first request (a few KB of state, hyper's included) is boxed,
    // and the session's future replaces it (not an `async` block, which would keep both side
    // by side): the task of an idle session is no bigger than a session's own.
    let first = async move {
        match take(server.clone(), tcp, peer).await {
            Taken::Session(socket, conn) => Some((socket, conn)),
            Taken::Hyper(io) => {
                serve_with_hyper(&server, io, peer).await;
                None
            }
            Taken::Done => None,
        }
    };
    Box::pin(first).then(|taken| match taken {
        Some((socket, conn)) => Either::Left(crate::driver::run(socket, Some(conn))),
        None => Either::Right(std::future::ready(())),
    })
}

/// Serves a connection with hyper (HTTP/1.1 with upgrades); `io` may hold bytes read from it
/// already.
async fn serve_with_hyper(server: &Server, io: ServedTcp, peer: SocketAddr) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The connection's future is the task of every WebSocket session it opens: it must stay
    /// about as small as the session's own (`driver::tests::task_future_is_small`).
    #[tokio::test]
    async fn connection_future_is_small() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (tcp, peer) = listener.accept().await.unwrap();
        let server = Server::new_stream(crate::Config::default());
        let fut = serve_connection(server, tcp, peer);
        let n = std::mem::size_of_val(&fut);
        eprintln!("connection future: {n} bytes");
        assert!(n < 512, "{n}");
    }
}
