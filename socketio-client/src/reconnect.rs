//! Reconnection: the task that opens a manager's Engine.IO connection, reads it, and reopens it
//! with [`Backoff`] when it is lost (the reference client's `Manager.reconnect`, socket.io-client
//! 4.8 `lib/manager.ts`). One runs per manager while it has sockets.

use std::sync::Arc;

use engine_io::Message;
use engine_io_client::{CloseReason, Event as EngineEvent};
use socketio_parser::{Decoder, Packet};

use crate::backoff::Backoff;
use crate::manager::{ManagerEvent, ManagerShared};
use crate::{DisconnectReason, Error};

/// Opens the connection, reads it, reopens it with backoff; ends when no socket is left, when
/// reconnection is off and the connection closed, or when the attempts are exhausted.
pub(crate) async fn drive(manager: Arc<ManagerShared>) {
    // A socket may be added while the driver decides to stop: then it starts over.
    while drive_once(&manager).await {}
}

/// One run of the driver; returns whether it must run again.
async fn drive_once(manager: &Arc<ManagerShared>) -> bool {
    let opts = &manager.options;
    let mut backoff = Backoff::new(
        opts.reconnection_delay,
        opts.reconnection_delay_max,
        opts.randomization_factor,
    );
    let mut reconnecting = false;
    // Whether the loop ends because no socket is left (rather than reconnection being over).
    let mut idle = false;
    loop {
        if manager.should_stop() {
            idle = true;
            break;
        }
        if reconnecting {
            if backoff.attempts() >= opts.reconnection_attempts {
                manager.emit(ManagerEvent::ReconnectFailed);
                let error = Error::ConnectionLost {
                    reason: DisconnectReason::TransportError,
                    cause: Some(format!(
                        "gave up after {} reconnection attempts",
                        backoff.attempts()
                    )),
                };
                for socket in manager.sockets() {
                    socket.on_open_error(error.clone()).await;
                }
                break;
            }
            let delay = backoff.duration();
            tracing::debug!(url = %opts.engine.url, ?delay, "reconnecting");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = manager.wake.notified() => {}
            }
            if manager.should_stop() {
                idle = true;
                break;
            }
            manager.emit(ManagerEvent::ReconnectAttempt(backoff.attempts()));
        }
        let opened = tokio::time::timeout(opts.connect_timeout, opts.engine.connect()).await;
        let (client, events) = match opened {
            Ok(Ok(pair)) => pair,
            failed => {
                if manager.should_stop() {
                    idle = true;
                    break;
                }
                let error = match failed {
                    Ok(Err(e)) => Error::Engine(e),
                    _ => Error::ConnectTimeout(opts.connect_timeout),
                };
                manager.emit(ManagerEvent::Error(error.clone()));
                for socket in manager.sockets() {
                    socket.on_open_error(error.clone()).await;
                }
                if reconnecting {
                    manager.emit(ManagerEvent::ReconnectError(error));
                }
                if !opts.reconnection {
                    break;
                }
                reconnecting = true;
                continue;
            }
        };
        if reconnecting {
            manager.emit(ManagerEvent::Reconnect(backoff.attempts()));
        }
        backoff.reset();
        let sockets = manager.opened(client.clone());
        manager.emit(ManagerEvent::Open);
        for socket in sockets {
            // Each socket evaluates its auth (maybe a slow async callback) on its own.
            tokio::spawn(socket.on_open());
        }
        let (reason, cause) = read(manager, &client, events).await;
        manager.lost();
        client.close().await;
        manager.emit(ManagerEvent::Close(reason));
        for socket in manager.sockets() {
            socket.on_close(reason, cause.clone()).await;
        }
        if !opts.reconnection {
            break;
        }
        reconnecting = true;
    }
    let (engine, restart) = manager.stop_driving(idle);
    if let Some(engine) = engine {
        engine.close().await;
    }
    restart
}

/// Reads one connection until it closes; returns why (and the underlying error, if any).
async fn read(
    manager: &Arc<ManagerShared>,
    client: &engine_io_client::Client,
    mut events: engine_io_client::Events,
) -> (DisconnectReason, Option<String>) {
    let mut decoder = Decoder::new(manager.options.parser);
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = manager.wake.notified() => {
                if manager.should_stop() {
                    client.close().await;
                    return (DisconnectReason::ForcedClose, None);
                }
                continue;
            }
        };
        let message = match event {
            Some(EngineEvent::Message(message)) => message,
            Some(EngineEvent::Close(reason)) => {
                return (
                    close_reason(&reason),
                    reason.error().map(ToString::to_string),
                )
            }
            None => return (DisconnectReason::TransportClose, None),
            Some(_) => continue,
        };
        let decoded = match message {
            Message::Text(text) => decoder.decode_text(text.as_str()),
            Message::Binary(data) => decoder.decode_binary(data),
        };
        match decoded {
            Ok(Some(packet)) => route(manager, packet).await,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(url = %manager.options.engine.url, "invalid packet from the server: {e}");
                client.close().await;
                return (DisconnectReason::ParseError, Some(e.to_string()));
            }
        }
    }
}

/// Hands a packet to the socket of its namespace (packets for other namespaces are ignored, as
/// in the reference).
async fn route(manager: &Arc<ManagerShared>, packet: Packet) {
    let socket = manager.socket(&packet.nsp);
    if let Some(socket) = socket {
        socket.on_packet(packet).await;
    }
}

fn close_reason(reason: &CloseReason) -> DisconnectReason {
    DisconnectReason::from(reason.kind())
}
