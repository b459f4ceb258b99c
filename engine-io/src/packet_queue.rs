//! [`PacketQueue`]: a socket's outgoing packets, appended one by one and taken whole.
//!
//! A broadcast burst queues hundreds of packets on each recipient before its writer runs. In one
//! `Vec` that growth doubles the buffer again and again, copying every packet queued so far each
//! time (about one extra copy of each packet, and the old buffer's memory touched once more). Here
//! a buffer that reaches [`CHUNK`] packets is set aside whole and the next ones go to a new
//! buffer twice its size (up to [`CHUNK_MAX`]): nothing queued is ever moved, and a deep queue
//! takes few allocations. Emptied, a queue keeps only its first buffer (at most [`CHUNK`]
//! packets), so what a burst allocated does not stay with an idle socket.

use crate::Packet;
use std::cell::Cell;
use std::mem::ManuallyDrop;

/// Packets per buffer once a queue holds this many: a new buffer is started, none is grown.
pub(crate) const CHUNK: usize = 64;

/// The packets a queue's first buffer holds: the capacity `Vec` gives its first growth.
const FIRST: usize = 4;

/// The largest buffer a queue starts (each new one is twice the size of the one before).
pub(crate) const CHUNK_MAX: usize = 1024;

thread_local! {
    /// One emptied small buffer per thread (see [`PacketQueue::release`]): the next queue that
    /// starts on this thread takes it, so an echo's answer is queued in the buffer the last one
    /// was written from, with no allocation; at most one buffer of [`CHUNK`] packets a thread.
    /// Not dropped at the thread's exit (an empty buffer, left to the allocator): without a
    /// destructor the slot needs no registration, and each use is a plain load and store.
    static SPARE: Cell<ManuallyDrop<Vec<Packet>>> = const { Cell::new(ManuallyDrop::new(Vec::new())) };
}

/// Outgoing packets in order: the full buffers (oldest first), then the one being filled.
/// Only ever appended to and taken whole.
#[derive(Debug, Default)]
pub(crate) struct PacketQueue {
    /// Full buffers, none empty (no allocation while a queue holds fewer than [`CHUNK`]).
    full: Vec<Vec<Packet>>,
    /// The buffer being filled: grows as a `Vec` does up to [`CHUNK`] packets; the later
    /// ones are allocated at their size.
    tail: Vec<Packet>,
}

impl PacketQueue {
    /// An empty queue, without allocation.
    pub(crate) const fn new() -> Self {
        PacketQueue {
            full: Vec::new(),
            tail: Vec::new(),
        }
    }

    /// Appends a packet.
    #[inline]
    pub(crate) fn push(&mut self, p: Packet) {
        if self.tail.len() == self.tail.capacity() {
            if self.tail.capacity() == 0 {
                // The first packet of an empty queue (every echo: a small batch gives its
                // buffer up once written, see `WsIo::push_queue`): the thread's spare buffer,
                // else one allocated at once rather than through `Vec`'s growth path, which
                // runs more code for the same buffer.
                let spare = ManuallyDrop::into_inner(SPARE.with(Cell::take));
                self.tail = if spare.capacity() > 0 {
                    spare
                } else {
                    Vec::with_capacity(FIRST)
                };
            } else if self.tail.len() >= CHUNK {
                self.set_tail_aside();
            }
        }
        self.tail.push(p);
    }

    /// The tail is full: it joins the full buffers and a new one, twice its size, takes its
    /// place.
    #[inline(never)]
    fn set_tail_aside(&mut self) {
        let size = (2 * self.tail.capacity()).clamp(CHUNK, CHUNK_MAX);
        let full = std::mem::replace(&mut self.tail, Vec::with_capacity(size));
        self.full.push(full);
    }

    /// Appends packets, in order.
    pub(crate) fn extend(&mut self, packets: impl IntoIterator<Item = Packet>) {
        for p in packets {
            self.push(p);
        }
    }

    /// Appends every packet of `other`, in order.
    pub(crate) fn append(&mut self, other: PacketQueue) {
        if self.is_empty() {
            *self = other;
            return;
        }
        for chunk in other.full {
            self.extend(chunk);
        }
        self.extend(other.tail);
    }

    /// Number of packets.
    pub(crate) fn len(&self) -> usize {
        self.full.iter().map(Vec::len).sum::<usize>() + self.tail.len()
    }

    /// Whether it holds no packet.
    pub(crate) fn is_empty(&self) -> bool {
        self.tail.is_empty() && self.full.is_empty()
    }

    /// The packets in order, buffer by buffer.
    pub(crate) fn chunks(&self) -> impl Iterator<Item = &[Packet]> {
        self.full
            .iter()
            .map(Vec::as_slice)
            .chain(std::iter::once(self.tail.as_slice()))
    }

    /// Drops every packet; keeps the first buffer (its capacity, at most [`CHUNK`] packets,
    /// serves the next ones) and releases the others.
    pub(crate) fn clear(&mut self) {
        // One buffer (an echo, a heartbeat): nothing to choose or release.
        if !self.full.is_empty() {
            let mut full = std::mem::take(&mut self.full).into_iter();
            if let Some(first) = full.next() {
                self.tail = first;
            }
        }
        self.tail.clear();
    }

    /// Drops every packet and gives the queue's memory up: a single buffer of at most
    /// [`CHUNK`] packets becomes the thread's spare (unless it has one), for the next queue's
    /// first packet; the socket keeps no queue memory either way.
    pub(crate) fn release(&mut self) {
        let PacketQueue { full, mut tail } = std::mem::take(self);
        if !full.is_empty() || tail.capacity() == 0 || tail.capacity() > CHUNK {
            return;
        }
        tail.clear();
        SPARE.with(|spare| {
            let old = spare.take();
            if old.capacity() > 0 {
                // The thread has one: this buffer is freed.
                spare.set(old);
            } else {
                spare.set(ManuallyDrop::new(tail));
            }
        });
    }

    /// The capacity of the buffer being filled.
    pub(crate) fn tail_capacity(&self) -> usize {
        self.tail.capacity()
    }

    /// The packets as one `Vec` (copied together only when they fill more than one buffer).
    pub(crate) fn into_vec(self) -> Vec<Packet> {
        if self.full.is_empty() {
            return self.tail;
        }
        let mut all = Vec::with_capacity(self.len());
        for chunk in self.full {
            all.extend(chunk);
        }
        all.extend(self.tail);
        all
    }
}

impl From<Vec<Packet>> for PacketQueue {
    fn from(tail: Vec<Packet>) -> Self {
        PacketQueue {
            full: Vec::new(),
            tail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(n: usize) -> Packet {
        Packet::message(n.to_string())
    }

    /// Frees the thread's spare buffer: the tests may share a thread (`--test-threads 1`).
    fn free_spare() {
        drop(ManuallyDrop::into_inner(SPARE.with(Cell::take)));
    }

    fn texts(packets: impl IntoIterator<Item = Packet>) -> Vec<String> {
        packets
            .into_iter()
            .map(|p| {
                p.into_message()
                    .and_then(|m| m.as_text().map(str::to_owned))
                    .unwrap()
            })
            .collect()
    }

    /// Past one full buffer the packets go to new buffers: a full one is never grown or moved,
    /// and every way of reading the queue gives them in order.
    #[test]
    fn a_burst_fills_new_buffers_in_order_without_moving_the_first() {
        let mut q = PacketQueue::new();
        let n = 3 * CHUNK_MAX + 3;
        q.extend((0..CHUNK).map(numbered));
        let first = q.tail.as_ptr();
        q.extend((CHUNK..n).map(numbered));
        assert_eq!(q.len(), n);
        assert_eq!(q.full[0].as_ptr(), first, "the first buffer moved");
        // Each buffer full, twice the size of the one before it up to the largest size.
        let mut size = CHUNK;
        for c in &q.full {
            assert_eq!((c.len(), c.capacity()), (size, size));
            size = (2 * size).min(CHUNK_MAX);
        }
        assert_eq!(q.tail.capacity(), size);
        assert!(
            q.full.len() < n / CHUNK,
            "no fewer allocations than one per CHUNK"
        );
        let expected: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        let by_chunks: Vec<Packet> = q.chunks().flatten().cloned().collect();
        assert_eq!(texts(by_chunks), expected);
        assert_eq!(texts(q.into_vec()), expected);
    }

    /// An empty queue's first packet gets a buffer of `FIRST` packets (what `Vec`'s first growth
    /// gives), which the next ones fill before it grows as a `Vec` does.
    #[test]
    fn the_first_packet_allocates_a_small_buffer_the_next_ones_fill_it() {
        free_spare();
        let mut q = PacketQueue::new();
        assert_eq!(q.tail_capacity(), 0);
        q.push(numbered(0));
        assert_eq!(q.tail_capacity(), FIRST);
        let first = q.tail.as_ptr();
        q.extend((1..FIRST).map(numbered));
        assert_eq!(q.tail.as_ptr(), first, "filled without a new allocation");
        q.push(numbered(FIRST));
        assert!(q.tail_capacity() > FIRST);
        assert_eq!(
            texts(q.into_vec()),
            (0..=FIRST).map(|i| i.to_string()).collect::<Vec<_>>()
        );
    }

    /// A released queue holds no memory; its small buffer serves the next queue started on the
    /// thread (one spare a thread: a second buffer, or one over `CHUNK` packets, is freed).
    #[test]
    fn a_released_small_buffer_serves_the_next_queue_of_the_thread() {
        free_spare();
        let mut a = PacketQueue::new();
        a.push(numbered(0));
        let buffer = a.tail.as_ptr();
        let mut big = PacketQueue::new();
        big.extend((0..CHUNK + 1).map(numbered));
        let mut other = PacketQueue::new();
        other.push(numbered(1));
        a.release();
        assert!(a.is_empty());
        assert_eq!(a.tail_capacity(), 0, "the queue kept its buffer");
        big.release();
        other.release();
        let mut b = PacketQueue::new();
        b.push(numbered(2));
        assert_eq!(b.tail.as_ptr(), buffer, "the spare was not reused");
        assert_eq!(texts(b.into_vec()), ["2"]);
        // The spare was taken: the next queue allocates its own.
        assert_eq!(
            SPARE.with(Cell::take).capacity(),
            0,
            "a second spare was kept"
        );
    }

    /// `append` keeps the order of both queues, also when each spans several buffers; `clear`
    /// empties and keeps only the buffer being filled.
    #[test]
    fn append_keeps_order_and_clear_keeps_one_buffer() {
        let mut a = PacketQueue::new();
        a.extend((0..CHUNK + 10).map(numbered));
        let mut b = PacketQueue::new();
        b.extend((CHUNK + 10..3 * CHUNK).map(numbered));
        a.append(b);
        let expected: Vec<String> = (0..3 * CHUNK).map(|i| i.to_string()).collect();
        let all: Vec<Packet> = a.chunks().flatten().cloned().collect();
        assert_eq!(texts(all), expected);
        let first = a.full[0].as_ptr();
        a.clear();
        assert!(a.is_empty() && a.full.capacity() == 0);
        assert_eq!(a.len(), 0);
        assert_eq!(a.tail_capacity(), CHUNK);
        assert_eq!(a.tail.as_ptr(), first, "the first buffer is the one kept");
        let mut empty = PacketQueue::new();
        empty.append(PacketQueue::from(vec![numbered(7)]));
        assert_eq!(texts(empty.into_vec()), ["7"]);
    }
}
