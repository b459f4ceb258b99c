//! The session core alone, without sockets: each test is a table of
//! `time (ms) | input | effects`, read top to bottom like the protocol
//! specification.

use super::*;
use crate::Message;
use CloseReason::*;
use Effect::*;

const MS: Duration = Duration::from_millis(1);

/// One row's input: an event, the driver queueing data, or the timer firing.
enum In {
    Ev(Event),
    Data,
    Tick,
}
use In::*;

fn cfg(protocol: ProtocolVersion, transport: TransportType) -> SessionConfig {
    SessionConfig {
        protocol,
        transport,
        ping_interval: 300 * MS,
        ping_timeout: 200 * MS,
        upgrade_timeout: 1000 * MS,
        allow_upgrades: true,
    }
}

fn v4_polling() -> SessionConfig {
    cfg(ProtocolVersion::V4, TransportType::Polling)
}

/// Polling v4 with a heartbeat too slow to show in the table.
fn quiet() -> SessionConfig {
    SessionConfig {
        ping_interval: Duration::from_secs(60),
        ping_timeout: Duration::from_secs(60),
        ..v4_polling()
    }
}

/// Runs the table against a session created at t = 0 and returns it.
fn table(config: SessionConfig, rows: &[(u64, In, &[Effect])]) -> Session {
    let t0 = Instant::now();
    let mut s = Session::new(config, t0);
    for (i, (ms, input, expected)) in rows.iter().enumerate() {
        let now = t0 + Duration::from_millis(*ms);
        match input {
            Ev(e) => s.handle_event(now, e.clone()),
            Data => {
                let e = s.data_queued();
                s.effects.extend(e);
            }
            Tick => s.handle_timeout(now),
        }
        let got: Vec<Effect> = s.take_effects().into_iter().collect();
        assert_eq!(got, *expected, "row {i} at {ms} ms");
    }
    s
}

fn get(id: RequestId) -> In {
    Ev(Event::GetArrived(id))
}
fn post(id: RequestId) -> In {
    Ev(Event::PostArrived { id, binary: false })
}
fn packet(t: PacketType) -> In {
    Ev(Event::Received(t))
}
fn message() -> In {
    Ev(Event::Received(PacketType::Message))
}
fn probe(p: Packet) -> In {
    Ev(Event::Probe(p))
}
fn ping() -> Packet {
    Packet::empty(PacketType::Ping)
}
fn pong() -> Packet {
    Packet::empty(PacketType::Pong)
}
fn ms(t: u64) -> Duration {
    Duration::from_millis(t)
}

// ---- handshake ----------------------------------------------------------

#[test]
fn handshake_opens_with_the_heartbeat_armed_and_nothing_to_do() {
    let s = table(v4_polling(), &[]);
    assert!(s.is_open());
    assert_eq!(s.transport(), TransportType::Polling);
    assert_eq!(s.upgrade(), Upgrade::Idle);
    let t0 = s.poll_timeout().unwrap() - ms(300);
    assert_eq!(s.timers().get(Timer::Heartbeat), Some(t0 + ms(300)));
    assert_eq!(s.timers().get(Timer::Upgrade), None);
}

#[test]
fn a_get_waits_for_data_and_is_answered_with_the_queue() {
    table(
        v4_polling(),
        &[
            (0, get(1), &[]),
            (10, Data, &[AnswerGet(1, Answer::Queued)]),
            // Data queued with no GET waits for the next one.
            (20, Data, &[]),
            (30, get(2), &[AnswerGet(2, Answer::Queued)]),
        ],
    );
}

// ---- heartbeat ----------------------------------------------------------

#[test]
fn heartbeat_v4_server_pings_and_expects_a_pong() {
    let s = table(
        v4_polling(),
        &[
            (0, get(1), &[]),
            (299, Tick, &[]),
            (300, Tick, &[Queue(ping()), AnswerGet(1, Answer::Queued)]),
            (350, packet(PacketType::Pong), &[]),
            // Next ping 300 ms after the pong.
            (649, Tick, &[]),
            (650, Tick, &[Queue(ping())]),
            // No pong within pingTimeout.
            (850, Tick, &[Closed(PingTimeout, None)]),
        ],
    );
    assert_eq!(
        *s.lifecycle(),
        Lifecycle::Closed {
            reason: PingTimeout,
            answer: Answer::Close
        }
    );
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn heartbeat_v4_client_ping_is_a_transport_error() {
    table(
        v4_polling(),
        &[(
            10,
            packet(PacketType::Ping),
            &[Closed(
                TransportError,
                Some("invalid heartbeat direction".into()),
            )],
        )],
    );
}

#[test]
fn heartbeat_v3_client_pings_and_the_server_answers() {
    table(
        cfg(ProtocolVersion::V3, TransportType::Polling),
        &[
            (100, packet(PacketType::Ping), &[Queue(pong())]),
            (110, get(1), &[AnswerGet(1, Answer::Queued)]),
            // The session times out pingInterval + pingTimeout after the last ping.
            (599, Tick, &[]),
            (600, Tick, &[Closed(PingTimeout, None)]),
        ],
    );
}

#[test]
fn heartbeat_v3_server_bound_pong_is_a_transport_error() {
    table(
        cfg(ProtocolVersion::V3, TransportType::Websocket),
        &[(
            10,
            packet(PacketType::Pong),
            &[
                CloseTransport,
                Closed(TransportError, Some("invalid heartbeat direction".into())),
            ],
        )],
    );
}

// ---- duplicate requests -------------------------------------------------

#[test]
fn duplicate_get_closes_the_session_first_get_gets_close() {
    table(
        v4_polling(),
        &[
            (0, get(1), &[]),
            (
                5,
                get(2),
                &[
                    Refuse(2),
                    AnswerGet(1, Answer::Close),
                    Closed(TransportError, Some("overlap from client".into())),
                ],
            ),
        ],
    );
}

#[test]
fn duplicate_post_closes_the_session() {
    table(
        v4_polling(),
        &[
            (0, post(1), &[]),
            (
                5,
                post(2),
                &[
                    Refuse(2),
                    Closed(
                        TransportError,
                        Some("data request overlap from client".into()),
                    ),
                ],
            ),
        ],
    );
}

#[test]
fn sequential_posts_are_fine_and_binary_v4_post_is_refused() {
    table(
        v4_polling(),
        &[
            (0, post(1), &[]),
            (1, Ev(Event::PostEnded(1)), &[]),
            (2, post(2), &[]),
            (3, Ev(Event::PostEnded(2)), &[]),
            (
                4,
                Ev(Event::PostArrived {
                    id: 3,
                    binary: true,
                }),
                &[
                    Refuse(3),
                    Closed(TransportError, Some("invalid content".into())),
                ],
            ),
        ],
    );
}

#[test]
fn aborted_requests_are_transport_errors() {
    table(
        v4_polling(),
        &[
            (0, get(1), &[]),
            (
                5,
                Ev(Event::GetAborted(1)),
                &[Closed(
                    TransportError,
                    Some("poll connection closed prematurely".into()),
                )],
            ),
        ],
    );
    table(
        v4_polling(),
        &[
            (0, post(1), &[]),
            (
                5,
                Ev(Event::PostAborted(1)),
                &[Closed(
                    TransportError,
                    Some("data request connection closed prematurely".into()),
                )],
            ),
        ],
    );
}

// ---- upgrade ------------------------------------------------------------

#[test]
fn upgrade_probe_noop_to_the_pending_get_then_switch_and_flush() {
    let s = table(
        v4_polling(),
        &[
            (0, get(1), &[]),
            (10, Ev(Event::ProbeOpened(TransportType::Websocket)), &[]),
            // 2probe: 3probe on the probe, the pending GET released with a noop.
            (
                20,
                probe(Packet::ping_probe()),
                &[ProbeSend(Packet::pong_probe()), AnswerGet(1, Answer::Noop)],
            ),
            // GETs meanwhile get a noop at once.
            (30, get(2), &[AnswerGet(2, Answer::Noop)]),
            (35, get(3), &[AnswerGet(3, Answer::Noop)]),
            (40, Data, &[]),
            // 5: switched; what was queued is flushed on the WebSocket.
            (
                50,
                probe(Packet::empty(PacketType::Upgrade)),
                &[Upgraded, Flush],
            ),
            (60, Ev(Event::Drained), &[]),
            (70, Data, &[Flush]),
        ],
    );
    assert_eq!(s.transport(), TransportType::Websocket);
    assert_eq!(s.upgrade(), Upgrade::Done);
    assert_eq!(s.timers().get(Timer::Upgrade), None);
}

#[test]
fn upgrade_closes_a_get_left_on_the_old_transport() {
    table(
        v4_polling(),
        &[
            (10, Ev(Event::ProbeOpened(TransportType::Websocket)), &[]),
            (
                20,
                probe(Packet::ping_probe()),
                &[ProbeSend(Packet::pong_probe())],
            ),
            (30, get(1), &[AnswerGet(1, Answer::Noop)]),
            (31, get(2), &[AnswerGet(2, Answer::Noop)]),
            (40, probe(Packet::empty(PacketType::Upgrade)), &[Upgraded]),
            (50, get(3), &[AnswerGet(3, Answer::Close)]),
        ],
    );
}

#[test]
fn upgrade_times_out_and_may_be_tried_again() {
    let s = table(
        quiet(),
        &[
            (0, Ev(Event::ProbeOpened(TransportType::Websocket)), &[]),
            (999, Tick, &[]),
            (1000, Tick, &[CloseProbe]),
            (1001, get(1), &[]),
            (1002, Ev(Event::ProbeOpened(TransportType::Websocket)), &[]),
        ],
    );
    assert_eq!(s.upgrade(), Upgrade::Probing);
    assert_eq!(s.transport(), TransportType::Polling);
}

#[test]
fn bad_probe_packet_closes_the_probe_and_keeps_polling() {
    let s = table(
        v4_polling(),
        &[
            (0, Ev(Event::ProbeOpened(TransportType::Websocket)), &[]),
            (5, probe(Packet::message(Message::from("x"))), &[CloseProbe]),
            (6, get(1), &[]),
        ],
    );
    assert_eq!(s.upgrade(), Upgrade::Idle);
    assert!(s.is_open());
}

#[test]
fn second_probe_or_probe_when_upgrades_are_off_is_closed() {
    table(
        v4_polling(),
        &[
            (0, Ev(Event::ProbeOpened(TransportType::Websocket)), &[]),
            (
                1,
                Ev(Event::ProbeOpened(TransportType::Websocket)),
                &[RefuseProbe],
            ),
        ],
    );
    let mut off = v4_polling();
    off.allow_upgrades = false;
    table(
        off,
        &[(
            0,
            Ev(Event::ProbeOpened(TransportType::Websocket)),
            &[RefuseProbe],
        )],
    );
    table(
        cfg(ProtocolVersion::V4, TransportType::Websocket),
        &[(
            0,
            Ev(Event::ProbeOpened(TransportType::Websocket)),
            &[RefuseProbe],
        )],
    );
}

#[test]
fn upgrade_clears_a_pending_pong_wait() {
    let s = table(
        v4_polling(),
        &[
            (300, Tick, &[Queue(ping())]),
            (310, Ev(Event::ProbeOpened(TransportType::Websocket)), &[]),
            (
                320,
                probe(Packet::ping_probe()),
                &[ProbeSend(Packet::pong_probe())],
            ),
            (
                330,
                probe(Packet::empty(PacketType::Upgrade)),
                &[Upgraded, Flush],
            ),
            // The ping was not answered, yet no timeout at 500 ms: the next ping at 630.
            (500, Tick, &[]),
            (630, Tick, &[Queue(ping()), Flush]),
        ],
    );
    assert!(s.is_open());
}

// ---- close --------------------------------------------------------------

#[test]
fn client_close_packet_over_polling_releases_the_get_with_a_noop() {
    table(
        v4_polling(),
        &[
            (0, get(1), &[]),
            (
                5,
                packet(PacketType::Close),
                &[AnswerGet(1, Answer::Noop), Closed(TransportClose, None)],
            ),
        ],
    );
}

#[test]
fn close_packet_over_websocket_is_ignored() {
    let s = table(
        cfg(ProtocolVersion::V4, TransportType::Websocket),
        &[(5, packet(PacketType::Close), &[])],
    );
    assert!(s.is_open());
}

#[test]
fn graceful_polling_close_flushes_into_the_next_get_then_closes() {
    table(
        v4_polling(),
        &[
            (0, Data, &[]),
            (1, Ev(Event::Close), &[]),
            (
                10,
                get(1),
                &[
                    AnswerGet(1, Answer::QueuedThenClose),
                    Closed(ForcedClose, None),
                ],
            ),
        ],
    );
}

#[test]
fn graceful_polling_close_waits_30_s_for_a_get() {
    let s = table(quiet(), &[(0, Ev(Event::Close), &[])]);
    assert!(!s.is_open() && !s.is_closed());
    let t0 = s.timers().get(Timer::Close).unwrap() - POLLING_CLOSE_WAIT;
    let mut s = s;
    s.handle_timeout(t0 + POLLING_CLOSE_WAIT);
    assert_eq!(
        s.take_effects().into_iter().collect::<Vec<_>>(),
        vec![Closed(ForcedClose, None)]
    );
}

fn close_after(ms: Option<u64>) -> In {
    Ev(Event::CloseAfter(ms.map(Duration::from_millis)))
}

#[test]
fn close_after_closes_gracefully_at_its_deadline_and_a_new_one_replaces_it() {
    let ws = || SessionConfig {
        transport: TransportType::Websocket,
        ..quiet()
    };
    let s = table(
        ws(),
        &[
            (0, close_after(Some(100)), &[]),
            // Replaced before it was due: 50 + 100.
            (50, close_after(Some(100)), &[]),
            (120, Tick, &[]),
            (150, Tick, &[Flush]),
            (
                151,
                Ev(Event::Drained),
                &[CloseTransport, Closed(ForcedClose, None)],
            ),
        ],
    );
    assert!(s.is_closed());
    // It is the next deadline, before the heartbeat's.
    let s = table(ws(), &[(0, close_after(Some(100)), &[])]);
    let t0 = s.timers().get(Timer::Heartbeat).unwrap() - Duration::from_secs(60);
    assert_eq!(s.poll_timeout(), Some(t0 + ms(100)));
    // Over polling: the close packet waits for the next GET, as `Close`'s does.
    table(
        quiet(),
        &[
            (0, close_after(Some(100)), &[]),
            (100, Tick, &[]),
            (
                110,
                get(1),
                &[
                    AnswerGet(1, Answer::QueuedThenClose),
                    Closed(ForcedClose, None),
                ],
            ),
        ],
    );
}

#[test]
fn close_after_none_cancels_and_an_unreachable_deadline_is_never() {
    let ws = SessionConfig {
        transport: TransportType::Websocket,
        ..quiet()
    };
    let s = table(
        ws,
        &[
            (0, close_after(Some(100)), &[]),
            (10, close_after(None), &[]),
            (100, Tick, &[]),
            (1000, Tick, &[]),
        ],
    );
    assert!(s.is_open());
    assert_eq!(s.timers().get(Timer::CloseAfter), None);
    let mut s = table(ws, &[]);
    s.handle_event(Instant::now(), Event::CloseAfter(Some(Duration::MAX)));
    assert_eq!(s.timers().get(Timer::CloseAfter), None);
    assert!(s.is_open());
}

#[test]
fn graceful_websocket_close_flushes_then_closes() {
    table(
        cfg(ProtocolVersion::V4, TransportType::Websocket),
        &[
            (0, Data, &[Flush]),
            (1, Ev(Event::Close), &[Flush]),
            (
                5,
                Ev(Event::Drained),
                &[CloseTransport, Closed(ForcedClose, None)],
            ),
        ],
    );
    // Nothing queued: closes as soon as the driver reports the (empty) queue written.
    table(
        cfg(ProtocolVersion::V4, TransportType::Websocket),
        &[
            (1, Ev(Event::Close), &[Flush]),
            (
                2,
                Ev(Event::Drained),
                &[CloseTransport, Closed(ForcedClose, None)],
            ),
        ],
    );
}

#[test]
fn abort_answers_the_get_closes_the_probe_and_happens_once() {
    let s = table(
        v4_polling(),
        &[
            (0, get(1), &[]),
            (1, Ev(Event::ProbeOpened(TransportType::Websocket)), &[]),
            (
                2,
                Ev(Event::Abort {
                    reason: ForcedClose,
                    description: None,
                    answer: Answer::Close,
                }),
                &[
                    CloseProbe,
                    AnswerGet(1, Answer::Close),
                    Closed(ForcedClose, None),
                ],
            ),
            (
                3,
                Ev(Event::TransportEnded {
                    reason: TransportClose,
                    description: None,
                }),
                &[],
            ),
            // A GET that still arrives gets the close packet; no second close.
            (4, get(2), &[AnswerGet(2, Answer::Close)]),
            (5, message(), &[]),
        ],
    );
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn websocket_transport_end_is_the_close() {
    table(
        cfg(ProtocolVersion::V4, TransportType::Websocket),
        &[(
            7,
            Ev(Event::TransportEnded {
                reason: TransportClose,
                description: None,
            }),
            &[CloseTransport, Closed(TransportClose, None)],
        )],
    );
}
