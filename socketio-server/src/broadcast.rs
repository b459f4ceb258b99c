//! Broadcasting: `to`/`except`/flags, then emit (with or without acks) or a cluster-wide
//! operation (fetch sockets, join, leave, disconnect), always through the adapter.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use socketio_adapter::{
    AdapterError, BroadcastAckSink, BroadcastOptions, Handshake, Room, Sid, SocketInfo,
};
use socketio_parser::{from_value, FromAck, IntoArgs, Packet, Value, ValueError};

use futures_util::future::BoxFuture;

use crate::ack::AckStream;
use crate::namespace::NsInner;
use crate::parent::ParentInner;
use crate::socket::check_event;
use crate::{AckError, EmitError};

/// Anything naming one or more rooms: `&str`, `String`, [`Room`], or a `Vec`, array or slice
/// of those.
pub trait IntoRooms {
    /// The rooms.
    fn into_rooms(self) -> Vec<Room>;
}

impl IntoRooms for &str {
    fn into_rooms(self) -> Vec<Room> {
        vec![Room::from(self)]
    }
}

impl IntoRooms for String {
    fn into_rooms(self) -> Vec<Room> {
        vec![Room::from(self)]
    }
}

impl IntoRooms for &String {
    fn into_rooms(self) -> Vec<Room> {
        vec![Room::from(self.as_str())]
    }
}

impl IntoRooms for Room {
    fn into_rooms(self) -> Vec<Room> {
        vec![self]
    }
}

impl IntoRooms for &Room {
    fn into_rooms(self) -> Vec<Room> {
        vec![self.clone()]
    }
}

impl<T: IntoRooms> IntoRooms for Vec<T> {
    fn into_rooms(self) -> Vec<Room> {
        self.into_iter().flat_map(IntoRooms::into_rooms).collect()
    }
}

impl<T: IntoRooms, const N: usize> IntoRooms for [T; N] {
    fn into_rooms(self) -> Vec<Room> {
        self.into_iter().flat_map(IntoRooms::into_rooms).collect()
    }
}

impl<T: IntoRooms + Clone> IntoRooms for &[T] {
    fn into_rooms(self) -> Vec<Room> {
        self.iter()
            .cloned()
            .flat_map(IntoRooms::into_rooms)
            .collect()
    }
}

impl IntoRooms for HashSet<Room> {
    fn into_rooms(self) -> Vec<Room> {
        self.into_iter().collect()
    }
}

#[derive(Clone)]
enum Target {
    Ns(Arc<NsInner>),
    Parent(Arc<ParentInner>),
}

impl Target {
    fn namespaces(&self) -> Vec<Arc<NsInner>> {
        match self {
            Target::Ns(ns) => vec![ns.clone()],
            Target::Parent(p) => p.children(),
        }
    }
}

/// A broadcast being prepared (reference `BroadcastOperator`): choose rooms and flags, then emit
/// or run a cluster-wide operation. Immutable chaining; cheap to clone.
///
/// ```
/// # async fn f(io: socketio_server::SocketIo) -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
///
/// io.to("room1").to("room2").except("banned").emit("news", &"hello")?;
/// io.of("/").unwrap().volatile().emit("tick", &1)?;
/// let answers: Vec<String> = io
///     .timeout(Duration::from_secs(1))
///     .emit_with_ack("ping", &())?
///     .await?;
/// for socket in io.to("room1").fetch_sockets().await? {
///     socket.join("room3").await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct BroadcastOperator {
    target: Target,
    opts: BroadcastOptions,
}

impl fmt::Debug for BroadcastOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BroadcastOperator")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Arc<NsInner>) -> Self {
        Self {
            target: Target::Ns(ns),
            opts: BroadcastOptions::default(),
        }
    }

    pub(crate) fn parent(parent: Arc<ParentInner>) -> Self {
        Self {
            target: Target::Parent(parent),
            opts: BroadcastOptions::default(),
        }
    }

    /// Targets the given rooms (union with rooms already targeted).
    pub fn to(mut self, rooms: impl IntoRooms) -> Self {
        self.opts.rooms.extend(rooms.into_rooms());
        self
    }

    /// Alias of [`to`](Self::to).
    pub fn within(self, rooms: impl IntoRooms) -> Self {
        self.to(rooms)
    }

    /// Skips the sockets in the given rooms.
    pub fn except(mut self, rooms: impl IntoRooms) -> Self {
        self.opts.except.extend(rooms.into_rooms());
        self
    }

    /// Sockets that cannot take the packet right now skip it.
    pub fn volatile(mut self) -> Self {
        self.opts.flags.volatile = true;
        self
    }

    /// The reference's per-message compression flag, for the **other nodes of a cluster**: it
    /// travels with the broadcast (the Redis adapter's `flags.compress`, byte for byte the
    /// reference's), so npm `socket.io` nodes apply it to their WebSocket connections with
    /// `perMessageDeflate`. It has no effect on this server's own connections: their WebSocket
    /// never negotiates per-message deflate (the reference's default too), and polling
    /// responses are compressed as a whole above a size threshold
    /// ([`SocketIoBuilder::http_compression`](crate::SocketIoBuilder::http_compression)).
    /// That is also why a single socket's emits have no such flag.
    pub fn compress(mut self, compress: bool) -> Self {
        self.opts.flags.compress = Some(compress);
        self
    }

    /// Only the sockets of this node.
    pub fn local(mut self) -> Self {
        self.opts.flags.local = true;
        self
    }

    /// Timeout of [`emit_with_ack`](Self::emit_with_ack).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.flags.timeout = Some(timeout);
        self
    }

    /// The options this operator will use.
    pub fn options(&self) -> &BroadcastOptions {
        &self.opts
    }

    /// Emits an event to every targeted socket, with `args`: one `Serialize` value (`&v`),
    /// `()` for none, or [`Args`](crate::Args) for several (see [`IntoArgs`]).
    pub fn emit(&self, event: &str, args: impl IntoArgs) -> Result<(), EmitError> {
        check_event(event)?;
        let args = args.into_args()?;
        let emit_to = |ns: &NsInner, args| {
            let packet = Packet::event(&*ns.name, event, args);
            ns.adapter().broadcast(packet, self.opts.clone())
        };
        match &self.target {
            // One namespace (the common case): the arguments are moved into its packet, not
            // cloned, and no list of namespaces is built.
            Target::Ns(ns) => emit_to(ns, args)?,
            Target::Parent(p) => {
                for ns in p.children() {
                    emit_to(&ns, args.clone())?;
                }
            }
        }
        Ok(())
    }

    /// Emits an event (`args` as in [`emit`](Self::emit)) and gives the acknowledgements of
    /// every recipient,
    /// on every node, as an [`AckStream`] of `(socket id, answer)`: `.await` it for every
    /// answer at once (or the first error, e.g. [`AckError::Timeout`] when some are late), or
    /// read it as a stream to keep the answers that came in time. The timeout is
    /// [`timeout`](Self::timeout)'s, else the server's
    /// [`ack_timeout`](crate::SocketIoBuilder::ack_timeout).
    ///
    /// Each answer is read as `R` (see [`FromAck`](crate::FromAck)): with
    /// [`Args`](crate::Args), every recipient's full argument list (the reference keeps only
    /// the first argument of each: `args.0.first()`).
    pub fn emit_with_ack<A: IntoArgs, R: FromAck>(
        &self,
        event: &str,
        args: A,
    ) -> Result<AckStream<R>, EmitError> {
        check_event(event)?;
        let args = args.into_args()?;
        let namespaces = self.target.namespaces();
        let timeout = match (self.opts.flags.timeout, namespaces.first()) {
            (Some(t), _) => t,
            (None, Some(ns)) => ns.config.ack_timeout,
            (None, None) => Duration::ZERO,
        };
        let mut stream = AckStream::new(timeout);
        for ns in namespaces {
            let id = ns.next_ack_id();
            let packet = Packet::event(&*ns.name, event, args.clone()).with_id(id);
            let (sink, rx) = BroadcastAckSink::channel();
            let adapter = ns.adapter().clone();
            adapter.broadcast_with_ack(packet, self.opts.clone(), sink)?;
            let count: BoxFuture<'static, _> = if self.opts.flags.local {
                Box::pin(std::future::ready(Ok(1)))
            } else {
                Box::pin(async move { adapter.server_count().await })
            };
            stream.add(rx, count);
        }
        Ok(stream)
    }

    /// The targeted sockets, on every node (unless [`local`](Self::local)).
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, AdapterError> {
        let mut out = Vec::new();
        for ns in self.target.namespaces() {
            let infos = ns.adapter().fetch_sockets(self.opts.clone()).await?;
            out.extend(infos.into_iter().map(|info| RemoteSocket {
                ns: ns.clone(),
                info,
            }));
        }
        Ok(out)
    }

    /// The ids of the targeted sockets (rooms only; `except` is not applied, as in the reference
    /// `allSockets`), on every node.
    pub async fn sockets(&self) -> Result<HashSet<Sid>, AdapterError> {
        let mut out = HashSet::new();
        for ns in self.target.namespaces() {
            out.extend(ns.adapter().sockets(self.opts.rooms.clone()).await?);
        }
        Ok(out)
    }

    /// Makes the targeted sockets join rooms, on every node.
    pub async fn sockets_join(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        let rooms = rooms.into_rooms();
        for ns in self.target.namespaces() {
            ns.adapter()
                .add_sockets(self.opts.clone(), rooms.clone())
                .await?;
        }
        Ok(())
    }

    /// Makes the targeted sockets leave rooms, on every node.
    pub async fn sockets_leave(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        let rooms = rooms.into_rooms();
        for ns in self.target.namespaces() {
            ns.adapter()
                .del_sockets(self.opts.clone(), rooms.clone())
                .await?;
        }
        Ok(())
    }

    /// Disconnects the targeted sockets, on every node (`close`: their connections too).
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), AdapterError> {
        for ns in self.target.namespaces() {
            ns.adapter()
                .disconnect_sockets(self.opts.clone(), close)
                .await?;
        }
        Ok(())
    }
}

/// A socket returned by `fetch_sockets`, connected to this node or another one: it can be
/// described and acted on wherever it is (through the adapter).
#[derive(Clone)]
pub struct RemoteSocket {
    ns: Arc<NsInner>,
    info: SocketInfo,
}

impl fmt::Debug for RemoteSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSocket")
            .field("id", &self.info.id)
            .field("rooms", &self.info.rooms)
            .finish_non_exhaustive()
    }
}

impl RemoteSocket {
    /// The socket id.
    pub fn id(&self) -> &Sid {
        &self.info.id
    }

    /// Its handshake.
    pub fn handshake(&self) -> &Handshake {
        &self.info.handshake
    }

    /// Its rooms when it was fetched.
    pub fn rooms(&self) -> &[Room] {
        &self.info.rooms
    }

    /// Its application data when it was fetched.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
        from_value(self.info.data.clone())
    }

    /// Its application data as a dynamic value.
    pub fn data_value(&self) -> &Value {
        &self.info.data
    }

    /// The full description.
    pub fn info(&self) -> &SocketInfo {
        &self.info
    }

    fn only_me(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.ns.clone()).to(self.info.id.clone())
    }

    /// Emits an event to this socket (`args` as in [`BroadcastOperator::emit`]).
    pub fn emit(&self, event: &str, args: impl IntoArgs) -> Result<(), EmitError> {
        self.only_me().emit(event, args)
    }

    /// Emits an event to this socket and gives its pending acknowledgement: `.await` it for
    /// the answer read as `R` (see [`FromAck`](crate::FromAck)), within the server's
    /// [`ack_timeout`](crate::SocketIoBuilder::ack_timeout) or [`timeout`](Self::timeout)'s.
    ///
    /// ```
    /// # async fn f(io: socketio_server::SocketIo) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    ///
    /// for socket in io.fetch_sockets().await? {
    ///     let n: u64 = socket.timeout(Duration::from_secs(1)).emit_with_ack("count", ())?.await?;
    ///     println!("{}: {n}", socket.id());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn emit_with_ack<A: IntoArgs, R: FromAck>(
        &self,
        event: &str,
        args: A,
    ) -> Result<RemoteAck<R>, EmitError> {
        self.emitter(None).emit_with_ack(event, args)
    }

    /// The acknowledgement of the next emit waits at most `timeout` (the reference's
    /// `remoteSocket.timeout(ms).emitWithAck(..)`): set before emitting, as for
    /// [`BroadcastOperator::timeout`], since the socket may be on another node.
    pub fn timeout(&self, timeout: Duration) -> RemoteEmitter<'_> {
        self.emitter(Some(timeout))
    }

    fn emitter(&self, timeout: Option<Duration>) -> RemoteEmitter<'_> {
        RemoteEmitter {
            socket: self,
            timeout,
        }
    }

    /// Makes this socket join rooms.
    pub async fn join(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.only_me().sockets_join(rooms).await
    }

    /// Makes this socket leave rooms.
    pub async fn leave(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.only_me().sockets_leave(rooms).await
    }

    /// Disconnects this socket (`close`: its connection too).
    pub async fn disconnect(&self, close: bool) -> Result<(), AdapterError> {
        self.only_me().disconnect_sockets(close).await
    }
}

/// Emits to one [`RemoteSocket`] with a timeout for its acknowledgement
/// ([`RemoteSocket::timeout`]).
#[derive(Debug)]
#[must_use = "nothing is emitted until one of its emit methods is called"]
pub struct RemoteEmitter<'a> {
    socket: &'a RemoteSocket,
    timeout: Option<Duration>,
}

impl RemoteEmitter<'_> {
    /// As [`RemoteSocket::emit`].
    pub fn emit(self, event: &str, args: impl IntoArgs) -> Result<(), EmitError> {
        self.socket.emit(event, args)
    }

    /// As [`RemoteSocket::emit_with_ack`], waiting at most this emitter's timeout.
    pub fn emit_with_ack<A: IntoArgs, R: FromAck>(
        self,
        event: &str,
        args: A,
    ) -> Result<RemoteAck<R>, EmitError> {
        let mut only_me = self.socket.only_me();
        if let Some(timeout) = self.timeout {
            only_me = only_me.timeout(timeout);
        }
        Ok(RemoteAck {
            answers: only_me.emit_with_ack(event, args)?,
        })
    }
}

/// The pending answer of one [`RemoteSocket`] ([`RemoteSocket::emit_with_ack`]): `.await` it
/// for the answer read as `R`, as a [`SocketRef`](crate::SocketRef)'s
/// [`AckFuture`](crate::AckFuture).
#[must_use = "the acknowledgement is only received when awaited"]
pub struct RemoteAck<R> {
    answers: AckStream<R>,
}

impl<R> fmt::Debug for RemoteAck<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteAck")
            .field("answers", &self.answers)
            .finish()
    }
}

impl<R: FromAck + Send + 'static> std::future::IntoFuture for RemoteAck<R> {
    type Output = Result<R, AckError>;
    type IntoFuture = BoxFuture<'static, Self::Output>;

    /// The answer; [`AckError::Timeout`] when none came in time (or the socket was gone).
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            use futures_util::StreamExt;
            let mut answers = self.answers;
            match answers.next().await {
                Some((_, answer)) => answer,
                None => Err(AckError::Timeout),
            }
        })
    }
}
