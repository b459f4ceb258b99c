//! The UI's actions: emit, join, leave and disconnect, on a namespace or the sockets of a room.

use socketio_parser::Value;

use crate::{Args, IntoRooms, SocketIo, SocketRef};

/// The UI's actions (reference `registerFeatureHandlers`, Socket.IO v4 flavour): on a whole
/// namespace, or on the sockets of the room `filter` (a socket id is a room).
pub(super) fn register_actions(socket: &SocketRef) {
    socket.on("emit", |io: SocketIo, Args(args): Args| async move {
        let mut args = args.into_iter();
        let (Some(nsp), filter, Some(Value::String(event))) =
            (args.next(), args.next(), args.next())
        else {
            return;
        };
        if let Some(op) = target(&io, &nsp, filter.as_ref()) {
            let _ = op.emit(&event, Args(args.collect()));
        }
    });
    socket.on("join", |io: SocketIo, Args(args): Args| async move {
        if let [nsp, Value::String(room), rest @ ..] = args.as_slice() {
            if let Some(op) = target(&io, nsp, rest.first()) {
                let _ = op.sockets_join(room.as_str()).await;
            }
        }
    });
    socket.on("leave", |io: SocketIo, Args(args): Args| async move {
        if let [nsp, Value::String(room), rest @ ..] = args.as_slice() {
            if let Some(op) = target(&io, nsp, rest.first()) {
                let _ = op.sockets_leave(room.as_str()).await;
            }
        }
    });
    socket.on("_disconnect", |io: SocketIo, Args(args): Args| async move {
        if let [nsp, close, rest @ ..] = args.as_slice() {
            let close = close.as_bool().unwrap_or(false);
            if let Some(op) = target(&io, nsp, rest.first()) {
                let _ = op.disconnect_sockets(close).await;
            }
        }
    });
}

/// The broadcast an action targets: namespace `nsp` (it must exist), in room `filter` if set.
fn target(io: &SocketIo, nsp: &Value, filter: Option<&Value>) -> Option<crate::BroadcastOperator> {
    let ns = io.of(nsp.as_str()?)?;
    Some(match filter.and_then(Value::as_str) {
        Some(room) if !room.is_empty() => ns.to(room.into_rooms()),
        _ => ns.broadcast(),
    })
}
