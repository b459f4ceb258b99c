//! Unit tests of the socket shell: queue bounds, batches, close, data.
use super::*;
use crate::{Config, Server};

/// The weight of a 1-byte message.
const W: usize = 1 + std::mem::size_of::<Packet>();

/// A socket whose hard cap holds `cap` 1-byte messages.
fn socket(cap: usize) -> (Server, Arc<Socket>) {
    socket_v(cap, ProtocolVersion::V4)
}

fn socket_v(cap: usize, v: ProtocolVersion) -> (Server, Arc<Socket>) {
    with_config(v, Config::builder().max_buffered_bytes(cap * W).build())
}

fn with_config(v: ProtocolVersion, config: Config) -> (Server, Arc<Socket>) {
    let server = Server::new_stream(config);
    let info = crate::RequestInfo::new(
        http::Method::GET,
        http::Uri::from_static("/engine.io/?EIO=4&transport=polling"),
        &http::HeaderMap::new(),
        None,
    );
    let s = server.create_socket(info, v, TransportType::Polling);
    (server, s)
}

#[tokio::test]
async fn queue_capacity_counts_messages_only() {
    let (_server, s) = socket(2);
    // the open packet is queued but does not count
    assert_eq!(s.lock().queue.len(), 1);
    s.try_send("a").unwrap();
    s.try_send("b").unwrap();
    assert!(matches!(s.try_send("c"), Err(TrySendError::Full(_))));
    {
        let mut st = s.lock();
        Socket::push_control(&mut st, control(PacketType::Ping));
    }
    let drained = {
        let mut st = s.lock();
        s.drain_queue(&mut st)
    };
    assert_eq!(drained.len(), 4);
    assert_eq!(s.queued(), 0);
    s.try_send("c").unwrap();
}

#[tokio::test(start_paused = true)]
async fn slow_consumer_is_over_the_bound_and_undrained_for_the_timeout() {
    let timeout = std::time::Duration::from_secs(10);
    let config = Config::builder()
        .slow_consumer(2 * W, timeout)
        .max_buffered_bytes(100 * W)
        .build();
    let (_server, s) = with_config(ProtocolVersion::V4, config);
    // A burst over the bound is fine while the client reads in time.
    for _ in 0..10 {
        s.try_send("a").unwrap();
    }
    tokio::time::advance(timeout - std::time::Duration::from_millis(1)).await;
    s.try_send("a").unwrap();
    tokio::time::advance(std::time::Duration::from_millis(1)).await;
    assert!(matches!(s.try_send("a"), Err(TrySendError::Full(_))));
    assert_eq!(s.queued_bytes(), 11 * W);
    // A drain (the client read) clears it at once.
    {
        let mut st = s.lock();
        s.drain_queue(&mut st);
    }
    for _ in 0..10 {
        s.try_send("a").unwrap();
    }
    // The hard cap holds whatever the time.
    for _ in 10..100 {
        s.try_send("a").unwrap();
    }
    assert!(matches!(s.try_send("a"), Err(TrySendError::Full(_))));
    assert_eq!(s.queued_bytes(), 100 * W);
}

#[tokio::test]
async fn batches_are_all_or_nothing() {
    let (_server, s) = socket(3);
    s.try_send("a").unwrap();
    let batch = vec![Message::from("1"), Message::from("2"), Message::from("3")];
    match s.try_send_many(batch) {
        Err(TrySendError::Full(b)) => assert_eq!(b.len(), 3),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.queued(), 1);
    {
        let mut st = s.lock();
        s.drain_queue(&mut st);
    }
    // larger than the capacity: accepted into an empty queue
    s.try_send_many(vec![Message::from("x"); 5]).unwrap();
    assert_eq!(s.queued(), 5);
}

#[tokio::test]
async fn closed_socket_gives_messages_back_and_wakes_waiters() {
    let (server, s) = socket(1);
    s.try_send("a").unwrap();
    let s2 = s.clone();
    let waiting = tokio::spawn(async move { s2.send("b").await });
    let s3 = s.clone();
    let flushing = tokio::spawn(async move { s3.flush().await });
    tokio::task::yield_now().await;
    s.close_now();
    assert_eq!(waiting.await.unwrap(), Err(SendError(Message::from("b"))));
    assert_eq!(flushing.await.unwrap(), Err(Closed));
    assert!(matches!(s.try_send("c"), Err(TrySendError::Closed(_))));
    assert_eq!(s.close_reason(), Some(CloseReason::ForcedClose));
    assert_eq!(s.closed().await, CloseReason::ForcedClose);
    assert_eq!(server.count(), 0);
    assert_eq!(s.recv().await, None);
}

#[tokio::test]
async fn user_data_is_set_once() {
    let (_server, s) = socket(4);
    assert!(s.data::<u32>().is_none());
    s.set_data(7u32).unwrap();
    assert_eq!(s.set_data(8u32), Err(8));
    assert_eq!(s.data::<u32>(), Some(&7));
    assert!(s.data::<String>().is_none());
}

#[tokio::test]
async fn ping_flood_does_not_grow_the_queue() {
    let (_server, s) = socket_v(4, ProtocolVersion::V3);
    for _ in 0..1000 {
        s.handle_packet(control(PacketType::Ping));
    }
    assert!(s.lock().queue.len() <= MAX_PENDING_CONTROL);
    assert!(s.is_open());
}

#[tokio::test]
async fn graceful_close_refuses_new_messages() {
    let (_server, s) = socket(4);
    s.try_send("a").unwrap();
    s.close();
    assert!(!s.is_open());
    assert!(!s.is_closed());
    assert!(matches!(s.try_send("b"), Err(TrySendError::Closed(_))));
    assert_eq!(s.queued(), 1);
}

/// Lets the socket task run what is due.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

/// The deadline rides on the socket task's timer: the task, parked on its heartbeat (25 s
/// away), wakes for the earlier deadline and closes the session then, not before.
#[tokio::test(start_paused = true)]
async fn close_after_closes_at_the_deadline_and_none_cancels_it() {
    let ms = std::time::Duration::from_millis;
    let (_server, s) = socket(4);
    crate::driver::spawn(s.clone(), None);
    settle().await;
    s.close_after(Some(ms(1000)));
    tokio::time::advance(ms(999)).await;
    settle().await;
    assert!(s.is_open());
    tokio::time::advance(ms(2)).await;
    settle().await;
    assert!(!s.is_open(), "closing once the deadline passed");

    let (_server, s) = socket(4);
    crate::driver::spawn(s.clone(), None);
    s.close_after(Some(ms(1000)));
    settle().await;
    s.close_after(None);
    tokio::time::advance(ms(5000)).await;
    settle().await;
    assert!(s.is_open(), "a cancelled deadline does not close");
}

/// The task reports an upgrade only if the connection was done when it
/// completed; otherwise the delayed connection reports it when it finishes
/// (it finds the upgrade done): once either way, whichever runs first after.
#[tokio::test]
async fn an_upgrade_is_reported_by_one_side_only() {
    let (_server, s) = socket(4);
    for (connect, expect) in [
        (Connect::Delayed, false),
        (Connect::Replaying, false),
        (Connect::Done, true),
    ] {
        let mut st = s.lock();
        st.connect = connect;
        st.probe_cmds.clear();
        let mut after = After::default();
        s.apply_one(&mut st, Effect::Upgraded, &mut after);
        assert!(
            matches!(st.probe_cmds.as_slice(), [ProbeCmd::Upgraded { report }] if *report == expect),
            "{connect:?}: {:?}",
            st.probe_cmds
        );
    }
}

/// A write wakes a waiting `flush` (writes notify only while some flush
/// waits), and a `flush` dropped while waiting is no longer counted.
#[tokio::test]
async fn a_write_wakes_flush_and_a_dropped_flush_is_uncounted() {
    let (_server, s) = socket(4);
    s.try_send("a").unwrap();
    let cancelled = tokio::time::timeout(std::time::Duration::from_millis(20), s.flush()).await;
    assert!(cancelled.is_err(), "flush returned before the write");
    assert_eq!(s.lock().waiting, 0);
    let s2 = s.clone();
    let flushing = tokio::spawn(async move { s2.flush().await });
    while s.lock().waiting == 0 {
        tokio::task::yield_now().await;
    }
    {
        let mut st = s.lock();
        let n = s.drain_queue(&mut st).len() as u64;
        s.mark_written(&mut st, n);
    }
    let done = tokio::time::timeout(std::time::Duration::from_secs(5), flushing).await;
    assert_eq!(done.expect("the write did not wake flush").unwrap(), Ok(()));
    assert_eq!(s.lock().waiting, 0);
    s.close_now();
}

/// A drain wakes a `send` waiting for room, which is counted while it waits.
#[tokio::test]
async fn a_drain_wakes_a_send_waiting_for_room() {
    let (_server, s) = socket(1);
    s.try_send("a").unwrap();
    let s2 = s.clone();
    let sending = tokio::spawn(async move { s2.send("b").await });
    while s.lock().waiting == 0 {
        tokio::task::yield_now().await;
    }
    {
        let mut st = s.lock();
        s.drain_queue(&mut st);
    }
    let done = tokio::time::timeout(std::time::Duration::from_secs(5), sending).await;
    assert_eq!(done.expect("the drain did not wake send").unwrap(), Ok(()));
    assert_eq!(s.queued(), 1);
    assert_eq!(s.lock().waiting, 0);
    s.close_now();
}
