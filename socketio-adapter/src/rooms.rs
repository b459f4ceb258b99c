//! Room membership of the sockets connected to this node: the index every adapter keeps.

use std::borrow::Borrow;
use std::collections::hash_map::Entry::{Occupied, Vacant};
use std::collections::{HashMap, HashSet};

use indexmap::{set as index_set, IndexSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use engine_io::SidHashBuilder;

use crate::{BroadcastOptions, Room, RoomEvent, Sid};

/// The Engine.IO connection of a local socket, as the room index holds it: a broadcast hands
/// its packet to each recipient's outgoing queue through it, with no lookup by id.
pub type Connection = Arc<engine_io::Socket>;

/// A member of a room: a socket id and, when the namespace gave one
/// ([`LocalNamespace::connection`](crate::LocalNamespace::connection)), the socket's connection.
/// Compared and hashed by id alone.
#[derive(Debug, Clone)]
pub struct Member {
    sid: Sid,
    conn: Option<Connection>,
}

impl Member {
    /// The socket id.
    pub fn sid(&self) -> &Sid {
        &self.sid
    }

    /// The socket's connection, when the index knows it.
    pub fn connection(&self) -> Option<&Connection> {
        self.conn.as_ref()
    }
}

impl Borrow<str> for Member {
    fn borrow(&self) -> &str {
        &self.sid
    }
}

impl PartialEq for Member {
    fn eq(&self, other: &Self) -> bool {
        self.sid == other.sid
    }
}

impl Eq for Member {}

impl Hash for Member {
    // As `str` hashes: lookups by `&str` find it.
    fn hash<H: Hasher>(&self, state: &mut H) {
        (*self.sid).hash(state)
    }
}

/// A set of socket ids or room names (or [`Member`]s of a room), as [`RoomIndex`] keeps them.
/// Most sets hold one element (every socket is alone in its own room, and is often in that
/// room only), so one element is kept inline: no hash table, hasher state or allocation per
/// socket for it. Larger sets keep their elements in one dense array (an [`IndexSet`], its
/// hash table holding positions): a broadcast walks a room's members as a slice, not a
/// sparse hash table, and a leave is still O(1) (the last element takes the place freed).
#[derive(Debug, Clone)]
pub struct Members<E = Arc<str>>(Repr<E>);

impl<E> Default for Members<E> {
    fn default() -> Self {
        Members(Repr::default())
    }
}

#[derive(Debug, Clone, Default)]
enum Repr<E> {
    #[default]
    Empty,
    One(E),
    /// Boxed: keeps every index entry small (the set and its hasher state take nine words; the
    /// box costs an allocation only for sets of two or more).
    Many(Box<IndexSet<E>>),
}

/// The id or name an element is compared by.
fn key<E: Borrow<str>>(e: &E) -> &str {
    e.borrow()
}

impl<E: Borrow<str> + Hash + Eq> Members<E> {
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
            Repr::One(one) => key(one) == x,
            Repr::Many(set) => set.contains(x),
        }
    }

    /// The elements, in no particular order.
    pub fn iter(&self) -> MembersIter<'_, E> {
        MembersIter(match &self.0 {
            Repr::Empty => IterRepr::One(None),
            Repr::One(one) => IterRepr::One(Some(one)),
            Repr::Many(set) => IterRepr::Many(set.iter()),
        })
    }

    /// Calls `f` with each element, in no particular order: [`iter`](Self::iter) without its
    /// per-element dispatch (a room's broadcast loop).
    #[inline]
    pub fn for_each(&self, mut f: impl FnMut(&E)) {
        match &self.0 {
            Repr::Empty => {}
            Repr::One(one) => f(one),
            Repr::Many(set) => set.iter().for_each(f),
        }
    }

    /// Adds `x`; whether it was not there yet.
    fn insert(&mut self, x: E) -> bool {
        match &mut self.0 {
            Repr::Empty => self.0 = Repr::One(x),
            Repr::One(one) if key(one) == key(&x) => return false,
            Repr::One(_) => {
                let Repr::One(one) = std::mem::take(&mut self.0) else {
                    unreachable!("matched above")
                };
                self.0 = Repr::Many(Box::new(IndexSet::from([one, x])));
            }
            Repr::Many(set) => return set.insert(x),
        }
        true
    }

    /// Removes `x` and gives it back (the last element takes its place: O(1)).
    fn take(&mut self, x: &str) -> Option<E> {
        match &mut self.0 {
            Repr::Empty => None,
            Repr::One(one) if key(one) == x => match std::mem::take(&mut self.0) {
                Repr::One(one) => Some(one),
                _ => None,
            },
            Repr::One(_) => None,
            Repr::Many(set) => set.swap_take(x),
        }
    }
}

impl<'a, E: Borrow<str> + Hash + Eq> IntoIterator for &'a Members<E> {
    type Item = &'a E;
    type IntoIter = MembersIter<'a, E>;
    fn into_iter(self) -> MembersIter<'a, E> {
        self.iter()
    }
}

impl<E> IntoIterator for Members<E> {
    type Item = E;
    type IntoIter = std::iter::Chain<std::option::IntoIter<E>, index_set::IntoIter<E>>;
    fn into_iter(self) -> Self::IntoIter {
        let (one, many) = match self.0 {
            Repr::Empty => (None, IndexSet::new()),
            Repr::One(one) => (Some(one), IndexSet::new()),
            Repr::Many(set) => (None, *set),
        };
        one.into_iter().chain(many)
    }
}

/// The iterator of [`Members::iter`].
#[derive(Debug, Clone)]
pub struct MembersIter<'a, E = Arc<str>>(IterRepr<'a, E>);

#[derive(Debug, Clone)]
enum IterRepr<'a, E> {
    One(Option<&'a E>),
    Many(index_set::Iter<'a, E>),
}

impl<'a, E> Iterator for MembersIter<'a, E> {
    type Item = &'a E;
    fn next(&mut self) -> Option<&'a E> {
        match &mut self.0 {
            IterRepr::One(one) => one.take(),
            IterRepr::Many(it) => it.next(),
        }
    }
}

/// What the index knows of a socket: its rooms and its connection.
#[derive(Debug, Default)]
struct Entry {
    rooms: Members,
    conn: Option<Connection>,
}

/// Two-way index of room membership (room → sockets and socket → rooms), as the reference
/// in-memory adapter keeps it. Every lookup is O(members of the rooms involved), never
/// O(all sockets), except broadcasts to the whole namespace. Each room member carries the
/// socket's connection when it is known ([`RoomIndex::add_all_with`]), so a broadcast reaches
/// every recipient without a lookup ([`RoomIndex::for_each_recipient`]).
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
    /// SipHash: room names come from clients (`join` with a name the client sent).
    rooms: HashMap<Room, Members<Member>>,
    /// Socket ids are the servers' choice.
    sids: HashMap<Sid, Entry, SidHashBuilder>,
}

impl RoomIndex {
    /// Adds a socket to rooms (creating them as needed).
    pub fn add_all(&mut self, sid: &Sid, rooms: &[Room]) {
        self.add_all_with(sid, None, rooms, |_| {});
    }

    /// [`add_all`](Self::add_all), reporting each change to `on_event` as the reference
    /// adapter emits it: [`RoomEvent::Create`] when a room is created, then [`RoomEvent::Join`]
    /// when the socket was not already a member, room by room.
    pub fn add_all_notify(&mut self, sid: &Sid, rooms: &[Room], on_event: impl FnMut(RoomEvent)) {
        self.add_all_with(sid, None, rooms, on_event);
    }

    /// [`add_all_notify`](Self::add_all_notify), and the socket's connection for the index to
    /// hold (`None` keeps what it holds). A connection other than the one held replaces it in
    /// every room of the socket.
    pub fn add_all_with(
        &mut self,
        sid: &Sid,
        conn: Option<Connection>,
        rooms: &[Room],
        mut on_event: impl FnMut(RoomEvent),
    ) {
        let entry = self.sids.entry(sid.clone()).or_default();
        if let Some(conn) = conn {
            if !entry.conn.as_ref().is_some_and(|c| Arc::ptr_eq(c, &conn)) {
                entry.conn = Some(conn);
                for room in &entry.rooms {
                    if let Some(members) = self.rooms.get_mut(room) {
                        if let Some(mut m) = members.take(sid) {
                            m.conn = entry.conn.clone();
                            members.insert(m);
                        }
                    }
                }
            }
        }
        for room in rooms {
            entry.rooms.insert(room.clone());
            // One lookup (the clone is a reference count; hashing a room name is not free).
            let members = match self.rooms.entry(room.clone()) {
                Occupied(members) => members.into_mut(),
                Vacant(slot) => {
                    on_event(RoomEvent::Create(room.clone()));
                    slot.insert(Members::default())
                }
            };
            let member = Member {
                sid: sid.clone(),
                conn: entry.conn.clone(),
            };
            if members.insert(member) {
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
        if let Some(entry) = self.sids.get_mut(sid) {
            entry.rooms.take(room);
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
        let Some(entry) = self.sids.remove(sid) else {
            return;
        };
        for room in entry.rooms {
            self.remove_member(&room, sid, &mut on_event);
        }
    }

    /// The room side of a removal (reference `_del`): leave, then delete the room if empty.
    fn remove_member(&mut self, room: &str, sid: &str, on_event: &mut impl FnMut(RoomEvent)) {
        // Taken out and put back unless emptied: one lookup for the room left empty (a
        // socket's own room, at every disconnection), two otherwise, as before.
        let Some((room, mut members)) = self.rooms.remove_entry(room) else {
            return;
        };
        if let Some(m) = members.take(sid) {
            on_event(RoomEvent::Leave(room.clone(), m.sid));
        }
        if members.is_empty() {
            on_event(RoomEvent::Delete(room));
        } else {
            self.rooms.insert(room, members);
        }
    }

    /// The rooms a socket is in (`None` for an unknown socket).
    pub fn socket_rooms(&self, sid: &str) -> Option<&Members> {
        self.sids.get(sid).map(|e| &e.rooms)
    }

    /// The members of a room.
    pub fn room(&self, room: &str) -> Option<&Members<Member>> {
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
        // One room: sized at once (its member count is known).
        let one_room = match opts.rooms.len() {
            1 => opts.rooms.iter().next().and_then(|r| self.rooms.get(r)),
            _ => None,
        };
        let mut out = Vec::with_capacity(one_room.map_or(0, Members::len));
        self.for_each_recipient(opts, |sid, _| out.push(sid.clone()));
        out
    }

    /// Calls `f` with each socket targeted by `opts` (as [`recipients`](Self::recipients)
    /// lists them) and its connection when known: a broadcast's one pass, with no list of
    /// recipients built.
    pub fn for_each_recipient(
        &self,
        opts: &BroadcastOptions,
        mut f: impl FnMut(&Sid, Option<&Connection>),
    ) {
        // Sockets to skip: the members of every except room, O(members of those rooms).
        let excluded: HashSet<&str> = opts
            .except
            .iter()
            .filter_map(|room| self.rooms.get(room))
            .flatten()
            .map(|m| &*m.sid)
            .collect();
        // No except set (the common case): no hashing per recipient.
        let keep = |sid: &str| excluded.is_empty() || !excluded.contains(sid);
        if opts.rooms.is_empty() {
            for (sid, entry) in &self.sids {
                if keep(sid) {
                    f(sid, entry.conn.as_ref());
                }
            }
            return;
        }
        if opts.rooms.len() == 1 {
            // One room: its member set is already free of duplicates.
            if let Some(members) = opts.rooms.iter().find_map(|room| self.rooms.get(room)) {
                if excluded.is_empty() {
                    // The common broadcast: nothing checked per member.
                    members.for_each(|m| f(&m.sid, m.conn.as_ref()));
                } else {
                    members.for_each(|m| {
                        if keep(&m.sid) {
                            f(&m.sid, m.conn.as_ref());
                        }
                    });
                }
            }
            return;
        }
        let mut seen: HashSet<&str> = HashSet::new();
        for m in opts
            .rooms
            .iter()
            .filter_map(|room| self.rooms.get(room))
            .flatten()
        {
            if keep(&m.sid) && seen.insert(&m.sid) {
                f(&m.sid, m.conn.as_ref());
            }
        }
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
        // A room with no member among others: skipped, whatever the order of the set.
        for _ in 0..8 {
            let some = BroadcastOptions::default()
                .to("nope")
                .to("r3")
                .to("gone")
                .to("r1");
            assert_eq!(sorted(idx.recipients(&some)), vec![sid("s1"), sid("s3")]);
        }
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

    /// Leaves move the last member into the freed place: after any mix of joins and leaves a
    /// room's walk ([`Members::for_each`], the broadcast loop) and its iterator give each
    /// remaining member once, with its connection, and nothing else.
    #[test]
    fn a_room_walk_sees_each_member_once_after_leaves() {
        let mut idx = RoomIndex::default();
        let n = 100;
        for i in 0..n {
            idx.add_all(&sid(&format!("s{i}")), &["r".into()]);
        }
        for i in (0..n).step_by(3) {
            idx.del(&format!("s{i}"), "r");
        }
        // Joining again after a leave, and a second join, add nobody twice.
        idx.add_all(&sid("s0"), &["r".into()]);
        idx.add_all(&sid("s1"), &["r".into(), "s1".into()]);
        let mut expected: Vec<Sid> = (0..n)
            .filter(|i| i % 3 != 0 || *i == 0)
            .map(|i| sid(&format!("s{i}")))
            .collect();
        expected.sort();
        let members = idx.room("r").unwrap();
        let mut walked = Vec::new();
        members.for_each(|m| walked.push(m.sid().clone()));
        assert_eq!(sorted(walked), expected);
        assert_eq!(
            sorted(members.iter().map(|m| m.sid().clone()).collect()),
            expected
        );
        assert_eq!(members.len(), expected.len());
        let to_r = BroadcastOptions::default().to("r");
        assert_eq!(sorted(idx.recipients(&to_r)), expected);
        let except = BroadcastOptions::default().to("r").except("s1");
        let without_s1: Vec<Sid> = expected.iter().filter(|s| ***s != *"s1").cloned().collect();
        assert_eq!(sorted(idx.recipients(&except)), without_s1);
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
