//! Room membership of the sockets connected to this node: the index every adapter keeps.

use std::collections::{HashMap, HashSet};

use crate::{BroadcastOptions, Room, Sid};

/// Two-way index of room membership (room → sockets and socket → rooms), as the reference
/// in-memory adapter keeps it. Every lookup is O(members of the rooms involved), never
/// O(all sockets), except broadcasts to the whole namespace.
///
/// Public so that cluster adapters keep their local membership the same way.
///
/// ```
/// use socketio_adapter::{BroadcastOptions, RoomIndex};
///
/// let mut index = RoomIndex::default();
/// index.add_all(&"a".into(), &["a".into(), "lobby".into()]);
/// index.add_all(&"b".into(), &["b".into(), "lobby".into()]);
/// let opts = BroadcastOptions::default().to("lobby").except("b");
/// assert_eq!(index.recipients(&opts), vec!["a".into()] as Vec<socketio_adapter::Sid>);
/// ```
#[derive(Debug, Default)]
pub struct RoomIndex {
    rooms: HashMap<Room, HashSet<Sid>>,
    sids: HashMap<Sid, HashSet<Room>>,
}

impl RoomIndex {
    /// Adds a socket to rooms (creating them as needed).
    pub fn add_all(&mut self, sid: &Sid, rooms: &[Room]) {
        let socket_rooms = self.sids.entry(sid.clone()).or_default();
        for room in rooms {
            socket_rooms.insert(room.clone());
            self.rooms
                .entry(room.clone())
                .or_default()
                .insert(sid.clone());
        }
    }

    /// Removes a socket from one room (deleting the room when it becomes empty).
    pub fn del(&mut self, sid: &str, room: &str) {
        if let Some(socket_rooms) = self.sids.get_mut(sid) {
            socket_rooms.remove(room);
        }
        if let Some(members) = self.rooms.get_mut(room) {
            members.remove(sid);
            if members.is_empty() {
                self.rooms.remove(room);
            }
        }
    }

    /// Removes a socket from every room it is in.
    pub fn del_all(&mut self, sid: &str) {
        let Some(socket_rooms) = self.sids.remove(sid) else {
            return;
        };
        for room in socket_rooms {
            if let Some(members) = self.rooms.get_mut(&room) {
                members.remove(sid);
                if members.is_empty() {
                    self.rooms.remove(&room);
                }
            }
        }
    }

    /// The rooms a socket is in (`None` for an unknown socket).
    pub fn socket_rooms(&self, sid: &str) -> Option<&HashSet<Room>> {
        self.sids.get(sid)
    }

    /// The members of a room.
    pub fn room(&self, room: &str) -> Option<&HashSet<Sid>> {
        self.rooms.get(room)
    }

    /// Every room that has at least one member.
    pub fn rooms(&self) -> impl Iterator<Item = &Room> {
        self.rooms.keys()
    }

    /// Every known socket.
    pub fn sids(&self) -> impl Iterator<Item = &Sid> {
        self.sids.keys()
    }

    /// Number of known sockets.
    pub fn len(&self) -> usize {
        self.sids.len()
    }

    /// Whether no socket is known.
    pub fn is_empty(&self) -> bool {
        self.sids.is_empty()
    }

    /// The sockets targeted by `opts`: the union of its rooms (every socket when none) minus the
    /// members of its except rooms, each socket once.
    pub fn recipients(&self, opts: &BroadcastOptions) -> Vec<Sid> {
        // Sockets to skip: the members of every except room, O(members of those rooms).
        let excluded: HashSet<&Sid> = opts
            .except
            .iter()
            .filter_map(|room| self.rooms.get(room))
            .flatten()
            .collect();
        let keep = |sid: &&Sid| !excluded.contains(*sid);
        if opts.rooms.is_empty() {
            return self.sids.keys().filter(keep).cloned().collect();
        }
        if opts.rooms.len() == 1 {
            // One room: its member set is already free of duplicates.
            return opts
                .rooms
                .iter()
                .filter_map(|room| self.rooms.get(room))
                .flatten()
                .filter(keep)
                .cloned()
                .collect();
        }
        let mut seen: HashSet<&Sid> = HashSet::new();
        opts.rooms
            .iter()
            .filter_map(|room| self.rooms.get(room))
            .flatten()
            .filter(|sid| !excluded.contains(*sid) && seen.insert(*sid))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(s: &str) -> Sid {
        s.into()
    }

    fn sorted(mut v: Vec<Sid>) -> Vec<Sid> {
        v.sort();
        v
    }

    #[test]
    fn union_minus_except() {
        let mut idx = RoomIndex::default();
        idx.add_all(&sid("s1"), &["s1".into(), "r1".into(), "r2".into()]);
        idx.add_all(&sid("s2"), &["s2".into(), "r2".into()]);
        idx.add_all(&sid("s3"), &["s3".into(), "r3".into()]);
        let all = BroadcastOptions::default();
        assert_eq!(
            sorted(idx.recipients(&all)),
            vec![sid("s1"), sid("s2"), sid("s3")]
        );
        let r12 = BroadcastOptions::default().to("r1").to("r2");
        assert_eq!(sorted(idx.recipients(&r12)), vec![sid("s1"), sid("s2")]);
        let except = BroadcastOptions::default().to("r2").except("r1");
        assert_eq!(idx.recipients(&except), vec![sid("s2")]);
        let none = BroadcastOptions::default().to("nope");
        assert!(idx.recipients(&none).is_empty());
        let all_but = BroadcastOptions::default().except("s3");
        assert_eq!(sorted(idx.recipients(&all_but)), vec![sid("s1"), sid("s2")]);
    }

    #[test]
    fn empty_rooms_are_deleted() {
        let mut idx = RoomIndex::default();
        idx.add_all(&sid("s1"), &["s1".into(), "r".into()]);
        idx.add_all(&sid("s2"), &["s2".into(), "r".into()]);
        idx.del("s1", "r");
        assert_eq!(idx.room("r").map(HashSet::len), Some(1));
        idx.del_all("s2");
        assert!(idx.room("r").is_none());
        assert!(idx.room("s2").is_none());
        assert_eq!(idx.len(), 1);
        let rooms: Vec<&Room> = idx.rooms().collect();
        assert_eq!(rooms, vec![&Room::from("s1")]);
    }
}
