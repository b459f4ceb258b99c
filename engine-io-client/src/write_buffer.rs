//! Buffering of outgoing packets: the queue, the one batch the transport writes at a time (a
//! polling `POST` sized to the server's `maxPayload`, or a run of WebSocket frames), and the
//! counters [`Client::flush`](crate::Client::flush) waits on.

use std::collections::VecDeque;

use engine_io::{Data, Packet};

use engine_io::TransportType;

/// How many packets one WebSocket write batch takes at most (so the driver regains control
/// regularly even with a long queue).
pub(crate) const WS_BATCH: usize = 256;

/// The outgoing queue of one connection.
#[derive(Debug)]
pub(crate) struct WriteBuffer {
    queue: VecDeque<Packet>,
    /// The batch the transport is writing: how many queued packets it holds (0 for a control
    /// write such as the upgrade or close packet). `None`: the writer is idle.
    in_flight: Option<u64>,
    /// Packets ever queued / ever written, for flush waiters.
    enqueued: u64,
    written: u64,
    /// Flush ids with the `enqueued` count they wait for, in order.
    flush_waiters: VecDeque<(u64, u64)>,
    /// The server's `maxPayload`: the largest polling payload it accepts.
    max_payload: Option<usize>,
}

impl WriteBuffer {
    pub(crate) fn new(max_payload: Option<usize>) -> Self {
        WriteBuffer {
            queue: VecDeque::new(),
            in_flight: None,
            enqueued: 0,
            written: 0,
            flush_waiters: VecDeque::new(),
            max_payload,
        }
    }

    /// How many packets wait to be written.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether the transport's writer may take a batch.
    pub(crate) fn writer_idle(&self) -> bool {
        self.in_flight.is_none()
    }

    pub(crate) fn push(&mut self, packet: Packet) {
        self.queue.push_back(packet);
        self.enqueued += 1;
    }

    /// The next batch for a transport of `kind`, when the writer is idle and something waits.
    pub(crate) fn take_batch(&mut self, kind: TransportType) -> Option<Vec<Packet>> {
        if !self.writer_idle() || self.queue.is_empty() {
            return None;
        }
        let batch: Vec<Packet> = match kind {
            TransportType::Polling => take_payload(&mut self.queue, self.max_payload),
            // One frame per packet on a stream: batches bounded alike.
            TransportType::Websocket | TransportType::Webtransport => {
                let n = self.queue.len().min(WS_BATCH);
                self.queue.drain(..n).collect()
            }
        };
        self.in_flight = Some(batch.len() as u64);
        Some(batch)
    }

    /// The writer takes a packet that is not from the queue (upgrade, close).
    pub(crate) fn start_control_write(&mut self) {
        self.in_flight = Some(0);
    }

    /// The batch in flight is written; returns the flush ids now satisfied, in order.
    pub(crate) fn drained(&mut self) -> Vec<u64> {
        self.written += self.in_flight.take().unwrap_or(0);
        let mut done = Vec::new();
        while let Some(&(id, target)) = self.flush_waiters.front() {
            if target > self.written {
                break;
            }
            self.flush_waiters.pop_front();
            done.push(id);
        }
        done
    }

    /// Flush `id` waits for what is queued now; `true` when that is already written.
    pub(crate) fn flush(&mut self, id: u64) -> bool {
        if self.written >= self.enqueued {
            return true;
        }
        self.flush_waiters.push_back((id, self.enqueued));
        false
    }

    /// The flush ids still waiting (the connection closed before they were satisfied).
    pub(crate) fn take_flush_waiters(&mut self) -> Vec<u64> {
        self.flush_waiters.drain(..).map(|(id, _)| id).collect()
    }
}

/// Takes the longest prefix of `queue` whose v4 payload fits in `max_payload` bytes (at least one
/// packet, as the reference client does: a single oversize packet goes alone and the server
/// decides).
fn take_payload(queue: &mut VecDeque<Packet>, max_payload: Option<usize>) -> Vec<Packet> {
    let Some(max) = max_payload else {
        return queue.drain(..).collect();
    };
    let mut size = 0usize;
    let mut count = 0usize;
    for packet in queue.iter() {
        let len = encoded_len(packet) + usize::from(count > 0);
        if count > 0 && size + len > max {
            break;
        }
        size += len;
        count += 1;
    }
    queue.drain(..count).collect()
}

/// The length of a packet in a v4 polling payload.
fn encoded_len(packet: &Packet) -> usize {
    match &packet.data {
        Data::Empty => 1,
        Data::Text(t) => 1 + t.len(),
        // `b` + base64 with padding.
        Data::Binary(b) => 1 + b.len().div_ceil(3) * 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_io::{Message, PacketType};

    fn text(n: usize) -> Packet {
        Packet::message(Message::from("x".repeat(n)))
    }

    #[test]
    fn payloads_respect_max_payload() {
        // "4" + 9 x's = 10 bytes each; separators add 1.
        let mut q: VecDeque<Packet> = (0..5).map(|_| text(9)).collect();
        let batch = take_payload(&mut q, Some(21));
        assert_eq!(batch.len(), 2);
        let encoded = engine_io::payload::encode_v4(&batch);
        assert!(encoded.len() <= 21, "{}", encoded.len());
        assert_eq!(q.len(), 3);
        // One oversize packet still goes, alone.
        let mut q: VecDeque<Packet> = vec![text(100), text(1)].into();
        assert_eq!(take_payload(&mut q, Some(10)).len(), 1);
        // No limit: everything.
        let mut q: VecDeque<Packet> = (0..5).map(|_| text(9)).collect();
        assert_eq!(take_payload(&mut q, None).len(), 5);
    }

    #[test]
    fn encoded_len_matches_the_codec() {
        for packet in [
            text(0),
            text(7),
            Packet::message(Message::from(vec![1u8, 2, 3, 4])),
            Packet::empty(PacketType::Pong),
        ] {
            let encoded = engine_io::payload::encode_v4(std::slice::from_ref(&packet));
            assert_eq!(encoded.len(), encoded_len(&packet));
        }
    }

    #[test]
    fn websocket_batches_are_bounded() {
        let mut buf = WriteBuffer::new(None);
        for _ in 0..WS_BATCH + 1 {
            buf.push(text(1));
        }
        assert_eq!(
            buf.take_batch(TransportType::Websocket).map(|b| b.len()),
            Some(WS_BATCH)
        );
        // One batch at a time.
        assert_eq!(buf.take_batch(TransportType::Websocket), None);
        assert!(buf.drained().is_empty());
        assert_eq!(
            buf.take_batch(TransportType::Websocket).map(|b| b.len()),
            Some(1)
        );
    }
}
