//! Upgrading from polling to WebSocket: the probe, as one state.
//!
//! As the reference client: right after the handshake over polling, open a WebSocket with the
//! session id and send `2probe`; when the server answers `3probe`, pause polling (let the pending
//! `GET` and any `POST` finish, the server answers the `GET` with a `noop`), then send `5` over
//! the WebSocket and switch. Packets queued meanwhile go out over the WebSocket. Any failure
//! (connection refused, another answer, a close, the deadline) abandons the probe and the
//! connection stays on polling.
//!
//! This module holds the rules of the upgrade's own state; the
//! [`Connection`](crate::connection::Connection) combines them with the write buffer (the switch
//! waits for the `POST` in flight) and the close, and the driver does the I/O (opening the
//! WebSocket, pausing the polling loop).

use engine_io::{Packet, PacketType};

use crate::Error;

/// Where the upgrade stands. The deadline of the states that wait on the network is
/// [`Timer::Upgrade`](crate::timer::Timer::Upgrade).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upgrade {
    /// No upgrade (not wanted, or the session is not on polling).
    Idle,
    /// Opening the WebSocket.
    Connecting,
    /// `2probe` sent on the WebSocket, waiting for `3probe`.
    Probing,
    /// `3probe` received; polling is asked to stop after the pending `GET`. Writes wait.
    Pausing,
    /// Polling stopped; the switch happens once no `POST` is in flight. Writes wait.
    Paused,
    /// The probe failed while polling was pausing: polling restarts once it reports paused.
    Resuming,
    /// Upgraded, failed or abandoned: never tried again on this connection.
    Done,
}

/// What the polling transport must do after the probe failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterFailure {
    /// Nothing: polling never paused.
    Nothing,
    /// Restart polling now (it had stopped).
    Resume,
    /// Restart polling when it reports paused ([`Upgrade::Resuming`]).
    ResumeWhenPaused,
}

impl Upgrade {
    /// Whether a probe is under way (it has a WebSocket or is opening one, and a deadline).
    pub(crate) fn in_progress(self) -> bool {
        matches!(
            self,
            Upgrade::Connecting | Upgrade::Probing | Upgrade::Pausing | Upgrade::Paused
        )
    }

    /// Whether writes must wait for the switch of transports.
    pub(crate) fn holds_writes(self) -> bool {
        matches!(self, Upgrade::Pausing | Upgrade::Paused)
    }

    /// The WebSocket is open: the packet to send on it (`2probe`), if the probe still wants it.
    pub(crate) fn opened(&mut self) -> Option<Packet> {
        if *self != Upgrade::Connecting {
            return None;
        }
        *self = Upgrade::Probing;
        Some(Packet::ping_probe())
    }

    /// A packet on the probe WebSocket: only `3probe`, and only once, is expected.
    ///
    /// # Errors
    /// [`Error::Protocol`] for anything else; the probe has then failed.
    pub(crate) fn probe_packet(&mut self, packet: &Packet) -> Result<(), Error> {
        let is_probe_pong =
            packet.packet_type == PacketType::Pong && packet.data.as_text() == Some("probe");
        if is_probe_pong && *self == Upgrade::Probing {
            *self = Upgrade::Pausing;
            return Ok(());
        }
        Err(Error::Protocol(format!(
            "unexpected {} packet during the upgrade probe",
            packet.packet_type
        )))
    }

    /// Polling reports its receive loop stopped; returns whether to restart it at once.
    pub(crate) fn polling_paused(&mut self) -> bool {
        match self {
            Upgrade::Pausing => {
                *self = Upgrade::Paused;
                false
            }
            Upgrade::Resuming => {
                *self = Upgrade::Done;
                true
            }
            _ => false,
        }
    }

    /// The probe failed; `None` when no probe was under way.
    pub(crate) fn fail(&mut self) -> Option<AfterFailure> {
        let after = match self {
            Upgrade::Connecting | Upgrade::Probing => AfterFailure::Nothing,
            Upgrade::Pausing => AfterFailure::ResumeWhenPaused,
            Upgrade::Paused => AfterFailure::Resume,
            Upgrade::Idle | Upgrade::Resuming | Upgrade::Done => return None,
        };
        *self = if after == AfterFailure::ResumeWhenPaused {
            Upgrade::Resuming
        } else {
            Upgrade::Done
        };
        Some(after)
    }

    /// The client closes: a probe under way is dropped silently (the close goes over the current
    /// transport, and a paused polling loop stays paused). Returns whether one was.
    pub(crate) fn abandon(&mut self) -> bool {
        if !self.in_progress() {
            return false;
        }
        *self = Upgrade::Done;
        true
    }

    /// Ready to switch when polling stopped and the writer is idle; then the upgrade is done.
    pub(crate) fn try_switch(&mut self, writer_idle: bool) -> bool {
        if *self != Upgrade::Paused || !writer_idle {
            return false;
        }
        *self = Upgrade::Done;
        true
    }
}
