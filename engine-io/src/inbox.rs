//! The stream API's inbox ([`crate::Server::new_stream`], [`Socket::recv`]):
//! bounded by [`crate::Config::inbox_capacity`], with backpressure on the
//! transports (the WebSocket is not read and a polling POST waits while it is
//! full) rather than a closed session. The same inbox keeps a handler's
//! messages while a cluster delays its connection.

use crate::session::Answer;
use crate::socket::{After, Socket, State};
use crate::{CloseReason, Message};
use parking_lot::MutexGuard;
use std::sync::Arc;

impl Socket {
    /// Receives the next message (stream API: only for servers built with
    /// [`crate::Server::new_stream`]; with a custom [`crate::Handler`] messages go
    /// to the handler and this waits until the socket closes). Returns `None`
    /// once the socket is closed and the inbox is empty.
    pub async fn recv(&self) -> Option<Message> {
        loop {
            let notified = self.waiters.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.lock();
                let was_full = st.inbox.len() >= self.shared.config.inbox_capacity;
                if let Some(m) = st.inbox.pop_front() {
                    if was_full {
                        // The transport waits for room (backpressure): resume it.
                        let waker = Socket::request_wake(&mut st);
                        drop(st);
                        if let Some(w) = waker {
                            w.wake();
                        }
                        self.waiters.notify_waiters();
                    }
                    return Some(m);
                }
                if st.session.is_closed() {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Stream API: whether the inbox is full, so the transport must stop
    /// reading until [`Socket::recv`] makes room (always false with a custom
    /// [`crate::Handler`], which has no inbox).
    pub(crate) fn inbox_full(&self) -> bool {
        self.shared.is_stream() && self.lock().inbox.len() >= self.shared.config.inbox_capacity
    }

    /// Waits until the inbox has room or the socket is closed (the polling
    /// `POST`'s backpressure).
    pub(crate) async fn inbox_room(&self) {
        if !self.shared.is_stream() {
            return;
        }
        loop {
            let notified = self.waiters.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = self.lock();
                if st.inbox.len() < self.shared.config.inbox_capacity || !st.session.is_open() {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Stream API: a received message.
    pub(crate) fn push_inbox(self: &Arc<Self>, msg: Message) {
        let mut st = self.lock();
        // The transports wait for room before each packet; this only guards
        // against a transport that does not.
        if st.inbox.len() >= self.shared.config.inbox_capacity {
            drop(st);
            self.finalize(
                CloseReason::TransportError,
                Some("inbox full".into()),
                Answer::Close,
            );
            return;
        }
        st.inbox.push_back(msg);
        drop(st);
        self.waiters.notify_waiters();
    }

    pub(crate) fn wake_inbox(&self) {
        self.waiters.notify_waiters();
    }
}

impl Socket {
    /// Keeps `msg` for the handler, in order, while it has not seen the
    /// session yet (a cluster's delayed connection); the session closes if
    /// the inbox is full. Releases the lock, then carries out `after`.
    pub(crate) fn keep_until_connected(
        self: &Arc<Self>,
        mut st: MutexGuard<'_, State>,
        msg: Message,
        after: After,
    ) {
        let full = st.inbox.len() >= self.shared.config.inbox_capacity;
        if !full {
            st.inbox.push_back(msg);
        }
        drop(st);
        self.finish(after);
        if full {
            self.finalize(
                CloseReason::TransportError,
                Some("inbox full".into()),
                Answer::Close,
            );
        }
    }
}
