//! Room membership of the sockets connected to this node: the index every adapter keeps.

use std::collections::{hash_set, HashMap, HashSet};
use std::sync::Arc;

use crate::{BroadcastOptions, Room, RoomEvent, Sid};

/// A set of socket ids or room names, as [`RoomIndex`] keeps them. Most sets hold one element
/// (every socket is alone in its own room, and is often in that room only), so one element is
/// kept inline: no hash table, hasher state or allocation per socket for it.
#[derive(Debug, Clone, Default)]
pub struct Members(Repr);

#[derive(Debug, Clone, Default)]
enum Repr {
    #[default]
    Empty,
    One(Arc<str>),
    /// Boxed: keeps every index entry small (the hash set and its hasher state are 48 bytes;
    /// the box costs an allocation only for sets of two or more).
    #[allow(clippy::box_collection)]
    Many(Box<HashSet<Arc<str>>>),
}

impl Members {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Empty => 0,
            Repr::One(_) => 1,
            Repr::Many(set) => set.len(),
        }
    }

    /// Whether there is no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `x` is an element.
    pub fn contains(&self, x: &str) -> bool {
        match &self.0 {
            Repr::Empty => false,
            Repr::One(one) => **one == *x,
            Repr::Many(set) => set.contains(x),
        }
    }

    /// The elements, in no particular order.
    pub fn iter(&self) -> MembersIter<'_> {
        MembersIter(match &self.0 {
            Repr::Empty => IterRepr::One(None),
            Repr::One(one) => IterRepr::One(Some(one)),
            Repr::Many(set) => IterRepr::Many(set.iter()),
        })
    }

    /// Adds `x`; whether it was not there yet.
    fn insert(&mut self, x: Arc<str>) -> bool {
        match &mut self.0 {
            Repr::Empty => self.0 = Repr::One(x),
            Repr::One(one) if *one == x => return false,
            Repr::One(_) => {
                let Repr::One(one) = std::mem::take(&mut self.0) else {
                    unreachable!("matched above")
                };
                self.0 = Repr::Many(Box::new(HashSet::from([one, x])));
            }
            Repr::Many(set) => return set.insert(x),
        }
        true
    }

    /// Removes `x` and gives it back.
    fn take(&mut self, x: &str) -> Option<Arc<str>> {
        match &mut self.0 {
            Repr::Empty => None,
            Repr::One(one) if **one == *x => match std::mem::take(&mut self.0) {
                Repr::One(one) => Some(one),
                _ => None,
            },
            Repr::One(_) => None,
            Repr::Many(set) => set.take(x),
        }
    }
}

impl<'a> IntoIterator for &'a Members {
    type Item = &'a Arc<str>;
    type IntoIter = MembersIter<'a>;
    fn into_iter(self) -> MembersIter<'a> {
        self.iter()
    }
}

impl IntoIterator for Members {
    type Item = Arc<str>;
    type IntoIter = std::iter::Chain<std::option::IntoIter<Arc<str>>, hash_set::IntoIter<Arc<str>>>;
    fn into_iter(self) -> Self::IntoIter {
        let (one, many) = match self.0 {
            Repr::Empty => (None, HashSet::new()),
            Repr::One(one) => (Some(one), HashSet::new()),
            Repr::Many(set) => (None, *set),
        };
        one.into_iter().chain(many)
    }
}

/// The iterator of [`Members::iter`].
#[derive(Debug, Clone)]
pub struct MembersIter<'a>(IterRepr<'a>);

#[derive(Debug, Clone)]
enum IterRepr<'a> {
    One(Option<&'a Arc<str>>),
    Many(hash_set::Iter<'a, Arc<str>>),
}

impl<'a> Iterator for MembersIter<'a> {
    type Item = &'a Arc<str>;
    fn next(&mut self) -> Option<&'a Arc<str>> {
        match &mut self.0 {
            IterRepr::One(one) => one.take(),
            IterRepr::Many(it) => it.next(),
        }
    }
}

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
    rooms: HashMap<Room, Members>,
    sids: HashMap<Sid, Members>,
}

impl RoomIndex {
    /// Adds a socket to rooms (creating them as needed).
    pub fn add_all(&mut self, sid: &Sid, rooms: &[Room]) {
        self.add_all_notify(sid, rooms, |_| {});
    }

    /// [`add_all`](Self::add_all), reporting each change to `on_event` as the reference
    /// adapter emits it: [`RoomEvent::Create`] when a room is created, then [`RoomEvent::Join`]
    /// when the socket was not already a member, room by room.
    pub fn add_all_notify(
        &mut self,
        sid: &Sid,
        rooms: &[Room],
        mut on_event: impl FnMut(RoomEvent),
    ) {
        let socket_rooms = self.sids.entry(sid.clone()).or_default();
        for room in rooms {
            socket_rooms.insert(room.clone());
            let members = match self.rooms.get_mut(room) {
                Some(members) => members,
                None => {
                    on_event(RoomEvent::Create(room.clone()));
                    self.rooms.entry(room.clone()).or_default()
                }
            };
            if members.insert(sid.clone()) {
                on_event(RoomEvent::Join(room.clone(), sid.clone()));
            }
        }
    }

    /// Removes a socket from one room (deleting the room when it becomes empty).
    pub fn del(&mut self, sid: &str, room: &str) {
        self.del_notify(sid, room, |_| {});
    }

    /// [`del`](Self::del), reporting [`RoomEvent::Leave`] if the socket was a member, then
    /// [`RoomEvent::Delete`] if the room became empty.
    pub fn del_notify(&mut self, sid: &str, room: &str, mut on_event: impl FnMut(RoomEvent)) {
        if let Some(socket_rooms) = self.sids.get_mut(sid) {
            socket_rooms.take(room);
        }
        self.remove_member(room, sid, &mut on_event);
    }

    /// Removes a socket from every room it is in.
    pub fn del_all(&mut self, sid: &str) {
        self.del_all_notify(sid, |_| {});
    }

    /// [`del_all`](Self::del_all), reporting [`RoomEvent::Leave`] then (if the room became
    /// empty) [`RoomEvent::Delete`] for each room of the socket.
    pub fn del_all_notify(&mut self, sid: &str, mut on_event: impl FnMut(RoomEvent)) {
        let Some(socket_rooms) = self.sids.remove(sid) else {
            return;
        };
        for room in socket_rooms {
            self.remove_member(&room, sid, &mut on_event);
        }
    }

    /// The room side of a removal (reference `_del`): leave, then delete the room if empty.
    fn remove_member(&mut self, room: &str, sid: &str, on_event: &mut impl FnMut(RoomEvent)) {
        let Some(members) = self.rooms.get_mut(room) else {
            return;
        };
        let left = members.take(sid);
        if members.is_empty() {
            if let Some((room, _)) = self.rooms.remove_entry(room) {
                if let Some(sid) = left {
                    on_event(RoomEvent::Leave(room.clone(), sid));
                }
                on_event(RoomEvent::Delete(room));
            }
        } else if let (Some(sid), Some((room, _))) = (left, self.rooms.get_key_value(room)) {
            on_event(RoomEvent::Leave(room.clone(), sid));
        }
    }

    /// The rooms a socket is in (`None` for an unknown socket).
    pub fn socket_rooms(&self, sid: &str) -> Option<&Members> {
        self.sids.get(sid)
    }

    /// The members of a room.
    pub fn room(&self, room: &str) -> Option<&Members> {
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
            // One room: its member set is already free of duplicates. Sized at once (a
            // flattened iterator has no size hint: the vector would grow step by step).
            let Some(members) = opts.rooms.iter().find_map(|room| self.rooms.get(room)) else {
                return Vec::new();
            };
            let mut out = Vec::with_capacity(members.len());
            out.extend(members.iter().filter(keep).cloned());
            return out;
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
    fn members_keep_one_element_inline_and_grow() {
        // The index's entries stay small: one pointer-sized element or one box.
        assert!(std::mem::size_of::<Members>() <= 24);
        let mut m = Members::default();
        assert!(m.is_empty() && !m.contains("a"));
        assert!(m.insert(sid("a")));
        assert!(!m.insert(sid("a")));
        assert_eq!((m.len(), m.contains("a")), (1, true));
        assert!(m.insert(sid("b")) && m.insert(sid("c")));
        assert_eq!(
            sorted(m.iter().cloned().collect()),
            vec![sid("a"), sid("b"), sid("c")]
        );
        assert_eq!(m.take("b"), Some(sid("b")));
        assert_eq!(m.take("b"), None);
        assert_eq!(
            sorted(m.clone().into_iter().collect()),
            vec![sid("a"), sid("c")]
        );
        assert!(m.take("a").is_some() && m.take("c").is_some() && m.is_empty());
        let mut one = Members::default();
        one.insert(sid("x"));
        assert_eq!(one.take("y"), None);
        assert_eq!(one.into_iter().collect::<Vec<_>>(), vec![sid("x")]);
    }

    #[test]
    fn empty_rooms_are_deleted() {
        let mut idx = RoomIndex::default();
        idx.add_all(&sid("s1"), &["s1".into(), "r".into()]);
        idx.add_all(&sid("s2"), &["s2".into(), "r".into()]);
        idx.del("s1", "r");
        assert_eq!(idx.room("r").map(Members::len), Some(1));
        idx.del_all("s2");
        assert!(idx.room("r").is_none());
        assert!(idx.room("s2").is_none());
        assert_eq!(idx.len(), 1);
        let rooms: Vec<&Room> = idx.rooms().collect();
        assert_eq!(rooms, vec![&Room::from("s1")]);
    }
    #[test]
    fn events_follow_the_reference_order() {
        use RoomEvent::{Create, Delete, Join, Leave};
        let r = |s: &str| Room::from(s);
        let mut idx = RoomIndex::default();
        let mut events = Vec::new();
        // Connect: the socket's own room is created and joined like any other.
        idx.add_all_notify(&sid("s1"), &[r("s1"), r("x")], |e| events.push(e));
        assert_eq!(
            std::mem::take(&mut events),
            [
                Create(r("s1")),
                Join(r("s1"), sid("s1")),
                Create(r("x")),
                Join(r("x"), sid("s1")),
            ]
        );
        // Joining an existing room: no create; joining again: nothing.
        idx.add_all_notify(&sid("s2"), &[r("x")], |e| events.push(e));
        idx.add_all_notify(&sid("s2"), &[r("x")], |e| events.push(e));
        assert_eq!(std::mem::take(&mut events), [Join(r("x"), sid("s2"))]);
        // Leaving a room that keeps members: no delete; leaving it again or an unknown room:
        // nothing.
        idx.del_notify("s1", "x", |e| events.push(e));
        idx.del_notify("s1", "x", |e| events.push(e));
        idx.del_notify("s1", "nope", |e| events.push(e));
        idx.del_notify("ghost", "x", |e| events.push(e));
        assert_eq!(std::mem::take(&mut events), [Leave(r("x"), sid("s1"))]);
        // The last member leaves: leave then delete.
        idx.del_notify("s2", "x", |e| events.push(e));
        assert_eq!(
            std::mem::take(&mut events),
            [Leave(r("x"), sid("s2")), Delete(r("x"))]
        );
        // Disconnect: leave then delete for each room (rooms in any order).
        idx.add_all_notify(&sid("s2"), &[r("s1"), r("y")], |_| {});
        idx.del_all_notify("s1", |e| events.push(e));
        assert_eq!(std::mem::take(&mut events), [Leave(r("s1"), sid("s1"))]);
        idx.del_all_notify("s2", |e| events.push(e));
        assert_eq!(events.len(), 4);
        for pair in events.chunks(2) {
            let room = pair[0].room().clone();
            assert_eq!(pair, [Leave(room.clone(), sid("s2")), Delete(room)]);
        }
        events.clear();
        idx.del_all_notify("s2", |e| events.push(e));
        assert!(events.is_empty());
        assert!(idx.is_empty());
        assert_eq!(idx.rooms().count(), 0);
    }
}
