//! Running handler futures: in order, inline when they finish at once, isolated from panics.
//!
//! A handler is called (creating its future) in the order the packets arrived, and its future
//! is polled once right there. Most handlers finish in that first poll (they emit, join, ack),
//! so no task is spawned and nothing can reorder them. A future that is still pending is moved
//! to a tokio task; its later steps interleave with the next handlers exactly like an `async`
//! function in the reference's event loop. A panic in a handler (inline or in its task) is
//! caught and logged: it kills neither the connection nor the server.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_util::FutureExt;

/// Polls `fut` once inline; spawns the rest if it is pending.
pub(crate) fn run<F>(fut: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    run_boxed(Box::pin(fut));
}

/// [`run`] for a future already boxed (no second allocation).
pub(crate) fn run_boxed(mut fut: Pin<Box<dyn Future<Output = ()> + Send>>) {
    // The no-op waker is fine: a pending future is handed to a task whose first poll
    // registers the task's own waker before anything can be missed (futures re-register
    // their waker on every poll).
    let mut cx = Context::from_waker(Waker::noop());
    match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))) {
        Ok(Poll::Ready(())) => {}
        Ok(Poll::Pending) => spawn(fut),
        Err(panic) => log_panic(&panic),
    }
}

/// Spawns `fut` on the current runtime, catching panics.
pub(crate) fn spawn<F>(fut: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    use tracing::Instrument;
    // The task keeps the span it was started in (the connection's, see `Client::on_message`).
    let fut = async move {
        if let Err(panic) = AssertUnwindSafe(fut).catch_unwind().await {
            log_panic(&panic);
        }
    };
    tokio::spawn(fut.instrument(tracing::Span::current()));
}

fn log_panic(panic: &Box<dyn std::any::Any + Send>) {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".to_owned());
    tracing::error!(panic = %msg, "a Socket.IO handler panicked; the server keeps running");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn ready_futures_run_inline_and_in_order() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        for i in 0..5 {
            let log = log.clone();
            run(async move { log.lock().unwrap().push(i) });
        }
        assert_eq!(*log.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn pending_futures_complete_in_a_task() {
        let done = Arc::new(AtomicUsize::new(0));
        let d = done.clone();
        run(async move {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            d.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(done.load(Ordering::SeqCst), 0);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(done.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn panics_are_contained() {
        run(async { panic!("inline boom") });
        run(async {
            tokio::task::yield_now().await;
            panic!("spawned boom")
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let ok = Arc::new(AtomicUsize::new(0));
        let o = ok.clone();
        run(async move {
            o.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(ok.load(Ordering::SeqCst), 1);
    }
}
