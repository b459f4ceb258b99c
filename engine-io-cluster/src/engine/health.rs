//! The node's health: what the Redis link reports (its messages, its
//! loss and return), and the liveness check that fails the requests of
//! owners that are gone and keeps this node's address advertised.

use super::*;

impl Inner {
    /// One push from the link: a message on this node's channel, or the
    /// link's state. Runs in the link's reader; never awaits.
    pub(super) fn on_push(self: &Arc<Self>, push: Push) {
        match push {
            Push::Disconnected => {
                self.link.set_down();
                // No answer can arrive while Redis is away.
                self.pending.fail_all();
                self.tunnels.close_way(None);
                tracing::warn!("engine.io cluster: redis connection lost; reconnecting");
                if !self.link.reconnecting.swap(true, Ordering::AcqRel) {
                    tokio::spawn(reconnect(Arc::downgrade(self)));
                }
            }
            Push::Message(payload) => {
                for frame in crate::message::split(payload) {
                    match frame {
                        Ok(frame) => self.on_message(frame, None),
                        Err(_) => {
                            self.counters.garbage.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            Push::Garbage => {
                self.counters.garbage.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Tries to come back until Redis answers.
async fn reconnect(inner: Weak<Inner>) {
    let mut delay = Duration::from_millis(50);
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        match strong.link.resubscribe().await {
            Ok(()) => {
                tracing::info!("engine.io cluster: redis reconnected and resubscribed");
                // A restarted Redis forgot the address too.
                strong.advertise().await;
                return;
            }
            Err(e) => tracing::debug!("engine.io cluster: redis still unavailable: {e}"),
        }
        drop(strong);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

/// Ticks of the liveness check in `response_timeout` (a forwarded request
/// without an answer fails after `ANSWER_TICKS` to `ANSWER_TICKS + 1` ticks).
const TICKS_PER_TIMEOUT: u32 = 2;
pub(super) const ANSWER_TICKS: u64 = TICKS_PER_TIMEOUT as u64;

/// Every tick (half a `response_timeout`), fails the forwarded requests past
/// their deadline (telling their owners), then asks Redis whether the owners
/// that requests wait on are still subscribed, and fails the requests of
/// those that are not.
pub(super) async fn liveness(inner: Weak<Inner>) {
    let mut last_advert = tokio::time::Instant::now();
    loop {
        let Some(period) = inner
            .upgrade()
            .map(|i| i.config.response_timeout / TICKS_PER_TIMEOUT)
        else {
            return;
        };
        tokio::time::sleep(period).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        for (owner, id) in inner.pending.tick() {
            tracing::debug!(%owner, id, "engine.io cluster: a forwarded request timed out");
            // What dropping a waiting request does: the owner may serve it still.
            let abort = Message {
                from: inner.node,
                id,
                body: Body::Abort,
            };
            // Over Redis, which may abort a request that went either way.
            inner.send_via(None, owner, abort.encode(), None);
        }
        if !inner.link.is_up() {
            continue;
        }
        if last_advert.elapsed() >= route::ADDR_REFRESH {
            last_advert = tokio::time::Instant::now();
            let _ = tokio::time::timeout(period, inner.advertise()).await;
        }
        let mut owners = inner.pending.owners();
        owners.extend(inner.tunnels.peers());
        owners.sort_unstable();
        owners.dedup();
        if owners.is_empty() {
            continue;
        }
        let channels: Vec<String> = owners
            .iter()
            .map(|o| channel(&inner.config.channel_prefix, *o))
            .collect();
        if let Ok(Ok(counts)) = tokio::time::timeout(period, inner.link.numsub(&channels)).await {
            for (owner, n) in owners.into_iter().zip(counts) {
                if n == 0 {
                    let failed = inner.pending.fail_owner(owner);
                    inner.tunnels.close_peer(owner);
                    tracing::debug!(
                        "engine.io cluster: node {owner} is gone; {failed} requests failed"
                    );
                }
            }
        }
    }
}
