//! Room lifecycle events: what the reference adapter emits as `create-room`, `delete-room`,
//! `join-room` and `leave-room`.

use crate::{Room, Sid};

/// A change of room membership on this node, in the order the reference in-memory adapter
/// emits them:
///
/// * joining: [`Create`](Self::Create) (only if the room did not exist) then
///   [`Join`](Self::Join) (only if the socket was not already a member), room by room; a
///   socket's own room (named by its id) counts like any other;
/// * leaving: [`Leave`](Self::Leave) (only if the socket was a member) then
///   [`Delete`](Self::Delete) when the room became empty;
/// * disconnecting: the same as leaving, for every room of the socket.
///
/// The room names and socket ids are shared (`Arc<str>`): cloning an event allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RoomEvent {
    /// A room was created (reference `create-room`).
    Create(Room),
    /// A room lost its last member and was deleted (reference `delete-room`).
    Delete(Room),
    /// A socket joined a room (reference `join-room`).
    Join(Room, Sid),
    /// A socket left a room (reference `leave-room`).
    Leave(Room, Sid),
}

impl RoomEvent {
    /// The room concerned.
    pub fn room(&self) -> &Room {
        match self {
            Self::Create(room)
            | Self::Delete(room)
            | Self::Join(room, _)
            | Self::Leave(room, _) => room,
        }
    }

    /// The socket concerned (`None` for [`Create`](Self::Create) and [`Delete`](Self::Delete)).
    pub fn sid(&self) -> Option<&Sid> {
        match self {
            Self::Join(_, sid) | Self::Leave(_, sid) => Some(sid),
            Self::Create(_) | Self::Delete(_) => None,
        }
    }

    /// The reference event name (`create-room`, `delete-room`, `join-room`, `leave-room`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Create(_) => "create-room",
            Self::Delete(_) => "delete-room",
            Self::Join(..) => "join-room",
            Self::Leave(..) => "leave-room",
        }
    }
}
