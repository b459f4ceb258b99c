//! The connection's state machine alone, as event → effects tables that read like the protocol.
//!
//! Each row is what happens (a payload received, a write finished, the user's call, time
//! passing) and what the connection does about it. Writes show the bytes on the wire: `POST`
//! with the v4 payload (`\x1e` between packets), `WS` with one frame each.

use std::time::{Duration, Instant};

use engine_io::{payload, Frame, Message, ProtocolVersion};

use super::*;
use crate::polling::decode_payload;

/// What happens, in a table row.
enum Step {
    /// A payload (or one WebSocket frame) on the active transport.
    Recv(&'static str),
    /// A frame on the probe WebSocket.
    ProbeRecv(&'static str),
    Drained,
    Paused,
    TransportClosed(Option<Error>),
    ProbeOpen,
    ProbeFailed(Error),
    Send(&'static str),
    SendBinary(&'static [u8]),
    Flush(u64),
    Close,
    /// Time passes, in milliseconds since the connection opened; the driver wakes.
    At(u64),
}
use Step::*;

/// The last effects of a connection that closed for this reason.
const PING_TIMEOUT: &[&str] = &["closed: ping timeout", "event close: ping timeout"];
const FORCED_CLOSE: &[&str] = &["closed: forced close", "event close: forced close"];
const TRANSPORT_CLOSE: &[&str] = &["closed: transport close", "event close: transport close"];
/// The switch to the WebSocket: the upgrade packet goes first, alone.
const UPGRADED: &[&str] = &[
    "switch to websocket",
    "WS 5",
    "remember upgrade true",
    "event upgrade websocket",
];

struct Harness {
    conn: Connection,
    start: Instant,
    now: Instant,
    /// The active transport as the driver sees it (follows `switch to websocket`).
    transport: TransportType,
}

fn settings(transport: TransportType) -> Settings {
    Settings {
        transport,
        ping_interval: 300,
        ping_timeout: 200,
        max_payload: None,
        server_upgrades: true,
        client_upgrades: true,
        probe_transport: TransportType::Websocket,
        upgrade_timeout: Duration::from_millis(1000),
        close_timeout: Duration::from_millis(2000),
        send_queue: 4,
    }
}

impl Harness {
    /// Opens with `settings` and `initial` (the packets after `open`), checking the effects.
    fn open(settings: Settings, initial: &'static str, expect: &[&str]) -> Self {
        let start = Instant::now();
        let initial = if initial.is_empty() {
            Vec::new()
        } else {
            decode(initial)
        };
        let conn = Connection::open(start, &settings, initial);
        let mut h = Harness {
            conn,
            start,
            now: start,
            transport: settings.transport,
        };
        let got = h.effects();
        assert_eq!(got, expect, "opening");
        h
    }

    fn polling() -> Self {
        Self::open(settings(TransportType::Polling), "", &["open probe"])
    }

    fn polling_without_upgrade() -> Self {
        let mut s = settings(TransportType::Polling);
        s.client_upgrades = false;
        Self::open(s, "", &[])
    }

    fn websocket() -> Self {
        Self::open(settings(TransportType::Websocket), "", &[])
    }

    /// Runs the rows in order, checking each one's effects.
    fn table(&mut self, rows: Vec<(Step, &[&str])>) {
        for (i, (step, expect)) in rows.into_iter().enumerate() {
            let label = describe(&step);
            match step {
                At(ms) => {
                    self.now = self.start + Duration::from_millis(ms);
                    self.conn.handle_timeout(self.now);
                }
                step => {
                    let input = input(step);
                    self.conn.handle_event(self.now, input);
                }
            }
            let got = self.effects();
            assert_eq!(got, expect, "row {i}: {label}");
        }
    }

    fn effects(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(effect) = self.conn.poll_effect() {
            out.push(self.show(effect));
        }
        out
    }

    fn show(&mut self, effect: Effect) -> String {
        match effect {
            Effect::Write(packets) => match self.transport {
                TransportType::Polling => {
                    format!("POST {}", payload::encode_v4(&packets).escape_debug())
                }
                TransportType::Websocket => {
                    let frames: Vec<String> = packets.iter().map(frame).collect();
                    format!("WS {}", frames.join(" "))
                }
                TransportType::Webtransport => {
                    let frames: Vec<String> = packets.iter().map(frame).collect();
                    format!("WT {}", frames.join(" "))
                }
            },
            Effect::WriteClose => match self.transport {
                TransportType::Polling => "POST 1".to_owned(),
                TransportType::Websocket => "WS close frame".to_owned(),
                TransportType::Webtransport => "WT close".to_owned(),
            },
            Effect::OpenProbe => "open probe".to_owned(),
            Effect::WriteProbe(packets) => {
                let frames: Vec<String> = packets.iter().map(frame).collect();
                format!("probe WS {}", frames.join(" "))
            }
            Effect::PausePolling => "pause polling".to_owned(),
            Effect::ResumePolling => "resume polling".to_owned(),
            Effect::DropProbe => "drop probe".to_owned(),
            Effect::SwitchToProbe => {
                self.transport = TransportType::Websocket;
                "switch to websocket".to_owned()
            }
            Effect::RememberUpgrade(ok) => format!("remember upgrade {ok}"),
            Effect::Emit(Event::Message(Message::Text(text))) => format!("message {text:?}"),
            Effect::Emit(Event::Message(Message::Binary(data))) => format!("message {data:?}"),
            Effect::Emit(Event::Upgrade(kind)) => format!("event upgrade {kind}"),
            Effect::Emit(Event::UpgradeError(err)) => format!("event upgrade error: {err}"),
            Effect::Emit(Event::Close(reason)) => format!("event close: {reason}"),
            Effect::Flushed(id) => format!("flushed {id}"),
            Effect::FlushFailed(id) => format!("flush {id} failed"),
            Effect::Closed(reason) => format!("closed: {reason}"),
        }
    }
}

fn decode(payload: &'static str) -> Vec<Packet> {
    decode_payload(bytes::Bytes::from_static(payload.as_bytes())).expect("valid test payload")
}

fn frame(packet: &Packet) -> String {
    match packet.encode(ProtocolVersion::V4) {
        Frame::Text(text) => text.to_string(),
        Frame::Binary(data) => format!("bin{:?}", data.as_ref()),
    }
}

fn input(step: Step) -> Input {
    match step {
        Recv(p) => Input::Packets(decode(p)),
        ProbeRecv(p) => Input::ProbePackets(decode(p)),
        Drained => Input::Drained,
        Paused => Input::Paused,
        TransportClosed(err) => Input::TransportClosed(err),
        ProbeOpen => Input::ProbeOpen,
        ProbeFailed(err) => Input::ProbeFailed(err),
        Send(text) => Input::Send(vec![Message::from(text)]),
        SendBinary(data) => Input::Send(vec![Message::from(data.to_vec())]),
        Flush(id) => Input::Flush(id),
        Close => Input::Close,
        At(_) => unreachable!("time is not an event"),
    }
}

fn describe(step: &Step) -> String {
    match step {
        Recv(p) => format!("receive {p:?}"),
        ProbeRecv(p) => format!("probe receives {p:?}"),
        Drained => "write done".to_owned(),
        Paused => "polling paused".to_owned(),
        TransportClosed(err) => format!("transport closed ({err:?})"),
        ProbeOpen => "probe open".to_owned(),
        ProbeFailed(err) => format!("probe failed ({err})"),
        Send(text) => format!("send {text:?}"),
        SendBinary(data) => format!("send {data:?}"),
        Flush(id) => format!("flush {id}"),
        Close => "close".to_owned(),
        At(ms) => format!("at {ms} ms"),
    }
}

// ---- the handshake ----

#[test]
fn handshake_over_polling_starts_the_probe_after_the_initial_packets() {
    let h = Harness::open(
        settings(TransportType::Polling),
        "4hi\x1e2",
        &["message \"hi\"", "POST 3", "open probe"],
    );
    // The heartbeat is armed from the handshake: pingInterval + pingTimeout.
    assert_eq!(
        h.conn.poll_timeout(),
        Some(h.start + Duration::from_millis(500))
    );
}

#[test]
fn handshake_without_websocket_on_either_side_does_not_probe() {
    Harness::websocket();
    Harness::polling_without_upgrade();
    let mut s = settings(TransportType::Polling);
    s.server_upgrades = false;
    Harness::open(s, "", &[]);
}

#[test]
fn a_close_right_after_the_handshake_ends_the_session() {
    let h = Harness::open(settings(TransportType::Polling), "1", TRANSPORT_CLOSE);
    assert!(h.conn.is_closed());
    assert_eq!(h.conn.poll_timeout(), None);
}

// ---- the heartbeat ----

#[test]
fn pings_are_answered_with_pongs_echoing_the_data() {
    let mut h = Harness::polling_without_upgrade();
    h.table(vec![
        (Recv("2"), &["POST 3"]),
        (Recv("2x"), &[]),
        (Drained, &["POST 3x"]),
    ]);
    let mut h = Harness::websocket();
    h.table(vec![(Recv("2"), &["WS 3"])]);
}

#[test]
fn silence_for_ping_interval_plus_timeout_is_a_ping_timeout() {
    let mut h = Harness::polling_without_upgrade();
    h.table(vec![
        (At(499), &[]),
        (At(500), PING_TIMEOUT),
        (Recv("4late"), &[]),
    ]);
}

#[test]
fn any_packet_from_the_server_resets_the_heartbeat() {
    let mut h = Harness::polling_without_upgrade();
    h.table(vec![
        (At(400), &[]),
        (Recv("6"), &[]),
        (At(899), &[]),
        (Recv("4a"), &["message \"a\""]),
        (At(1398), &[]),
        (At(1399), PING_TIMEOUT),
    ]);
}

// ---- writing and flushing ----

#[test]
fn one_post_at_a_time_and_what_waits_goes_in_the_next() {
    let mut h = Harness::polling_without_upgrade();
    h.table(vec![
        (Send("a"), &["POST 4a"]),
        (Send("b"), &[]),
        (SendBinary(&[1, 2, 3]), &[]),
        (Drained, &["POST 4b\\u{1e}bAQID"]),
        (Drained, &[]),
    ]);
}

#[test]
fn posts_are_split_to_the_servers_max_payload() {
    let mut s = settings(TransportType::Polling);
    s.client_upgrades = false;
    // "4aaaa" is 5 bytes, each further packet 1 separator + 5.
    s.max_payload = Some(11);
    let mut h = Harness::open(s, "", &[]);
    h.table(vec![
        (Send("aaaa"), &["POST 4aaaa"]),
        (Send("bbbb"), &[]),
        (Send("cccc"), &[]),
        (Send("dddd"), &[]),
        (Drained, &["POST 4bbbb\\u{1e}4cccc"]),
        (Drained, &["POST 4dddd"]),
    ]);
    // A packet larger than maxPayload still goes, alone: the server decides.
    let mut s = settings(TransportType::Polling);
    s.client_upgrades = false;
    s.max_payload = Some(3);
    let mut h = Harness::open(s, "", &[]);
    h.table(vec![
        (Send("toolong"), &["POST 4toolong"]),
        (Send("b"), &[]),
        (Drained, &["POST 4b"]),
    ]);
}

#[test]
fn websocket_writes_one_frame_per_packet() {
    let mut h = Harness::websocket();
    h.table(vec![
        (Send("a"), &["WS 4a"]),
        (Send("b"), &[]),
        (SendBinary(&[1]), &[]),
        (Drained, &["WS 4b bin[1]"]),
    ]);
}

#[test]
fn flush_answers_once_everything_queued_before_is_written() {
    let mut h = Harness::polling_without_upgrade();
    h.table(vec![
        (Flush(1), &["flushed 1"]),
        (Send("a"), &["POST 4a"]),
        (Flush(2), &[]),
        (Send("b"), &[]),
        (Flush(3), &[]),
        (Drained, &["flushed 2", "POST 4b"]),
        (Drained, &["flushed 3"]),
    ]);
}

#[test]
fn sends_are_refused_while_the_queue_is_full() {
    let mut h = Harness::polling_without_upgrade();
    h.table(vec![(Send("in flight"), &["POST 4in flight"])]);
    for _ in 0..4 {
        assert!(h.conn.accepts_sends());
        h.table(vec![(Send("x"), &[])]);
    }
    assert!(!h.conn.accepts_sends());
    h.table(vec![(Drained, &["POST 4x\\u{1e}4x\\u{1e}4x\\u{1e}4x"])]);
    assert!(h.conn.accepts_sends());
}

// ---- the upgrade ----

#[test]
fn upgrade_probe_pause_and_switch() {
    let mut h = Harness::polling();
    h.table(vec![
        (ProbeOpen, &["probe WS 2probe"]),
        (ProbeRecv("3probe"), &["pause polling"]),
        // Writes wait for the switch.
        (Send("queued"), &[]),
        // The server answers the pending GET with a noop; polling stops.
        (Recv("6"), &[]),
        (Paused, UPGRADED),
        (Drained, &["WS 4queued"]),
    ]);
    // The probe's deadline is gone; the heartbeat's stays.
    assert_eq!(
        h.conn.poll_timeout(),
        Some(h.start + Duration::from_millis(500))
    );
}

#[test]
fn upgrade_waits_for_the_post_in_flight() {
    let mut h = Harness::polling();
    h.table(vec![
        (Send("a"), &["POST 4a"]),
        (ProbeOpen, &["probe WS 2probe"]),
        (ProbeRecv("3probe"), &["pause polling"]),
        (Send("b"), &[]),
        (Paused, &[]),
        (Drained, UPGRADED),
        (Drained, &["WS 4b"]),
    ]);
}

#[test]
fn a_probe_answered_otherwise_fails_and_polling_goes_on() {
    let mut h = Harness::polling();
    h.table(vec![
        (ProbeOpen, &["probe WS 2probe"]),
        (
            ProbeRecv("4hello"),
            &[
                "drop probe",
                "remember upgrade false",
                "event upgrade error: protocol error: unexpected message packet during the \
                 upgrade probe",
            ],
        ),
        (Send("a"), &["POST 4a"]),
        // Never tried again.
        (ProbeOpen, &[]),
    ]);
}

#[test]
fn a_probe_failing_while_polling_pauses_resumes_polling_once_paused() {
    let mut h = Harness::polling();
    h.table(vec![
        (ProbeOpen, &["probe WS 2probe"]),
        (ProbeRecv("3probe"), &["pause polling"]),
        (Send("held"), &[]),
        (
            ProbeFailed(Error::WebSocket("reset".into())),
            &[
                "drop probe",
                "remember upgrade false",
                "event upgrade error: WebSocket error: reset",
                "POST 4held",
            ],
        ),
        (Paused, &["resume polling"]),
        (Drained, &[]),
    ]);
}

#[test]
fn a_probe_failing_after_polling_paused_resumes_polling_at_once() {
    let mut h = Harness::polling();
    h.table(vec![
        (Send("a"), &["POST 4a"]),
        (ProbeOpen, &["probe WS 2probe"]),
        (ProbeRecv("3probe"), &["pause polling"]),
        (Send("b"), &[]),
        (Paused, &[]),
        (
            ProbeFailed(Error::WebSocket("closed during the probe".into())),
            &[
                "drop probe",
                "resume polling",
                "remember upgrade false",
                "event upgrade error: WebSocket error: closed during the probe",
            ],
        ),
        (Drained, &["POST 4b"]),
    ]);
}

#[test]
fn a_probe_that_cannot_connect_or_takes_too_long_fails() {
    let mut h = Harness::polling();
    h.table(vec![(
        ProbeFailed(Error::WebSocket("refused".into())),
        &[
            "drop probe",
            "remember upgrade false",
            "event upgrade error: WebSocket error: refused",
        ],
    )]);
    let mut s = settings(TransportType::Polling);
    s.ping_interval = 25_000;
    let mut h = Harness::open(s, "", &["open probe"]);
    h.table(vec![
        (ProbeOpen, &["probe WS 2probe"]),
        (Recv("2"), &["POST 3"]),
        (At(400), &[]),
        (Recv("2"), &[]),
        (At(999), &[]),
        (
            At(1000),
            &[
                "drop probe",
                "remember upgrade false",
                "event upgrade error: WebSocket error: upgrade timed out",
            ],
        ),
        (Drained, &["POST 3"]),
    ]);
}

// ---- the close ----

#[test]
fn close_writes_what_is_queued_then_the_close_packet() {
    let mut h = Harness::polling_without_upgrade();
    h.table(vec![
        (Send("a"), &["POST 4a"]),
        (Send("b"), &[]),
        (Close, &[]),
        (Drained, &["POST 4b"]),
        (Drained, &["POST 1"]),
        (Close, &[]),
        (Drained, FORCED_CLOSE),
    ]);
    assert!(h.conn.is_closed());
}

#[test]
fn close_on_an_idle_connection_and_over_websocket() {
    let mut h = Harness::polling_without_upgrade();
    h.table(vec![(Close, &["POST 1"])]);
    assert!(!h.conn.accepts_sends());
    let mut h = Harness::websocket();
    h.table(vec![
        (Close, &["WS close frame"]),
        (TransportClosed(None), FORCED_CLOSE),
    ]);
}

#[test]
fn close_is_forced_after_the_close_timeout() {
    let mut s = settings(TransportType::Polling);
    s.client_upgrades = false;
    s.ping_interval = 25_000;
    let mut h = Harness::open(s, "", &[]);
    h.table(vec![
        (Recv("2"), &["POST 3"]),
        (At(100), &[]),
        (Close, &[]),
        (Recv("6"), &[]),
        (At(2099), &[]),
        (At(2100), FORCED_CLOSE),
    ]);
}

#[test]
fn close_during_the_upgrade_abandons_the_probe() {
    let mut h = Harness::polling();
    h.table(vec![
        (ProbeOpen, &["probe WS 2probe"]),
        (Close, &["drop probe", "POST 1"]),
        (ProbeRecv("3probe"), &[]),
    ]);
    // While polling pauses: polling stays paused, the close goes by POST.
    let mut h = Harness::polling();
    h.table(vec![
        (ProbeOpen, &["probe WS 2probe"]),
        (ProbeRecv("3probe"), &["pause polling"]),
        (Close, &["drop probe", "POST 1"]),
        (Paused, &[]),
    ]);
}

#[test]
fn the_server_closing_in_every_state() {
    // A close packet.
    let mut h = Harness::polling_without_upgrade();
    h.table(vec![(
        Recv("4a\x1e1\x1e4ignored"),
        &[
            "message \"a\"",
            "closed: transport close",
            "event close: transport close",
        ],
    )]);
    // The transport going away: cleanly, with an error, with garbage.
    let mut h = Harness::websocket();
    h.table(vec![(TransportClosed(None), TRANSPORT_CLOSE)]);
    let mut h = Harness::polling_without_upgrade();
    h.table(vec![(
        TransportClosed(Some(Error::Http("reset".into()))),
        &[
            "closed: transport error: HTTP error: reset",
            "event close: transport error: HTTP error: reset",
        ],
    )]);
    let mut h = Harness::polling_without_upgrade();
    h.table(vec![(
        TransportClosed(Some(Error::Protocol("bad payload".into()))),
        &[
            "closed: parse error: protocol error: bad payload",
            "event close: parse error: protocol error: bad payload",
        ],
    )]);
    // While the client closes, whatever ends it is a forced close.
    let mut h = Harness::polling_without_upgrade();
    h.table(vec![(Close, &["POST 1"]), (Recv("1"), FORCED_CLOSE)]);
    // During the upgrade: the probe goes with the session.
    let mut h = Harness::polling();
    h.table(vec![
        (ProbeOpen, &["probe WS 2probe"]),
        (
            TransportClosed(Some(Error::Http("reset".into()))),
            &[
                "closed: transport error: HTTP error: reset",
                "event close: transport error: HTTP error: reset",
            ],
        ),
        (ProbeRecv("3probe"), &[]),
    ]);
    assert_eq!(h.conn.poll_timeout(), None);
}

#[test]
fn flushes_waiting_at_the_close_fail_after_the_reason_is_known() {
    let mut h = Harness::polling_without_upgrade();
    h.table(vec![
        (Send("a"), &["POST 4a"]),
        (Flush(7), &[]),
        (
            TransportClosed(None),
            &[
                "closed: transport close",
                "flush 7 failed",
                "event close: transport close",
            ],
        ),
        (Send("after"), &[]),
        (Flush(8), &[]),
        (At(10_000), &[]),
    ]);
}
