//! Connection state recovery: sessions kept after a disconnection and the packets they missed.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use socketio_parser::Value;

use crate::{BroadcastOptions, Room, Sid};

/// Connection state recovery settings (reference `connectionStateRecovery`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryConfig {
    /// How long a session (and the packets broadcast meanwhile) are kept after a
    /// disconnection. Default: 2 minutes.
    pub max_disconnection_duration: Duration,
    /// Whether a recovered socket skips the middlewares. Default: true.
    pub skip_middlewares: bool,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        Self {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
        }
    }
}

/// The state of a socket kept when it disconnects for a recoverable reason.
#[derive(Debug, Clone, PartialEq)]
pub struct PersistedSession {
    /// The socket id, given back on recovery.
    pub sid: Sid,
    /// The private session id the client presents to recover (never shown to other clients).
    pub pid: Sid,
    /// The rooms of the socket.
    pub rooms: Vec<Room>,
    /// The socket's application data.
    pub data: Value,
}

/// A session taken back on reconnection, with the packets it missed.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredSession {
    /// The session as it was stored.
    pub session: PersistedSession,
    /// The payloads (`[event, ...args, offset]`) of the `EVENT` packets broadcast to the socket
    /// after the client's offset, in order.
    pub missed_packets: Vec<Vec<Value>>,
}

/// Upper bound of stored packets, whatever their age: beyond it the oldest are forgotten (a
/// client whose offset was forgotten is simply not recovered). Keeps memory bounded under a
/// broadcast storm.
pub const MAX_STORED_PACKETS: usize = 1 << 16;

#[derive(Debug)]
struct StoredPacket {
    offset: String,
    at: Instant,
    opts: BroadcastOptions,
    data: Vec<Value>,
}

/// The in-memory store of sessions and broadcast packets used by
/// [`InMemoryAdapter`](crate::InMemoryAdapter) (the reference `SessionAwareAdapter`).
#[derive(Debug)]
pub struct SessionStore {
    config: RecoveryConfig,
    sessions: HashMap<Sid, (PersistedSession, Instant)>,
    packets: VecDeque<StoredPacket>,
    prefix: String,
    counter: AtomicU64,
    last_sweep: Instant,
}

impl SessionStore {
    /// An empty store.
    pub fn new(config: RecoveryConfig) -> Self {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Self {
            config,
            sessions: HashMap::new(),
            packets: VecDeque::new(),
            // Offsets must be unique across restarts of this node: time prefix + counter.
            prefix: format!("{millis:x}"),
            counter: AtomicU64::new(0),
            last_sweep: Instant::now(),
        }
    }

    /// The recovery settings.
    pub fn config(&self) -> &RecoveryConfig {
        &self.config
    }

    /// A new unique offset.
    pub fn next_offset(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n:x}", self.prefix)
    }

    /// Stores a broadcast packet payload (already carrying its offset as last element).
    pub fn store_packet(&mut self, offset: String, opts: &BroadcastOptions, data: Vec<Value>) {
        let now = Instant::now();
        self.prune(now);
        if self.packets.len() >= MAX_STORED_PACKETS {
            self.packets.pop_front();
        }
        self.packets.push_back(StoredPacket {
            offset,
            at: now,
            opts: opts.clone(),
            data,
        });
    }

    /// Stores a session.
    pub fn persist(&mut self, session: PersistedSession) {
        let now = Instant::now();
        self.prune(now);
        self.sessions.insert(session.pid.clone(), (session, now));
    }

    /// Takes back a session and its missed packets (see [`Adapter::restore_session`](crate::Adapter::restore_session)).
    pub fn restore(&mut self, pid: &str, offset: &str) -> Option<RestoredSession> {
        let now = Instant::now();
        self.prune(now);
        let (session, disconnected_at) = self.sessions.remove(pid)?;
        if now.duration_since(disconnected_at) > self.config.max_disconnection_duration {
            return None;
        }
        let index = self.packets.iter().position(|p| p.offset == offset)?;
        let missed_packets = self
            .packets
            .iter()
            .skip(index + 1)
            .filter(|p| p.opts.matches_rooms(session.rooms.iter()))
            .map(|p| p.data.clone())
            .collect();
        Some(RestoredSession {
            session,
            missed_packets,
        })
    }

    /// Forgets expired sessions and packets.
    fn prune(&mut self, now: Instant) {
        let max = self.config.max_disconnection_duration;
        while self
            .packets
            .front()
            .is_some_and(|p| now.duration_since(p.at) > max)
        {
            self.packets.pop_front();
        }
        // Expired sessions are swept at most once per period, so this stays amortised O(1).
        if now.duration_since(self.last_sweep) > max / 2 {
            self.last_sweep = now;
            self.sessions
                .retain(|_, (_, at)| now.duration_since(*at) <= max);
        }
    }
}
