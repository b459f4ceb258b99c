//! The acknowledgements this client waits for: ack ids count up per socket, and each pending ack
//! resolves a one-shot channel with the server's reply or an error.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::handler::BoxFuture;
use crate::{Error, FromAck, Value};

/// The receiving end of one pending acknowledgement.
pub(crate) type AckReceiver = oneshot::Receiver<Result<Vec<Value>, Error>>;

/// Pending acknowledgements of one socket, keyed by ack id.
#[derive(Debug, Default)]
pub(crate) struct AckRegistry {
    next_id: u64,
    pending: HashMap<u64, oneshot::Sender<Result<Vec<Value>, Error>>>,
}

impl AckRegistry {
    /// Reserves the next ack id and returns it with the receiver its reply will arrive on.
    pub(crate) fn register(&mut self) -> (u64, AckReceiver) {
        let id = self.next_id;
        // The reference counts up without bound; wrapping is only reachable in theory.
        self.next_id = self.next_id.wrapping_add(1);
        let (tx, rx) = oneshot::channel();
        self.pending.insert(id, tx);
        (id, rx)
    }

    /// Delivers the server's reply to ack `id`. Returns false for an unknown (or already
    /// answered, or timed out) id, which the reference ignores too.
    pub(crate) fn resolve(&mut self, id: u64, args: Vec<Value>) -> bool {
        match self.pending.remove(&id) {
            Some(tx) => {
                // The waiter may have given up (dropped its future); nothing to do then.
                let _ = tx.send(Ok(args));
                true
            }
            None => false,
        }
    }

    /// Forgets ack `id` (its waiter timed out or was dropped).
    pub(crate) fn remove(&mut self, id: u64) {
        self.pending.remove(&id);
    }

    /// Fails every pending ack whose packet is not in the send buffer (`keep` returns true for
    /// those): their packets went out on a connection that is gone, so no reply will ever come.
    /// Buffered packets are still to be sent, so their acks stay pending (as in the reference).
    pub(crate) fn fail_sent(&mut self, keep: impl Fn(u64) -> bool) {
        let ids: Vec<u64> = self
            .pending
            .keys()
            .copied()
            .filter(|id| !keep(*id))
            .collect();
        for id in ids {
            if let Some(tx) = self.pending.remove(&id) {
                let _ = tx.send(Err(Error::SocketDisconnected));
            }
        }
    }

    /// Fails every pending ack with `error` (the socket is closed for good).
    pub(crate) fn fail_all(&mut self, error: &Error) {
        for (_, tx) in self.pending.drain() {
            let _ = tx.send(Err(error.clone()));
        }
    }

    /// How many acks are pending.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }
}

/// Waits for one answer, at most the timeout it is given (the emit already went out or is
/// queued; the socket decides how its answer arrives).
pub(crate) type AckWaiter =
    Box<dyn FnOnce(Option<Duration>) -> BoxFuture<Result<Vec<Value>, Error>> + Send>;

/// The pending answer to [`Socket::emit_with_ack`](crate::Socket::emit_with_ack) (the event is
/// already sent or queued): `.await` it, optionally after setting a
/// [`timeout`](Self::timeout), for the server's answer read as `T` (see [`FromAck`]: any
/// `serde` type, one answer argument read directly and several as a sequence, or
/// [`Args`](crate::Args) for the raw argument list), as the server's `AckFuture`.
#[must_use = "the acknowledgement is only received when awaited"]
pub struct AckFuture<T> {
    wait: AckWaiter,
    timeout: Option<Duration>,
    _t: PhantomData<fn() -> T>,
}

impl<T> AckFuture<T> {
    /// The answer, waited for at most `timeout` unless the caller sets another.
    pub(crate) fn new(wait: AckWaiter, timeout: Option<Duration>) -> Self {
        AckFuture {
            wait,
            timeout,
            _t: PhantomData,
        }
    }

    /// How long to wait for the answer (default: the configured
    /// [`ack_timeout`](crate::ClientBuilder::ack_timeout)).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl<T> std::fmt::Debug for AckFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckFuture")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<T: FromAck + Send + 'static> std::future::IntoFuture for AckFuture<T> {
    type Output = Result<T, Error>;
    type IntoFuture = BoxFuture<Self::Output>;

    /// The answer read as `T`; one that does not read gives [`Error::Serde`].
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { Ok(T::from_ack((self.wait)(self.timeout).await?)?) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_count_up_and_resolve_once() {
        let mut reg = AckRegistry::default();
        let (a, mut rx_a) = reg.register();
        let (b, _rx_b) = reg.register();
        assert_eq!((a, b), (0, 1));
        assert!(reg.resolve(a, vec![Value::from("ok")]));
        assert!(!reg.resolve(a, vec![]));
        assert!(matches!(rx_a.try_recv(), Ok(Ok(v)) if v == vec![Value::from("ok")]));
        assert_eq!(reg.len(), 1);
    }

    #[test]
    fn disconnect_fails_only_sent_acks() {
        let mut reg = AckRegistry::default();
        let (sent, mut rx_sent) = reg.register();
        let (buffered, mut rx_buffered) = reg.register();
        reg.fail_sent(|id| id == buffered);
        assert!(matches!(
            rx_sent.try_recv(),
            Ok(Err(Error::SocketDisconnected))
        ));
        assert!(rx_buffered.try_recv().is_err(), "still pending");
        assert!(!reg.resolve(sent, vec![]));
        assert!(reg.resolve(buffered, vec![]));
    }
}
