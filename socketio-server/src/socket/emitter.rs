//! [`SocketEmitter`]: one emit on one socket with per-emit flags.

use tokio::sync::oneshot;

use socketio_adapter::{BroadcastFlags, BroadcastOptions};
use socketio_parser::{IntoArgs, Packet};

use super::{check_event, notify_outgoing, SocketRef};
use crate::ack::{AckFuture, AckSlot};
use crate::EmitError;

/// Emits on one socket with flags ([`SocketRef::volatile`]; an acknowledgement's timeout is set
/// on its [`AckFuture`], as on the client). There is
/// no compression flag: this server's transports never compress per message (see
/// [`BroadcastOperator::compress`](crate::BroadcastOperator::compress)).
#[derive(Debug)]
#[must_use]
pub struct SocketEmitter<'a> {
    pub(super) socket: &'a SocketRef,
    pub(super) flags: BroadcastFlags,
}

impl SocketEmitter<'_> {
    /// Emits an event with `args`: one `Serialize` value (`&v`), `()` for none, or
    /// [`Args`](crate::Args) for several (see [`IntoArgs`]).
    pub fn emit(self, event: &str, args: impl IntoArgs) -> Result<(), EmitError> {
        let socket = self.socket;
        check_event(event)?;
        let args = args.into_args()?;
        if !socket.connected() {
            return Err(EmitError::Disconnected);
        }
        notify_outgoing(socket, event, &args);
        if socket.ns.config.recovery.is_some() {
            // Through the adapter, so the packet gets an offset and is stored for replay
            // (reference behaviour with connection state recovery).
            let packet = Packet::event(&*socket.ns.name, event, args);
            let opts = BroadcastOptions {
                flags: self.flags,
                ..BroadcastOptions::socket(socket.id.clone())
            };
            socket.ns.adapter().broadcast(packet, opts)?;
            return Ok(());
        }
        socket.send_event(event, &args, None, self.flags.volatile)
    }

    /// Emits an event (`args` as in [`emit`](Self::emit)) and waits for the acknowledgement.
    pub fn emit_with_ack<A: IntoArgs, R>(
        self,
        event: &str,
        args: A,
    ) -> Result<AckFuture<R>, EmitError> {
        let socket = self.socket;
        check_event(event)?;
        let args = args.into_args()?;
        if !socket.connected() {
            return Err(EmitError::Disconnected);
        }
        notify_outgoing(socket, event, &args);
        let id = socket.ns.next_ack_id();
        let (tx, rx) = oneshot::channel();
        socket.register_ack(id, AckSlot::Single(tx));
        if let Err(e) = socket.send_event(event, &args, Some(id), self.flags.volatile) {
            socket.forget_ack(id);
            return Err(e);
        }
        Ok(AckFuture::new(
            socket.0.clone(),
            id,
            rx,
            socket.ns.config.ack_timeout,
        ))
    }
}
