//! Upgrading from polling to WebSocket: the probe.
//!
//! As the reference client: right after the handshake over polling, open a WebSocket with the
//! session id and send `2probe`; when the server answers `3probe`, pause polling (let the pending
//! `GET` and any `POST` finish, the server answers the `GET` with a `noop`), then send `5` over
//! the WebSocket and switch. Packets queued meanwhile go out over the WebSocket. Any failure
//! (connection refused, another answer, a close, the deadline) abandons the probe and the
//! connection stays on polling.

use std::sync::Arc;

use engine_io::Packet;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::ConnConfig;
use crate::transport::{TransportHandle, WriteCmd};
use crate::websocket::{self, WsStream};
use crate::Error;

/// A spawned task that is aborted when dropped (an abandoned probe must not linger).
pub(crate) struct AbortOnDrop<T>(pub(crate) JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where the upgrade stands.
pub(crate) enum Probe {
    /// No upgrade (not started yet, or not wanted).
    Idle,
    /// Opening the WebSocket.
    Connecting {
        task: AbortOnDrop<Result<WsStream, Error>>,
        deadline: Instant,
    },
    /// `2probe` sent, waiting for `3probe`.
    AwaitingPong {
        ws: TransportHandle,
        deadline: Instant,
    },
    /// `3probe` received; polling is pausing. Writes are held back meanwhile.
    Pausing {
        ws: TransportHandle,
        deadline: Instant,
        reader_paused: bool,
    },
    /// Upgraded, failed or abandoned: never tried again on this connection.
    Done,
}

/// Starts the probe for session `sid`.
pub(crate) fn start(config: Arc<ConnConfig>, sid: Arc<str>) -> Probe {
    let deadline = Instant::now() + config.connect_timeout;
    let task = tokio::spawn(async move { websocket::connect(&config, Some(&sid)).await });
    Probe::Connecting {
        task: AbortOnDrop(task),
        deadline,
    }
}

impl Probe {
    /// When the probe is abandoned if not finished.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            Probe::Connecting { deadline, .. }
            | Probe::AwaitingPong { deadline, .. }
            | Probe::Pausing { deadline, .. } => Some(*deadline),
            Probe::Idle | Probe::Done => None,
        }
    }

    /// Whether writes must wait for the transport switch.
    pub(crate) fn is_upgrading(&self) -> bool {
        matches!(self, Probe::Pausing { .. })
    }

    pub(crate) fn connecting(&mut self) -> Option<&mut JoinHandle<Result<WsStream, Error>>> {
        match self {
            Probe::Connecting { task, .. } => Some(&mut task.0),
            _ => None,
        }
    }

    pub(crate) fn transport_mut(&mut self) -> Option<&mut TransportHandle> {
        match self {
            Probe::AwaitingPong { ws, .. } | Probe::Pausing { ws, .. } => Some(ws),
            _ => None,
        }
    }

    /// The WebSocket is open: send `2probe`.
    pub(crate) fn connected(&mut self, ws: TransportHandle) -> Result<(), Error> {
        let Probe::Connecting { deadline, .. } = *self else {
            return Ok(());
        };
        ws.writer
            .try_send(WriteCmd::Packets(vec![Packet::ping_probe()]))
            .map_err(|_| Error::WebSocket("probe transport closed".to_owned()))?;
        *self = Probe::AwaitingPong { ws, deadline };
        Ok(())
    }

    pub(crate) fn awaiting_pong(&self) -> bool {
        matches!(self, Probe::AwaitingPong { .. })
    }

    /// `3probe` arrived: polling must pause now.
    pub(crate) fn pong_received(&mut self) {
        if let Probe::AwaitingPong { .. } = self {
            if let Probe::AwaitingPong { ws, deadline } = std::mem::replace(self, Probe::Done) {
                *self = Probe::Pausing {
                    ws,
                    deadline,
                    reader_paused: false,
                };
            }
        }
    }

    /// The polling receive loop stopped.
    pub(crate) fn reader_paused(&mut self) {
        if let Probe::Pausing { reader_paused, .. } = self {
            *reader_paused = true;
        }
    }

    /// While pausing: whether the polling receive loop has stopped.
    pub(crate) fn pause_state(&self) -> Option<bool> {
        match self {
            Probe::Pausing { reader_paused, .. } => Some(*reader_paused),
            _ => None,
        }
    }

    /// Takes the WebSocket to switch to it.
    pub(crate) fn take_transport(&mut self) -> Option<TransportHandle> {
        match std::mem::replace(self, Probe::Done) {
            Probe::AwaitingPong { ws, .. } | Probe::Pausing { ws, .. } => Some(ws),
            other => {
                *self = other;
                None
            }
        }
    }
}
