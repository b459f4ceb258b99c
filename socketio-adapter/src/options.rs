//! Which sockets a broadcast (or a cluster-wide operation) targets, and how it is delivered.

use std::collections::HashSet;
use std::time::Duration;

use crate::Room;

/// Delivery flags of a broadcast, as in the reference `BroadcastFlags`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastFlags {
    /// The packet may be dropped when a recipient cannot take it right now (its outgoing queue
    /// is full). Volatile packets are never stored for connection state recovery.
    pub volatile: bool,
    /// Compression hint for the transport (`None`: the transport's default).
    pub compress: Option<bool>,
    /// Only sockets connected to this node receive the packet: a cluster adapter must not forward it.
    pub local: bool,
    /// How long a broadcast with acknowledgement waits for the replies (`None`: no timeout).
    pub timeout: Option<Duration>,
}

/// The target of a broadcast or of a cluster-wide operation: the union of `rooms` (every socket
/// when empty) minus every socket in one of the `except` rooms.
///
/// ```
/// use socketio_adapter::BroadcastOptions;
///
/// let opts = BroadcastOptions::default().to("room1").to("room2").except("banned");
/// assert_eq!(opts.rooms.len(), 2);
/// assert!(opts.except.contains("banned"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastOptions {
    /// Target rooms; empty means every socket of the namespace.
    pub rooms: HashSet<Room>,
    /// Sockets in any of these rooms are skipped.
    pub except: HashSet<Room>,
    /// Delivery flags.
    pub flags: BroadcastFlags,
}

impl BroadcastOptions {
    /// Adds a target room.
    #[must_use]
    pub fn to(mut self, room: impl Into<Room>) -> Self {
        self.rooms.insert(room.into());
        self
    }

    /// Adds an excluded room.
    #[must_use]
    pub fn except(mut self, room: impl Into<Room>) -> Self {
        self.except.insert(room.into());
        self
    }

    /// Targets exactly one socket (every socket is in the room named by its id).
    pub fn socket(sid: impl Into<Room>) -> Self {
        Self::default().to(sid)
    }

    /// Whether a socket that is in `socket_rooms` is targeted by these options.
    /// Used to filter stored packets when a session is restored.
    pub fn matches_rooms<'a>(
        &self,
        socket_rooms: impl IntoIterator<Item = &'a Room> + Clone,
    ) -> bool {
        let included = self.rooms.is_empty()
            || socket_rooms
                .clone()
                .into_iter()
                .any(|r| self.rooms.contains(r));
        included && socket_rooms.into_iter().all(|r| !self.except.contains(r))
    }
}
