//! A blocking wrapper for programs without an async runtime: the client runs on its own small
//! tokio runtime, handlers (still async closures) run there, and every method blocks.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use socketio_client::{blocking, ClientBuilder, Event, Socket};
//! use serde_json::json;
//!
//! fn main() -> Result<(), socketio_client::Error> {
//!     let socket = blocking::connect(
//!         ClientBuilder::new("http://localhost:3000")
//!             .on("news", |event: Event, _socket: Socket| async move {
//!                 println!("news: {:?}", event.args());
//!             }),
//!     )?;
//!     socket.emit("hello", json!({"from": "a thread"}))?;
//!     let pong: u64 = socket
//!         .emit_with_ack("ping", json!(1))?
//!         .timeout(Duration::from_secs(2))
//!         .wait()?;
//!     println!("{pong}");
//!     socket.volatile().emit("position", json!([12, 34]))?;
//!     socket.disconnect();
//!     Ok(())
//! }
//! ```

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use crate::{AckFuture, ClientBuilder, Error, FromAck, IntoArgs};

/// Connects `builder` on a dedicated runtime and blocks until connected.
///
/// # Errors
/// As [`ClientBuilder::connect`], plus [`Error::InvalidConfig`] when the runtime cannot start.
///
/// # Panics
/// When called from inside an async runtime (blocking there would stall it): use the async API.
pub fn connect(builder: ClientBuilder) -> Result<Socket, Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("socketio-client")
        .enable_all()
        .build()
        .map_err(|e| Error::InvalidConfig(format!("cannot start the runtime: {e}")))?;
    let runtime = Arc::new(runtime);
    let socket = runtime.block_on(builder.connect())?;
    Ok(Socket {
        inner: Some(socket),
        runtime,
    })
}

/// A [`crate::Socket`] whose methods block.
#[derive(Debug)]
pub struct Socket {
    // An Option so Drop can drop the async socket inside the runtime before the runtime itself.
    inner: Option<crate::Socket>,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl Socket {
    fn inner(&self) -> Result<&crate::Socket, Error> {
        self.inner.as_ref().ok_or(Error::Closed)
    }

    /// The async socket (to use from the runtime's handlers).
    pub fn as_async(&self) -> Option<&crate::Socket> {
        self.inner.as_ref()
    }

    /// See [`crate::Socket::emit`].
    ///
    /// # Errors
    /// As [`crate::Socket::emit`].
    pub fn emit(&self, event: &str, args: impl IntoArgs) -> Result<(), Error> {
        let socket = self.inner()?;
        socket.emit(event, args)
    }

    /// The next emit is volatile (see [`crate::Socket::volatile`]): `socket.volatile().emit(..)`.
    pub fn volatile(&self) -> SocketEmitter<'_> {
        SocketEmitter { socket: self }
    }

    /// Emits `event` (see [`crate::Socket::emit_with_ack`]) and gives the pending
    /// acknowledgement: [`wait`](AckHandle::wait) for the server's answer read as `R` (see
    /// [`FromAck`]), optionally after [`AckHandle::timeout`] — the async socket's
    /// `emit_with_ack(..)?.timeout(..).await`.
    ///
    /// # Errors
    /// Emitting: as [`crate::Socket::emit_with_ack`].
    pub fn emit_with_ack<A: IntoArgs, R: FromAck>(
        &self,
        event: &str,
        args: A,
    ) -> Result<AckHandle<R>, Error> {
        let ack = self.inner()?.emit_with_ack(event, args)?;
        Ok(self.handle(ack))
    }

    fn handle<T>(&self, ack: AckFuture<T>) -> AckHandle<T> {
        AckHandle {
            ack,
            runtime: self.runtime.clone(),
        }
    }

    /// The socket id while connected.
    pub fn id(&self) -> Option<String> {
        self.inner.as_ref().and_then(crate::Socket::id)
    }

    /// Whether the namespace is joined.
    pub fn connected(&self) -> bool {
        self.inner.as_ref().is_some_and(crate::Socket::connected)
    }

    /// Whether the last connection recovered the previous session.
    pub fn recovered(&self) -> bool {
        self.inner.as_ref().is_some_and(crate::Socket::recovered)
    }

    /// See [`crate::Socket::disconnect`].
    pub fn disconnect(&self) {
        if let Some(socket) = &self.inner {
            self.runtime.block_on(socket.disconnect());
        }
    }
}

/// Emits on a blocking socket with flags ([`Socket::volatile`]), as [`crate::SocketEmitter`].
#[derive(Debug)]
#[must_use = "nothing is emitted until one of its emit methods is called"]
pub struct SocketEmitter<'a> {
    socket: &'a Socket,
}

impl SocketEmitter<'_> {
    /// See [`crate::SocketEmitter::emit`].
    ///
    /// # Errors
    /// As [`crate::Socket::emit`].
    pub fn emit(self, event: &str, args: impl IntoArgs) -> Result<(), Error> {
        self.socket.inner()?.volatile().emit(event, args)
    }

    /// See [`crate::SocketEmitter::emit_with_ack`].
    ///
    /// # Errors
    /// As [`crate::Socket::emit_with_ack`].
    pub fn emit_with_ack<A: IntoArgs, R: FromAck>(
        self,
        event: &str,
        args: A,
    ) -> Result<AckHandle<R>, Error> {
        let ack = self.socket.inner()?.volatile().emit_with_ack(event, args)?;
        Ok(self.socket.handle(ack))
    }
}

/// The pending answer to [`Socket::emit_with_ack`] (the event is already sent or queued):
/// [`wait`](Self::wait) blocks until it arrives, at most the [`timeout`](Self::timeout).
#[must_use = "the acknowledgement is only received by `wait`"]
#[derive(Debug)]
pub struct AckHandle<T> {
    ack: AckFuture<T>,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl<T: FromAck + Send + 'static> AckHandle<T> {
    /// How long to wait for the answer (default: the configured
    /// [`ack_timeout`](crate::ClientBuilder::ack_timeout)).
    pub fn timeout(self, timeout: Duration) -> Self {
        AckHandle {
            ack: self.ack.timeout(timeout),
            runtime: self.runtime,
        }
    }

    /// Blocks until the server answers.
    ///
    /// # Errors
    /// [`Error::AckTimeout`], [`Error::SocketDisconnected`] when the connection dropped after
    /// the event was sent, [`Error::Serde`] when the answer does not read as `T`.
    ///
    /// # Panics
    /// When called from inside an async runtime, as [`connect`].
    pub fn wait(self) -> Result<T, Error> {
        self.runtime.block_on(self.ack.into_future())
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        if let Some(socket) = self.inner.take() {
            // Disconnect cleanly (DISCONNECT, close the connection) while the runtime still runs.
            let runtime = self.runtime.clone();
            runtime.block_on(async move {
                socket.disconnect().await;
                drop(socket);
                // Give the connection a moment to write the close.
                tokio::time::sleep(Duration::from_millis(20)).await;
            });
        }
    }
}
