//! Session records and recovery: the record saved on a recoverable disconnection, its restore
//! with the replay of the missed entries (exactly once), and the live records kept in Redis.

use std::time::{Duration, Instant};

use redis::Value as RedisValue;
use socketio_parser::{Packet, PacketType, Value};

use super::{PendingRestore, StreamsAdapter};
use crate::redis::messages::ClusterRequest;
use crate::redis::sharded;
use crate::redis_streams::live::{Live, LiveSource};
use crate::redis_streams::reader::parse_entries;
use crate::redis_streams::wire::{self, StreamId};
use crate::{AdapterError, PersistedSession, RestoredSession, Room, Sid};

/// Entries read per `XRANGE` while replaying.
const REPLAY_PAGE: usize = 1000;

/// How long a restored session waits for its socket to join before it is forgotten.
const PENDING_RESTORE_TTL: Duration = Duration::from_secs(30);

impl StreamsAdapter {
    pub(super) async fn persist(&self, session: PersistedSession) -> Result<(), AdapterError> {
        // Synchronous part first: the live record must not be deleted by `del_all` after this.
        if let Some(live) = &self.live {
            live.persisted(&session.sid);
        }
        let Some(recovery) = &self.recovery else {
            return Ok(());
        };
        let ttl =
            u64::try_from(recovery.max_disconnection_duration.as_millis()).unwrap_or(u64::MAX);
        let key = wire::session_key(&self.shared.config.session_key_prefix, &session.pid);
        let record = wire::encode_session(&session);
        redis::cmd("SET")
            .arg(key)
            .arg(record)
            .arg("PX")
            .arg(ttl.max(1))
            .exec_async(&mut self.shared.conn.clone())
            .await
            .map_err(|e| AdapterError::Unavailable(format!("redis: {e}")))
    }

    pub(super) async fn restore(
        &self,
        pid: &str,
        offset: &str,
    ) -> Result<Option<RestoredSession>, AdapterError> {
        if self.recovery.is_none() {
            return Ok(None);
        }
        let Some(offset) = StreamId::parse(offset) else {
            tracing::debug!(nsp = %self.nsp, "not restoring: the offset is not a stream id");
            return Ok(None);
        };
        if pid.is_empty() || pid.len() > 256 {
            return Ok(None);
        }
        let key = wire::session_key(&self.shared.config.session_key_prefix, pid);
        let (record, _): (Option<Vec<u8>>, i64) = redis::pipe()
            .atomic()
            .cmd("GET")
            .arg(&key)
            .cmd("DEL")
            .arg(&key)
            .query_async(&mut self.shared.conn.clone())
            .await
            .map_err(|e| AdapterError::Unavailable(format!("redis: {e}")))?;
        let Some(record) = record else {
            return Ok(None);
        };
        let session = match wire::decode_session(&record, pid) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(nsp = %self.nsp, "refusing a session record: {e}");
                return Ok(None);
            }
        };
        if self.local.socket_rooms_local(&session.sid).is_some() {
            // A live socket of this node has that id: never two sockets with one id.
            return Ok(None);
        }
        // From here on, entries this node dispatches for the session are held for it, and
        // those dispatched before are replayed: together, each exactly once.
        let end = {
            let guard = self.dispatch.lock();
            let mut dispatch = guard.borrow_mut();
            let now = Instant::now();
            dispatch
                .pending
                .retain(|_, p| now.duration_since(p.since) < PENDING_RESTORE_TTL);
            if dispatch.pending.contains_key(&session.sid) {
                return Ok(None);
            }
            dispatch.pending.insert(
                session.sid.clone(),
                PendingRestore {
                    rooms: session.rooms.clone(),
                    after: offset,
                    held: Vec::new(),
                    since: now,
                },
            );
            dispatch.last.max(self.shared.reader_start(&self.stream))
        };
        let replayed = self.replay(offset, end, &session.rooms).await;
        let guard = self.dispatch.lock();
        let mut dispatch = guard.borrow_mut();
        let mut missed = match replayed {
            Ok(Some(missed)) => missed,
            Ok(None) => {
                dispatch.pending.remove(&session.sid);
                tracing::debug!(nsp = %self.nsp, "not restoring: the offset left the stream");
                return Ok(None);
            }
            Err(e) => {
                dispatch.pending.remove(&session.sid);
                return Err(e);
            }
        };
        if let Some(pending) = dispatch.pending.get_mut(&session.sid) {
            missed.append(&mut pending.held);
        }
        Ok(Some(RestoredSession {
            session,
            missed_packets: missed,
        }))
    }

    pub(super) async fn xrange(
        &self,
        start: &str,
        end: &str,
        count: usize,
    ) -> Result<Vec<(StreamId, wire::RawEntry)>, AdapterError> {
        let reply: RedisValue = redis::cmd("XRANGE")
            .arg(&self.stream)
            .arg(start)
            .arg(end)
            .arg("COUNT")
            .arg(count)
            .query_async(&mut self.shared.conn.clone())
            .await
            .map_err(|e| AdapterError::Unavailable(format!("redis: {e}")))?;
        Ok(parse_entries(reply))
    }

    /// The payloads of the entries after `offset` up to `end` (inclusive) that target a socket
    /// in `rooms`; `None` when `offset` is no longer in the stream or entries were trimmed
    /// while they were being read (the replay would not be whole).
    pub(super) async fn replay(
        &self,
        offset: StreamId,
        end: Option<StreamId>,
        rooms: &[Room],
    ) -> Result<Option<Vec<Vec<Value>>>, AdapterError> {
        let end_arg = end.map_or_else(|| "+".to_owned(), |e| e.to_string());
        if end.is_some_and(|e| e < offset) {
            // This node has not dispatched the client's offset yet: nothing to replay, what
            // follows is held or delivered live. The offset must still exist.
            let found = self
                .xrange(&offset.to_string(), &offset.to_string(), 1)
                .await?;
            return Ok((!found.is_empty()).then(Vec::new));
        }
        let mut missed = Vec::new();
        let mut start = offset;
        let mut first = true;
        loop {
            let page = self
                .xrange(&start.to_string(), &end_arg, REPLAY_PAGE)
                .await?;
            if first {
                // The client's own offset opens the first page, or it was trimmed.
                if page.first().map(|(id, _)| *id) != Some(offset) {
                    return Ok(None);
                }
            }
            let full = page.len() == REPLAY_PAGE;
            let mut last = start;
            for (id, entry) in page {
                last = id;
                if id <= offset {
                    continue;
                }
                if let Some(data) = self.replayable(id, &entry, rooms) {
                    missed.push(data);
                }
            }
            if !full {
                break;
            }
            let Some(next) = last.next() else { break };
            start = next;
            first = false;
        }
        if !first {
            // Trimming only removes the oldest entries: if the stream still begins at or before
            // the start of the last page read, no page lost an entry before it was read.
            let head = self.xrange("-", "+", 1).await?;
            if head.first().is_none_or(|(id, _)| *id > start) {
                return Ok(None);
            }
        }
        Ok(Some(missed))
    }

    /// An entry's payload with its offset when it is a broadcast a socket in `rooms` would have
    /// received (and that the reference would have given an offset).
    pub(super) fn replayable(
        &self,
        id: StreamId,
        entry: &wire::RawEntry,
        rooms: &[Room],
    ) -> Option<Vec<Value>> {
        if entry.nsp.as_deref() != Some(self.nsp.as_str()) || entry.ty.as_deref() != Some("3") {
            return None;
        }
        let envelope = entry.decode().ok()?;
        let sharded::Incoming::Request(ClusterRequest::Broadcast { mut packet, opts }) =
            envelope.message
        else {
            return None;
        };
        if !opts.matches_rooms(rooms.iter()) || !self.add_offset(&mut packet, &opts, id) {
            return None;
        }
        match packet.data {
            Some(Value::Array(data)) => Some(data),
            _ => None,
        }
    }

    /// Sends the entries held for a restored socket that joined after its restore returned.
    pub(super) fn deliver_late(&self, sid: &Sid, held: Vec<Vec<Value>>) {
        let Some(ns) = self.local.namespace() else {
            return;
        };
        let sid = sid.clone();
        let nsp = self.nsp.clone();
        // After the server's CONNECT reply and replay, which follow the join synchronously.
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            for data in held {
                let packet = Packet {
                    data: Some(Value::Array(data)),
                    ..Packet::new(PacketType::Event, nsp.as_str())
                };
                let _ = ns.deliver(&sid, &ns.encode(&packet), &Default::default());
            }
        });
    }
}

impl LiveSource for StreamsAdapter {
    fn live(&self) -> Option<&Live> {
        self.live.as_ref()
    }

    fn session_state(&self, sid: &str) -> Option<(Vec<Room>, Value)> {
        let rooms = self.local.socket_rooms_local(sid)?.into_iter().collect();
        let data = self
            .local
            .namespace()
            .and_then(|ns| ns.socket_info(sid))
            .map(|info| info.data)
            .unwrap_or_default();
        Some((rooms, data))
    }

    fn key_prefix(&self) -> &str {
        &self.shared.config.session_key_prefix
    }

    fn connection(&self) -> redis::aio::ConnectionManager {
        self.shared.conn.clone()
    }
}
