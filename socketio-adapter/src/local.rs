//! What an adapter needs from the namespace it serves on this node: the sockets connected here.

use std::sync::Arc;

use engine_io::Message;
use socketio_parser::{Packet, Value};

use crate::{BroadcastAckSink, BroadcastFlags, Sid, SocketInfo};

/// A packet encoded once into the Engine.IO messages that carry it (one text or binary message,
/// followed by one binary message per attachment with the JSON parser). Cloning is cheap and the
/// same bytes are handed to every recipient.
#[derive(Debug, Clone)]
pub struct EncodedPacket {
    messages: Messages,
}

/// Most packets are one message: kept inline, with no shared slice to allocate per broadcast
/// nor to reach through per recipient.
#[derive(Debug, Clone)]
enum Messages {
    One(Message),
    Many(Arc<[Message]>),
}

impl EncodedPacket {
    /// Wraps encoded messages.
    pub fn new(mut messages: Vec<Message>) -> Self {
        let messages = match messages.pop() {
            Some(one) if messages.is_empty() => Messages::One(one),
            Some(last) => {
                messages.push(last);
                Messages::Many(messages.into())
            }
            None => Messages::Many(Arc::new([])),
        };
        Self { messages }
    }

    /// Wraps a packet encoded as one message (the common case), without a `Vec`.
    pub fn one(message: Message) -> Self {
        Self {
            messages: Messages::One(message),
        }
    }

    /// The Engine.IO messages, in order.
    pub fn messages(&self) -> &[Message] {
        match &self.messages {
            Messages::One(one) => std::slice::from_ref(one),
            Messages::Many(many) => many,
        }
    }

    /// Queues the messages on a connection without waiting, all of them or none (a binary
    /// packet's attachments must not be split by a full queue). `Err(true)` when its outgoing
    /// queue is full, `Err(false)` when it is closing or closed: no policy is applied here.
    #[inline]
    pub fn try_send_to(&self, conn: &engine_io::Socket) -> Result<(), bool> {
        use engine_io::TrySendError::Full;
        match &self.messages {
            Messages::One(single) => conn
                .try_send(single.clone())
                .map_err(|e| matches!(e, Full(_))),
            Messages::Many(many) if many.is_empty() => Ok(()),
            Messages::Many(many) => conn
                .try_send_many(many.to_vec())
                .map_err(|e| matches!(e, Full(_))),
        }
    }

    /// The bytes of the messages (what outgoing metrics count once per recipient).
    pub fn len(&self) -> usize {
        self.messages().iter().map(Message::len).sum()
    }

    /// Whether it carries no message (a packet the encoder refused).
    pub fn is_empty(&self) -> bool {
        self.messages().is_empty()
    }
}

/// Why a packet was not handed to a local socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliverError {
    /// The socket is not connected to this namespace on this node (anymore).
    UnknownSocket,
    /// The packet was volatile and the socket's outgoing queue was full: dropped on purpose.
    VolatileDropped,
    /// The socket's outgoing queue was full: the socket is being disconnected (never a silent drop).
    SlowConsumer,
}

/// A reply from the server-side handler of an event sent by another node
/// (`server_side_emit_with_ack`): called at most once with the handler's answer.
pub type ServerSideAck = Box<dyn FnOnce(Value) + Send>;

/// The namespace of this node, as its adapter sees it. The Socket.IO server implements it; an
/// adapter holds a [`std::sync::Weak`] reference to it (see
/// [`AdapterContext`](crate::AdapterContext)) and reaches the local sockets only through it, so the
/// same adapter code serves requests coming from this node and from other nodes of a cluster.
///
/// Every method is synchronous and must not block: it runs on the caller's task.
pub trait LocalNamespace: Send + Sync + 'static {
    /// The namespace name (e.g. `/` or `/chat`).
    fn name(&self) -> &str;

    /// Encodes a packet with the server's parser, once for all recipients.
    fn encode(&self, packet: &Packet) -> EncodedPacket;

    /// Hands an encoded packet to a local socket's outgoing queue.
    fn deliver(
        &self,
        sid: &str,
        packet: &EncodedPacket,
        flags: &BroadcastFlags,
    ) -> Result<(), DeliverError>;

    /// Hands an encoded packet to each of the local sockets `sids` (a broadcast); returns how
    /// many took it. The default calls [`deliver`](Self::deliver) for each; a namespace may
    /// override it to reach them all in one pass (one lock for all recipients, not one each),
    /// with the same outcome per socket.
    fn deliver_all(&self, sids: &[Sid], packet: &EncodedPacket, flags: &BroadcastFlags) -> usize {
        sids.iter()
            .filter(|sid| self.deliver(sid, packet, flags).is_ok())
            .count()
    }

    /// The Engine.IO connection of a local socket, for the adapter's room index to hold: a
    /// broadcast then hands its packet to each recipient's queue directly
    /// ([`EncodedPacket::try_send_to`]), with no lookup by id, and reports what it delivered so
    /// with [`delivered`](Self::delivered). A recipient whose queue is full (unless the packet
    /// is volatile), or whose connection is not known, goes through
    /// [`deliver_all`](Self::deliver_all) instead, which applies the full-queue policy. The
    /// default knows no connection.
    fn connection(&self, sid: &str) -> Option<Arc<engine_io::Socket>> {
        let _ = sid;
        None
    }

    /// `count` local sockets took `packet` straight through their connection (see
    /// [`connection`](Self::connection)): for the namespace's outgoing counts. The default
    /// ignores it.
    fn delivered(&self, packet: &EncodedPacket, count: usize) {
        let _ = (packet, count);
    }

    /// Hands an encoded packet whose ack id is `ack_id` to a local socket and routes the
    /// socket's acknowledgement to `sink` ([`BroadcastAckSink::ack_from`]). A namespace that
    /// can also reports [`sent`](BroadcastAckSink::sent) once the socket took the packet and
    /// [`lost`](BroadcastAckSink::lost) if it leaves unanswered, so late sockets are named.
    fn deliver_with_ack(
        &self,
        sid: &str,
        packet: &EncodedPacket,
        flags: &BroadcastFlags,
        ack_id: u64,
        sink: &BroadcastAckSink,
    ) -> Result<(), DeliverError>;

    /// Disconnects a local socket from this namespace (`close`: also close the whole
    /// underlying connection), with the reason "server namespace disconnect".
    fn disconnect(&self, sid: &str, close: bool);

    /// Describes a local socket (handshake and data; the adapter fills in the rooms).
    fn socket_info(&self, sid: &str) -> Option<SocketInfo>;

    /// Called when another node of the cluster sent an event with `server_side_emit`:
    /// `args` is `[event, ...args]`; `ack` is set when the sender waits for a reply.
    fn on_server_side_emit(&self, args: Vec<Value>, ack: Option<ServerSideAck>);

    /// Whether [`on_room_event`](Self::on_room_event) wants to be called. Checked before each
    /// membership change so that, when nobody listens, the adapter collects no events at all.
    /// The default is `false`.
    fn wants_room_events(&self) -> bool {
        false
    }

    /// Called by the adapter after a membership change of this node, once per
    /// [`RoomEvent`](crate::RoomEvent) in the reference order, with no adapter lock held (the
    /// callee may query or change membership). The default ignores events.
    fn on_room_event(&self, event: crate::RoomEvent) {
        let _ = event;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// However it is built, an encoded packet gives its messages back in order, and counts
    /// their bytes once.
    #[test]
    fn encoded_packet_keeps_its_messages_in_order() {
        let text = |s: &'static str| Message::from(s);
        let none = EncodedPacket::new(Vec::new());
        assert!(none.is_empty() && none.messages().is_empty());
        assert_eq!(none.len(), 0);
        for one in [
            EncodedPacket::one(text("2[\"a\"]")),
            EncodedPacket::new(vec![text("2[\"a\"]")]),
        ] {
            assert_eq!(one.messages(), [text("2[\"a\"]")]);
            assert_eq!((one.len(), one.is_empty()), (6, false));
            assert_eq!(one.clone().messages(), one.messages());
        }
        let bin = Message::from(vec![1u8, 2, 3]);
        let many = EncodedPacket::new(vec![text("51-[\"b\"]"), bin.clone(), bin.clone()]);
        assert_eq!(many.messages(), [text("51-[\"b\"]"), bin.clone(), bin]);
        assert_eq!(many.len(), 8 + 3 + 3);
    }
}
