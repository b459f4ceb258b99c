//! A blocking wrapper for programs without an async runtime: the client runs on its own small
//! tokio runtime, handlers (still async closures) run there, and every method blocks.
//!
//! ```no_run
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
//!     let reply = socket.emit_with_ack("ping", json!(1))?;
//!     println!("{reply:?}");
//!     socket.disconnect();
//!     Ok(())
//! }
//! ```

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::{ClientBuilder, Error, IntoArgs, Value};

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

    /// See [`crate::Socket::emit_volatile`].
    ///
    /// # Errors
    /// As [`crate::Socket::emit`].
    pub fn emit_volatile(&self, event: &str, args: impl IntoArgs) -> Result<(), Error> {
        let socket = self.inner()?;
        socket.emit_volatile(event, args)
    }

    /// See [`crate::Socket::emit_with_ack`].
    ///
    /// # Errors
    /// As [`crate::Socket::emit_with_ack`].
    pub fn emit_with_ack(&self, event: &str, args: impl IntoArgs) -> Result<Vec<Value>, Error> {
        let socket = self.inner()?;
        let pending = socket.emit_with_ack(event, args)?;
        self.runtime.block_on(pending.into_future())
    }

    /// [`emit_with_ack`](Self::emit_with_ack) waiting at most `timeout` (the async socket's
    /// [`AckFuture::timeout`](crate::AckFuture::timeout)).
    ///
    /// # Errors
    /// As [`crate::Socket::emit_with_ack`].
    pub fn emit_with_ack_timeout(
        &self,
        event: &str,
        args: impl IntoArgs,
        timeout: Duration,
    ) -> Result<Vec<Value>, Error> {
        let socket = self.inner()?;
        let pending = socket.emit_with_ack(event, args)?.timeout(timeout);
        self.runtime.block_on(pending.into_future())
    }

    /// See [`crate::Socket::emit_with_ack_as`].
    ///
    /// # Errors
    /// As [`crate::Socket::emit_with_ack_as`].
    pub fn emit_with_ack_as<T: DeserializeOwned + Send + 'static>(
        &self,
        event: &str,
        args: impl IntoArgs,
    ) -> Result<T, Error> {
        let socket = self.inner()?;
        let pending = socket.emit_with_ack_as(event, args)?;
        self.runtime.block_on(pending.into_future())
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
