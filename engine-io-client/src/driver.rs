//! The task that runs one connection: thin I/O around the [`Connection`] state machine.
//!
//! One task reacts to four sources in a `select!` loop (the active transport's events, the
//! upgrade probe's, the user's commands, the connection's next deadline), turns each into an
//! [`Input`] for the state machine, and performs the [`Effect`]s it returns. Nothing is shared
//! but the command/event channels, so no lock is ever held across an await point.

use std::collections::HashMap;
use std::future::pending;
use std::mem;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use engine_io::{Handshake, Packet};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use crate::client::{Command, Event, Shared};
use crate::config::ConnConfig;
use crate::connection::{Connection, Effect, Input, Settings};
use crate::transport::{TransportEvent, TransportHandle, WriteCmd};
use crate::websocket;
use crate::{CloseReason, Error};
use engine_io::TransportType;

/// The I/O side of the upgrade probe (its state is the connection's).
enum Probe {
    None,
    /// Opening the probe's transport; the task is aborted when dropped (an abandoned probe
    /// must not linger).
    Connecting(AbortOnDrop<Result<TransportHandle, Error>>),
    Open(TransportHandle),
}

struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Probe {
    /// Starts opening the probe (a `kind` transport) for session `sid`.
    fn connect(config: Arc<ConnConfig>, sid: Arc<str>, kind: TransportType) -> Probe {
        let task = tokio::spawn(async move {
            let limit = config.max_incoming_payload;
            match kind {
                #[cfg(feature = "webtransport")]
                TransportType::Webtransport => {
                    let wt = crate::webtransport::connect(&config, Some(&sid)).await?;
                    Ok(crate::webtransport::start(wt, limit))
                }
                _ => {
                    let ws = websocket::connect(&config, Some(&sid)).await?;
                    Ok(websocket::start(ws, limit))
                }
            }
        });
        Probe::Connecting(AbortOnDrop(task))
    }

    /// The probe's next input for the connection (pending while there is no probe).
    async fn next(&mut self) -> Input {
        match self {
            Probe::None => pending().await,
            Probe::Connecting(task) => {
                let result = match (&mut task.0).await {
                    Ok(result) => result,
                    Err(err) => Err(Error::WebSocket(format!("probe task failed: {err}"))),
                };
                match result {
                    Ok(transport) => {
                        *self = Probe::Open(transport);
                        Input::ProbeOpen
                    }
                    Err(err) => {
                        *self = Probe::None;
                        Input::ProbeFailed(err)
                    }
                }
            }
            Probe::Open(ws) => loop {
                match ws.events.recv().await {
                    Some(TransportEvent::Packets(packets)) => return Input::ProbePackets(packets),
                    Some(TransportEvent::Drained | TransportEvent::Paused) => {}
                    Some(TransportEvent::Closed(Some(err))) => return Input::ProbeFailed(err),
                    Some(TransportEvent::Closed(None)) | None => {
                        return Input::ProbeFailed(Error::WebSocket(
                            "closed during the probe".to_owned(),
                        ))
                    }
                }
            },
        }
    }
}

pub(crate) struct Driver {
    config: Arc<ConnConfig>,
    sid: Arc<str>,
    conn: Connection,
    transport: TransportHandle,
    probe: Probe,
    /// The senders of [`Command::Flush`], by the id the connection knows them by.
    flush_waiters: HashMap<u64, oneshot::Sender<Result<(), Error>>>,
    next_flush: u64,
    shared: Arc<Shared>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    closed: watch::Sender<Option<CloseReason>>,
}

/// The connection's clock: tokio's (so paused test time applies), as a std `Instant`.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

impl Driver {
    /// The driver of a session just opened over `transport`; `initial` are the packets that
    /// came with the handshake.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        config: Arc<ConnConfig>,
        handshake: &Handshake,
        transport: TransportHandle,
        initial: Vec<Packet>,
        shared: Arc<Shared>,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<Event>,
        closed: watch::Sender<Option<CloseReason>>,
    ) -> Self {
        let probe_transport = probe_transport(&config.transports, &handshake.upgrades);
        let settings = Settings {
            transport: transport.kind,
            ping_interval: handshake.ping_interval,
            ping_timeout: handshake.ping_timeout,
            max_payload: handshake.max_payload,
            server_upgrades: probe_transport.is_some(),
            client_upgrades: config.upgrade && probe_transport.is_some(),
            probe_transport: probe_transport.unwrap_or(TransportType::Websocket),
            upgrade_timeout: config.connect_timeout,
            close_timeout: config.close_timeout,
            send_queue: config.send_queue,
        };
        Driver {
            sid: Arc::from(handshake.sid.as_str()),
            conn: Connection::open(now(), &settings, initial),
            transport,
            probe: Probe::None,
            flush_waiters: HashMap::new(),
            next_flush: 0,
            shared,
            commands,
            events,
            closed,
            config,
        }
    }

    /// Runs the connection to its end.
    pub(crate) async fn run(mut self) {
        loop {
            self.perform().await;
            if self.conn.is_closed() {
                return;
            }
            self.step().await;
        }
    }

    /// Waits for the next input or deadline and hands it to the connection.
    async fn step(&mut self) {
        let accept_commands = self.conn.accepts_sends();
        let deadline = self.conn.poll_timeout();
        let input = tokio::select! {
            event = self.transport.events.recv() => match event {
                Some(TransportEvent::Packets(packets)) => Input::Packets(packets),
                Some(TransportEvent::Drained) => Input::Drained,
                Some(TransportEvent::Paused) => Input::Paused,
                Some(TransportEvent::Closed(err)) => Input::TransportClosed(err),
                None => Input::TransportClosed(Some(Error::Closed)),
            },
            input = self.probe.next() => input,
            command = self.commands.recv(), if accept_commands => match command {
                Some(Command::Send(messages)) => Input::Send(messages),
                Some(Command::Flush(tx)) => {
                    let id = self.next_flush;
                    self.next_flush += 1;
                    self.flush_waiters.insert(id, tx);
                    Input::Flush(id)
                }
                // `None`: every handle is gone, nobody can send or close any more.
                Some(Command::Close) | None => Input::Close,
            },
            () = sleep_until_opt(deadline) => {
                self.conn.handle_timeout(now());
                return;
            }
        };
        self.conn.handle_event(now(), input);
    }

    /// Does what the connection asks, in order.
    async fn perform(&mut self) {
        while let Some(effect) = self.conn.poll_effect() {
            match effect {
                // The writer takes one batch at a time and the connection only hands one over
                // when the last is drained, so the channel has room. A failure means the writer
                // is gone; its `Closed` event is on its way.
                Effect::Write(packets) => {
                    tracing::trace!(transport = %self.conn.transport(), packets = packets.len(), "engine.io client: write");
                    let _ = self.transport.writer.try_send(WriteCmd::Packets(packets));
                }
                Effect::WriteClose => {
                    let _ = self.transport.writer.try_send(WriteCmd::Close);
                }
                Effect::OpenProbe => {
                    self.probe = Probe::connect(
                        self.config.clone(),
                        self.sid.clone(),
                        self.conn.probe_transport(),
                    );
                }
                Effect::WriteProbe(packets) => {
                    let sent = match &self.probe {
                        Probe::Open(ws) => ws.writer.try_send(WriteCmd::Packets(packets)).is_ok(),
                        _ => false,
                    };
                    if !sent {
                        let err = Error::WebSocket("probe transport closed".to_owned());
                        self.conn.handle_event(now(), Input::ProbeFailed(err));
                    }
                }
                Effect::PausePolling => self.transport.pause(),
                Effect::ResumePolling => self.transport.resume(),
                Effect::DropProbe => self.probe = Probe::None,
                Effect::SwitchToProbe => match mem::replace(&mut self.probe, Probe::None) {
                    Probe::Open(ws) => {
                        // The old transport's tasks stop as it is dropped.
                        let _old = mem::replace(&mut self.transport, ws);
                        self.shared.set_transport(self.conn.transport());
                    }
                    other => {
                        self.probe = other;
                        tracing::warn!("engine.io client: upgrade without an open probe");
                    }
                },
                Effect::RememberUpgrade(ok) => {
                    self.config
                        .prior_websocket_success
                        .store(ok, Ordering::Relaxed);
                }
                // A full queue makes the driver wait (backpressure on reading); a dropped
                // `Events` means nobody listens, which is allowed.
                Effect::Emit(event) => {
                    let _ = self.events.send(event).await;
                }
                Effect::Flushed(id) => {
                    if let Some(tx) = self.flush_waiters.remove(&id) {
                        let _ = tx.send(Ok(()));
                    }
                }
                Effect::FlushFailed(id) => {
                    if let Some(tx) = self.flush_waiters.remove(&id) {
                        let _ = tx.send(Err(Error::Closed));
                    }
                }
                Effect::Closed(reason) => {
                    // Stop the transports' tasks before announcing the close.
                    self.probe = Probe::None;
                    self.transport.tasks.drain(..).for_each(|t| t.abort());
                    let _ = self.closed.send(Some(reason));
                    // Senders blocked on a full queue see the close once the receiver closes.
                    self.commands.close();
                }
            }
        }
    }
}

/// What an upgrade probes: of the server's `upgrades` that the client also has, WebTransport
/// first (the reference favours it), then WebSocket.
fn probe_transport(client: &[TransportType], server: &[String]) -> Option<TransportType> {
    let candidates = [TransportType::Webtransport, TransportType::Websocket];
    candidates.into_iter().find(|t| {
        (cfg!(feature = "webtransport") || *t != TransportType::Webtransport)
            && client.contains(t)
            && server.iter().any(|u| u == t.as_str())
    })
}

async fn sleep_until_opt(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(deadline) => sleep_until(Instant::from_std(deadline)).await,
        None => pending().await,
    }
}
