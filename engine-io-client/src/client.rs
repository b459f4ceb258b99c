//! The user's side of an open connection: the [`Client`] handle, the [`Events`] stream, and why a
//! connection ends ([`CloseReason`]).

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use engine_io::{Handshake, Message, SendError, TransportType, TrySendError};
use tokio::sync::{mpsc, oneshot, watch};

use crate::Error;

/// What the user asks of the connection driver.
#[derive(Debug)]
pub(crate) enum Command {
    /// Send these messages, in order, without anything in between.
    Send(Vec<Message>),
    /// Answer once everything queued before is written.
    Flush(oneshot::Sender<Result<(), Error>>),
    /// Close the connection after writing what is queued.
    Close,
}

/// Something that happened on a connection, in order. The last event is always
/// [`Event::Close`]; then the stream ends.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A message from the server.
    Message(Message),
    /// The connection moved to another transport (polling to WebSocket).
    Upgrade(TransportType),
    /// An attempt to upgrade failed; the connection goes on over polling.
    UpgradeError(Error),
    /// The connection is closed, and why.
    Close(CloseReason),
}

/// Why a connection closed: the Engine.IO reason ([`kind`](CloseReason::kind), the codec's
/// [`engine_io::CloseReason`], whose strings [`as_str`](CloseReason::as_str) gives) and, for a
/// failure, the error behind it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CloseReason {
    /// The server closed the connection (a `close` packet, or the WebSocket closed cleanly).
    TransportClose,
    /// The transport failed: a network error, an HTTP error status (for example
    /// 400 "Session ID unknown"), an oversize payload.
    TransportError(Error),
    /// The server sent something that is not valid Engine.IO.
    ParseError(Error),
    /// Nothing came from the server for longer than `pingInterval + pingTimeout`.
    PingTimeout,
    /// The client closed the connection ([`Client::close`], or every handle was dropped).
    ForcedClose,
}

impl CloseReason {
    /// The Engine.IO reason, without the error.
    ///
    /// ```
    /// use engine_io_client::{CloseReason, Error};
    ///
    /// let reason = CloseReason::ParseError(Error::Protocol("bad packet".into()));
    /// assert_eq!(reason.kind(), engine_io::CloseReason::ParseError);
    /// ```
    pub fn kind(&self) -> engine_io::CloseReason {
        match self {
            CloseReason::TransportClose => engine_io::CloseReason::TransportClose,
            CloseReason::TransportError(_) => engine_io::CloseReason::TransportError,
            CloseReason::ParseError(_) => engine_io::CloseReason::ParseError,
            CloseReason::PingTimeout => engine_io::CloseReason::PingTimeout,
            CloseReason::ForcedClose => engine_io::CloseReason::ForcedClose,
        }
    }

    /// The reason as the reference implementation names it: `"transport close"`,
    /// `"transport error"`, `"parse error"`, `"ping timeout"` or `"forced close"`.
    pub fn as_str(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The error behind a `transport error` or `parse error`.
    pub fn error(&self) -> Option<&Error> {
        match self {
            CloseReason::TransportError(e) | CloseReason::ParseError(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.error() {
            Some(err) => write!(f, "{}: {err}", self.as_str()),
            None => f.write_str(self.as_str()),
        }
    }
}

const POLLING: u8 = 0;
const WEBSOCKET: u8 = 1;
const WEBTRANSPORT: u8 = 2;

/// State shared between the driver and the handles.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) transport: AtomicU8,
}

impl Shared {
    pub(crate) fn new(kind: TransportType) -> Self {
        let shared = Shared {
            transport: AtomicU8::new(POLLING),
        };
        shared.set_transport(kind);
        shared
    }

    pub(crate) fn set_transport(&self, kind: TransportType) {
        let v = match kind {
            TransportType::Polling => POLLING,
            TransportType::Websocket => WEBSOCKET,
            TransportType::Webtransport => WEBTRANSPORT,
        };
        self.transport.store(v, Ordering::Release);
    }

    fn transport(&self) -> TransportType {
        match self.transport.load(Ordering::Acquire) {
            WEBSOCKET => TransportType::Websocket,
            WEBTRANSPORT => TransportType::Webtransport,
            _ => TransportType::Polling,
        }
    }
}

/// A handle to an open Engine.IO connection: send messages, flush, close.
///
/// Cheap to clone; all clones drive the same connection. When every clone is dropped the
/// connection is closed (reason [`CloseReason::ForcedClose`]). Received messages and the close
/// come through the [`Events`] returned with it by
/// [`ClientBuilder::connect`](crate::ClientBuilder::connect).
///
/// ```no_run
/// use engine_io_client::{Client, Event, Message};
///
/// # async fn demo() -> Result<(), engine_io_client::Error> {
/// let (client, mut events) = Client::builder("http://localhost:3000").connect().await?;
/// client.send("hello").await.ok();
/// client.send(vec![1u8, 2, 3]).await.ok(); // binary
/// while let Some(event) = events.recv().await {
///     match event {
///         Event::Message(Message::Text(text)) => println!("text: {text}"),
///         Event::Message(Message::Binary(data)) => println!("{} bytes", data.len()),
///         Event::Close(reason) => println!("closed: {reason}"),
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) handshake: Arc<Handshake>,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) closed: watch::Receiver<Option<CloseReason>>,
    pub(crate) close_timeout: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The sid is a session credential: not printed.
        f.debug_struct("Client")
            .field("transport", &self.transport())
            .field("closed", &self.close_reason())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts configuring a connection to `url` (`http://`, `https://`, `ws://` or `wss://`).
    /// See [`ClientBuilder`](crate::ClientBuilder).
    pub fn builder(url: impl Into<String>) -> crate::ClientBuilder {
        crate::ClientBuilder::new(url)
    }

    /// The session id the server assigned.
    pub fn sid(&self) -> &str {
        &self.handshake.sid
    }

    /// The server's handshake (session id, upgrades, heartbeat settings, `maxPayload`).
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// The transport in use now.
    pub fn transport(&self) -> TransportType {
        self.shared.transport()
    }

    /// Whether the connection is still open.
    pub fn is_connected(&self) -> bool {
        self.closed.borrow().is_none() && !self.commands.is_closed()
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.closed.borrow().clone()
    }

    /// Queues a message, waiting for room in the send queue (backpressure).
    ///
    /// Returns once the message is queued, not when it is written: see [`flush`](Self::flush).
    ///
    /// # Errors
    /// [`SendError`] (with the message) when the connection is closed.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), SendError<Message>> {
        let message = message.into();
        self.commands
            .send(Command::Send(vec![message]))
            .await
            .map_err(|e| SendError(first(e.0)))
    }

    /// Queues several messages that go out in order with nothing in between (what a Socket.IO
    /// packet with binary attachments needs: one text message and its binary messages).
    ///
    /// # Errors
    /// [`SendError`] (with the messages) when the connection is closed.
    pub async fn send_all(&self, messages: Vec<Message>) -> Result<(), SendError<Vec<Message>>> {
        if messages.is_empty() {
            return Ok(());
        }
        self.commands
            .send(Command::Send(messages))
            .await
            .map_err(|e| SendError(all(e.0)))
    }

    /// Queues a message if there is room now.
    ///
    /// # Errors
    /// [`TrySendError::Full`] when the send queue is full, [`TrySendError::Closed`] when the
    /// connection is closed; both give the message back.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), TrySendError<Message>> {
        self.commands
            .try_send(Command::Send(vec![message.into()]))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(c) => TrySendError::Full(first(c)),
                mpsc::error::TrySendError::Closed(c) => TrySendError::Closed(first(c)),
            })
    }

    /// [`send_all`](Self::send_all) without waiting: all messages are queued, or none.
    ///
    /// # Errors
    /// As [`try_send`](Self::try_send).
    pub fn try_send_all(&self, messages: Vec<Message>) -> Result<(), TrySendError<Vec<Message>>> {
        if messages.is_empty() {
            return Ok(());
        }
        self.commands
            .try_send(Command::Send(messages))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(c) => TrySendError::Full(all(c)),
                mpsc::error::TrySendError::Closed(c) => TrySendError::Closed(all(c)),
            })
    }

    /// Waits until every message queued before this call has been written to the transport
    /// (the `POST` was answered, or the WebSocket frames were flushed).
    ///
    /// # Errors
    /// [`Error::Closed`] when the connection closes first.
    pub async fn flush(&self) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Flush(tx))
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.unwrap_or(Err(Error::Closed))
    }

    /// Closes the connection: writes what is queued, tells the server, and waits (bounded by the
    /// builder's [`close_timeout`](crate::ClientBuilder::close_timeout)) until it is closed.
    /// Closing a closed connection does nothing.
    pub async fn close(&self) {
        if self.commands.send(Command::Close).await.is_err() {
            return;
        }
        // The driver bounds its own close by `close_timeout`; the margin covers a consumer that
        // is slow to take the last events.
        let _ =
            tokio::time::timeout(self.close_timeout + Duration::from_secs(1), self.closed()).await;
    }

    /// Waits until the connection is closed and returns why.
    pub async fn closed(&self) -> CloseReason {
        let mut rx = self.closed.clone();
        let reason = match rx.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone(),
            // The driver is gone without a word: it was dropped with the runtime.
            Err(_) => None,
        };
        reason.unwrap_or(CloseReason::ForcedClose)
    }
}

fn first(command: Command) -> Message {
    match command {
        Command::Send(mut messages) if !messages.is_empty() => messages.swap_remove(0),
        _ => Message::Binary(bytes::Bytes::new()),
    }
}

fn all(command: Command) -> Vec<Message> {
    match command {
        Command::Send(messages) => messages,
        _ => Vec::new(),
    }
}

/// The events of one connection, in order: received messages, upgrades, and finally the close.
///
/// Read it promptly: it is a bounded queue, and while it is full the connection stops reading
/// from the server (which eventually times the session out). Also a [`futures_util::Stream`].
#[derive(Debug)]
pub struct Events {
    pub(crate) rx: mpsc::Receiver<Event>,
}

impl Events {
    /// The next event, or `None` after [`Event::Close`].
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event if one is ready.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }
}

impl futures_util::Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_thread_safe() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        fn assert_send<T: Send + 'static>() {}
        assert_send_sync::<Client>();
        assert_send::<Events>();
        assert_send_sync::<Event>();
        assert_send_sync::<CloseReason>();
        assert_send_sync::<Error>();
    }

    #[test]
    fn close_reasons_use_the_reference_strings() {
        assert_eq!(CloseReason::TransportClose.as_str(), "transport close");
        assert_eq!(CloseReason::PingTimeout.to_string(), "ping timeout");
        assert_eq!(CloseReason::ForcedClose.as_str(), "forced close");
        let err = CloseReason::TransportError(Error::Closed);
        assert_eq!(err.as_str(), "transport error");
        assert_eq!(err.to_string(), "transport error: the connection is closed");
        assert!(err.error().is_some());
        assert_eq!(
            CloseReason::ParseError(Error::Protocol("x".into())).as_str(),
            "parse error"
        );
    }
}
