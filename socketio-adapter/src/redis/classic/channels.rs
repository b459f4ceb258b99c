//! [`Channels`]: the channel names of one namespace in the classic format.

use crate::BroadcastOptions;

/// The channel names of one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channels {
    /// `prefix#nsp#`: broadcasts to the whole namespace (and the pattern prefix).
    pub broadcast: String,
    /// `prefix-request#nsp#`.
    pub request: String,
    /// `prefix-response#nsp#`.
    pub response: String,
}

impl Channels {
    /// The channels of namespace `nsp` under key prefix `prefix`.
    pub fn new(prefix: &str, nsp: &str) -> Self {
        Channels {
            broadcast: format!("{prefix}#{nsp}#"),
            request: format!("{prefix}-request#{nsp}#"),
            response: format!("{prefix}-response#{nsp}#"),
        }
    }

    /// The pattern every node subscribes to for broadcasts: `prefix#nsp#*`.
    pub fn broadcast_pattern(&self) -> String {
        format!("{}*", self.broadcast)
    }

    /// The channel of a broadcast to exactly one room: `prefix#nsp#room#`.
    pub fn room(&self, room: &str) -> String {
        format!("{}{room}#", self.broadcast)
    }

    /// The channel a broadcast with these options is published on.
    pub fn for_broadcast(&self, opts: &BroadcastOptions) -> String {
        match (opts.rooms.len(), opts.rooms.iter().next()) {
            (1, Some(room)) => self.room(room),
            _ => self.broadcast.clone(),
        }
    }

    /// The per-node response channel of node `uid`: `prefix-response#nsp#uid#`.
    pub fn specific_response(&self, uid: &str) -> String {
        format!("{}{uid}#", self.response)
    }

    /// The room a broadcast channel names (`""` for the namespace-wide channel), or `None` if
    /// the channel is not one of this namespace's broadcast channels.
    pub fn room_of<'a>(&self, channel: &'a str) -> Option<&'a str> {
        let rest = channel.strip_prefix(self.broadcast.as_str())?;
        if rest.is_empty() {
            return Some("");
        }
        rest.strip_suffix('#')
    }
}
