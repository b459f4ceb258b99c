//! Emitting on a [`Socket`]: `emit`, `emit_with_ack`, and [`SocketEmitter`], one emit with
//! per-emit flags (`socket.volatile().emit(..)`): the same shapes as the server's `SocketRef`
//! (the reference's `socket.emit`, `socket.volatile.emit(..)` on both sides).

use crate::socket_core::EmitFlags;
use crate::{AckFuture, Error, FromAck, IntoArgs, Socket};

impl Socket {
    /// Emits `event` with `args` (one `Serialize` value, or [`Args`](crate::Args) for several;
    /// binary at any depth travels as binary).
    ///
    /// Never waits, like the server's `emit`: the packet goes to the connection's bounded send
    /// queue when connected, or to the send buffer (sent on the next connection) while
    /// disconnected. With [`retries`](crate::ClientBuilder::retries) configured, the event is
    /// queued and redelivered until the server acknowledges it (as in the reference, every
    /// queued event asks for an ack then).
    ///
    /// # Errors
    /// [`Error::Closed`] after a disconnect, [`Error::BufferFull`] when the queue or buffer is
    /// full (the caller decides: wait and retry, or drop), [`Error::ReservedEvent`],
    /// [`Error::Serde`].
    pub fn emit(&self, event: &str, args: impl IntoArgs) -> Result<(), Error> {
        self.with_flags(EmitFlags::default()).emit(event, args)
    }

    /// Emits `event` now (as [`emit`](Self::emit), never waiting) and gives the pending
    /// acknowledgement: `.await` it for the server's answer read as `R`, optionally after
    /// [`AckFuture::timeout`] — the same shape and the same reading as the server's
    /// `socket.emit_with_ack::<_, R>(…)?.timeout(…).await` ([`FromAck`]: one answer argument
    /// is read directly, several as a sequence such as a tuple; [`Args`](crate::Args) is the
    /// argument list as it came). The default timeout is the configured
    /// [`ack_timeout`](crate::ClientBuilder::ack_timeout) (none: wait until answered or
    /// disconnected). With [`retries`](crate::ClientBuilder::retries), the event is
    /// redelivered after each `ack_timeout`; [`AckFuture::timeout`] then bounds the whole wait.
    ///
    /// ```no_run
    /// # async fn f(socket: socketio_client::Socket) -> Result<(), socketio_client::Error> {
    /// use std::time::Duration;
    /// use socketio_client::Args;
    ///
    /// // The server answers `cb(7)`:
    /// let n: u64 = socket.emit_with_ack("count", ())?.timeout(Duration::from_secs(2)).await?;
    /// // `cb("ok", 2)`:
    /// let (status, tries): (String, u32) = socket.emit_with_ack("retry", 42)?.await?;
    /// // Whatever it answers, untouched:
    /// let Args(answer) = socket.emit_with_ack("question", "why")?.await?;
    /// # let _ = (n, status, tries, answer); Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Emitting: as [`emit`](Self::emit). Awaiting: [`Error::AckTimeout`],
    /// [`Error::SocketDisconnected`] when the connection dropped after the event was sent,
    /// [`Error::Serde`] when the answer does not read as `R`.
    pub fn emit_with_ack<A: IntoArgs, R: FromAck>(
        &self,
        event: &str,
        args: A,
    ) -> Result<AckFuture<R>, Error> {
        self.with_flags(EmitFlags::default())
            .emit_with_ack(event, args)
    }

    /// The next emit is volatile: dropped, not buffered, when the connection cannot write it
    /// right now (not connected), and never queued for
    /// [`retries`](crate::ClientBuilder::retries).
    ///
    /// ```no_run
    /// # fn f(socket: socketio_client::Socket) -> Result<(), socketio_client::Error> {
    /// socket.volatile().emit("position", (12, 34))?;
    /// # Ok(()) }
    /// ```
    pub fn volatile(&self) -> SocketEmitter<'_> {
        self.with_flags(EmitFlags { volatile: true })
    }

    fn with_flags(&self, flags: EmitFlags) -> SocketEmitter<'_> {
        SocketEmitter {
            socket: self,
            flags,
        }
    }
}

/// Emits on one socket with flags ([`Socket::volatile`]); an acknowledgement's timeout is set
/// on its [`AckFuture`], as on the server.
#[derive(Debug)]
#[must_use = "nothing is emitted until one of its emit methods is called"]
pub struct SocketEmitter<'a> {
    socket: &'a Socket,
    flags: EmitFlags,
}

impl SocketEmitter<'_> {
    /// As [`Socket::emit`], with this emitter's flags.
    ///
    /// # Errors
    /// As [`Socket::emit`]; a dropped volatile emit is not an error.
    pub fn emit(self, event: &str, args: impl IntoArgs) -> Result<(), Error> {
        self.socket
            .emit_flagged(event, args.into_args()?, self.flags)
    }

    /// As [`Socket::emit_with_ack`], with this emitter's flags. When a volatile emit is
    /// dropped, its acknowledgement still waits, as in the reference: it times out, or fails
    /// with [`Error::SocketDisconnected`] when the connection closes.
    ///
    /// # Errors
    /// As [`Socket::emit_with_ack`].
    pub fn emit_with_ack<A: IntoArgs, R: FromAck>(
        self,
        event: &str,
        args: A,
    ) -> Result<AckFuture<R>, Error> {
        self.socket
            .emit_with_ack_flagged(event, args.into_args()?, self.flags)
    }
}
