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

use super::adapter::StreamsAdapter;
use super::wire;
use crate::{Adapter, PersistedSession, Sid};

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
pub(crate) async fn run(adapter: Weak<StreamsAdapter>) {
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
        let prefix = &this.shared.config.session_key_prefix;
        let ns = this.local().namespace();
        let mut writes = Vec::with_capacity(work.len() + deleted.len());
        for pid in deleted {
            writes.push(Write::Delete(wire::session_key(prefix, &pid)));
        }
        for (sid, pid, dirty, written) in work {
            let Some(rooms) = this.socket_rooms(&sid) else {
                continue;
            };
            let data = ns
                .as_ref()
                .and_then(|ns| ns.socket_info(&sid))
                .map(|info| info.data)
                .unwrap_or_default();
            let mut rooms: Vec<_> = rooms.into_iter().collect();
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
        let mut conn = this.shared.conn.clone();
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
