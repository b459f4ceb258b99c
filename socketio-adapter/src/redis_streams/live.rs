//! Session records of live sockets (beyond the reference): a node that dies without saving
//! its sessions leaves records any node can restore.
//!
//! A record is written (`SET … PX`) when a socket joins and after its rooms change, in batches
//! every [`FLUSH`]; every refresh period each record's expiry is pushed back (`PEXPIRE`), or the
//! record rewritten when its rooms or `data` changed since it was written. The expiry is
//! `maxDisconnectionDuration` + two refresh periods, so a record outlives its node by at least
//! `maxDisconnectionDuration`. A socket that leaves for good has its record deleted; one that
//! leaves for a recoverable reason gets the usual disconnection record instead.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Weak;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::aio::ConnectionManager;
use socketio_parser::Value;

use super::wire;
use crate::{PersistedSession, Room, Sid};

/// What the writer needs from the adapter that owns the sessions.
pub(crate) trait LiveSource: Send + Sync + 'static {
    /// The tracked sessions.
    fn live(&self) -> Option<&Live>;
    /// The rooms and data of a local socket (`None` once it left).
    fn session_state(&self, sid: &str) -> Option<(Vec<Room>, Value)>;
    /// The prefix of session keys.
    fn key_prefix(&self) -> &str;
    /// A connection for the writes.
    fn connection(&self) -> ConnectionManager;
}

/// How often pending writes go out.
pub(crate) const FLUSH: Duration = Duration::from_millis(250);

/// Records written per pipeline.
const BATCH: usize = 512;

struct Tracked {
    pid: Sid,
    dirty: bool,
    /// Hash of the record last written (`None`: not written yet, or the write failed).
    written: Option<u64>,
}

#[derive(Default)]
struct State {
    sessions: HashMap<Sid, Tracked>,
    dirty: bool,
    /// Keys of sessions that ended for good.
    deleted: Vec<Sid>,
}

/// The live sessions of one namespace on this node.
pub(crate) struct Live {
    state: Mutex<State>,
    refresh: Duration,
    ttl: Duration,
}

impl Live {
    pub(crate) fn new(refresh: Duration, max_disconnection: Duration) -> Self {
        Live {
            state: Mutex::new(State::default()),
            refresh,
            ttl: max_disconnection + refresh * 2,
        }
    }

    pub(crate) fn track(&self, sid: &Sid, pid: &Sid) {
        let mut state = self.state.lock();
        state.sessions.insert(
            sid.clone(),
            Tracked {
                pid: pid.clone(),
                dirty: true,
                written: None,
            },
        );
        state.dirty = true;
    }

    pub(crate) fn touched(&self, sid: &str) {
        let mut state = self.state.lock();
        if let Some(t) = state.sessions.get_mut(sid) {
            t.dirty = true;
            state.dirty = true;
        }
    }

    /// The socket left for good: its record goes.
    pub(crate) fn ended(&self, sid: &str) {
        let mut state = self.state.lock();
        if let Some(t) = state.sessions.remove(sid) {
            state.deleted.push(t.pid);
            state.dirty = true;
        }
    }

    /// The socket left and its session is being saved: stop tracking, keep the record.
    pub(crate) fn persisted(&self, sid: &str) {
        self.state.lock().sessions.remove(sid);
    }

    /// The number of tracked sessions.
    pub(crate) fn len(&self) -> usize {
        self.state.lock().sessions.len()
    }
}

/// What one round writes.
enum Write {
    Set(String, String),
    Expire(String),
    Delete(String),
}

/// The writer task of one namespace: runs while the adapter lives.
pub(crate) async fn run<A: LiveSource>(adapter: Weak<A>) {
    let mut last_refresh = Instant::now();
    loop {
        tokio::time::sleep(FLUSH).await;
        let Some(this) = adapter.upgrade() else {
            return;
        };
        let Some(live) = this.live() else {
            return;
        };
        let refresh = last_refresh.elapsed() >= live.refresh;
        if refresh {
            last_refresh = Instant::now();
        }
        let (work, deleted) = {
            let mut state = live.state.lock();
            if !refresh && !state.dirty {
                continue;
            }
            state.dirty = false;
            let work: Vec<(Sid, Sid, bool, Option<u64>)> = state
                .sessions
                .iter_mut()
                .filter(|(_, t)| refresh || t.dirty)
                .map(|(sid, t)| {
                    let dirty = std::mem::replace(&mut t.dirty, false);
                    (sid.clone(), t.pid.clone(), dirty, t.written)
                })
                .collect();
            (work, std::mem::take(&mut state.deleted))
        };
        let prefix = this.key_prefix();
        let mut writes = Vec::with_capacity(work.len() + deleted.len());
        for pid in deleted {
            writes.push(Write::Delete(wire::session_key(prefix, &pid)));
        }
        for (sid, pid, dirty, written) in work {
            let Some((mut rooms, data)) = this.session_state(&sid) else {
                continue;
            };
            rooms.sort();
            let record = wire::encode_session(&PersistedSession {
                sid: sid.clone(),
                pid: pid.clone(),
                rooms,
                data,
            });
            let mut h = DefaultHasher::new();
            record.hash(&mut h);
            let hash = h.finish();
            let key = wire::session_key(prefix, &pid);
            if !dirty && written == Some(hash) {
                writes.push(Write::Expire(key));
            } else {
                writes.push(Write::Set(key, record));
            }
            // Remember the hash now; a failed write clears it below.
            if let Some(t) = live.state.lock().sessions.get_mut(&sid) {
                t.written = Some(hash);
            }
        }
        let ttl = u64::try_from(live.ttl.as_millis()).unwrap_or(u64::MAX);
        let mut conn = this.connection();
        drop(this);
        for chunk in writes.chunks(BATCH) {
            let mut pipe = redis::pipe();
            for w in chunk {
                match w {
                    Write::Set(key, record) => {
                        pipe.cmd("SET")
                            .arg(key)
                            .arg(record)
                            .arg("PX")
                            .arg(ttl)
                            .ignore();
                    }
                    Write::Expire(key) => {
                        pipe.cmd("PEXPIRE").arg(key).arg(ttl).ignore();
                    }
                    Write::Delete(key) => {
                        pipe.cmd("DEL").arg(key).ignore();
                    }
                }
            }
            if let Err(e) = pipe.exec_async(&mut conn).await {
                tracing::debug!("cannot write live session records: {e}");
                // Rewritten in full next time.
                if let Some(this) = adapter.upgrade() {
                    if let Some(live) = this.live() {
                        let mut state = live.state.lock();
                        for t in state.sessions.values_mut() {
                            t.written = None;
                            t.dirty = true;
                        }
                        state.dirty = true;
                    }
                }
            }
        }
    }
}
