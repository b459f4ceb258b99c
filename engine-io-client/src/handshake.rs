//! Opening a session: the first request over the first transport, and the server's `open` packet.

use std::sync::Arc;

use engine_io::{Handshake, Packet, PacketType};
use tokio::sync::{mpsc, watch};

use crate::client::{Client, Events, Shared};
use crate::config::ConnConfig;
use crate::driver::Driver;
use crate::polling::{self, Polling};
use crate::transport::TransportHandle;
use crate::{websocket, Error};
use engine_io::TransportType;

/// An opened session, before its driver starts.
struct Opened {
    handshake: Handshake,
    transport: TransportHandle,
    /// Packets that came after `open` in the same response (the reference allows an initial
    /// message there).
    initial: Vec<Packet>,
}

/// Opens the session over the configured transports and starts the driver.
pub(crate) async fn open(config: Arc<ConnConfig>) -> Result<(Client, Events), Error> {
    let mut last_error = None;
    for &kind in &config.transports {
        match open_with(&config, kind).await {
            Ok(opened) => return Ok(start(config.clone(), opened)),
            Err(err) => {
                tracing::debug!(%err, transport = %kind, "engine.io client: could not open");
                if kind == TransportType::Websocket {
                    config
                        .prior_websocket_success
                        .store(false, std::sync::atomic::Ordering::Relaxed);
                }
                if !config.try_all_transports {
                    return Err(err);
                }
                last_error = Some(err);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| Error::InvalidConfig("no transport enabled".to_owned())))
}

async fn open_with(config: &Arc<ConnConfig>, kind: TransportType) -> Result<Opened, Error> {
    match kind {
        TransportType::Polling => {
            let polling = Arc::new(Polling::new(config.clone()));
            let packets = polling.get(None).await?;
            let (handshake, initial) = parse(packets)?;
            let transport = polling::start(polling, &handshake.sid);
            Ok(Opened {
                handshake,
                transport,
                initial,
            })
        }
        TransportType::Websocket => {
            let mut ws = websocket::connect(config, None).await?;
            let first = websocket::read_packet(&mut ws, config.max_incoming_payload).await?;
            let (handshake, initial) = parse(vec![first])?;
            Ok(Opened {
                handshake,
                transport: websocket::start(ws, config.max_incoming_payload),
                initial,
            })
        }
        #[cfg(feature = "webtransport")]
        TransportType::Webtransport => {
            let mut wt = crate::webtransport::connect(config, None).await?;
            let first =
                crate::webtransport::read_packet(&mut wt, config.max_incoming_payload).await?;
            let (handshake, initial) = parse(vec![first])?;
            Ok(Opened {
                handshake,
                transport: crate::webtransport::start(wt, config.max_incoming_payload),
                initial,
            })
        }
        #[cfg(not(feature = "webtransport"))]
        TransportType::Webtransport => Err(Error::InvalidConfig(
            "the webtransport transport needs the `webtransport` feature".to_owned(),
        )),
    }
}

/// Reads the handshake from the first packets of a session: an `open` packet with the JSON
/// `{"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}`.
pub(crate) fn parse(packets: Vec<Packet>) -> Result<(Handshake, Vec<Packet>), Error> {
    let mut packets = packets.into_iter();
    let first = packets
        .next()
        .ok_or_else(|| Error::Handshake("the server sent no packet".to_owned()))?;
    if first.packet_type != PacketType::Open {
        return Err(Error::Handshake(format!(
            "expected an open packet, got {}",
            first.packet_type
        )));
    }
    let json = first
        .data
        .as_text()
        .ok_or_else(|| Error::Handshake("the open packet has no JSON".to_owned()))?;
    let handshake: Handshake = serde_json::from_str(json)
        .map_err(|e| Error::Handshake(format!("bad open packet JSON: {e}")))?;
    if handshake.sid.is_empty() {
        return Err(Error::Handshake("empty sid".to_owned()));
    }
    Ok((handshake, packets.collect()))
}

fn start(config: Arc<ConnConfig>, opened: Opened) -> (Client, Events) {
    let Opened {
        handshake,
        transport,
        initial,
    } = opened;
    tracing::debug!(transport = %transport.kind, "engine.io client: open");
    let (commands_tx, commands_rx) = mpsc::channel(config.send_queue);
    let (events_tx, events_rx) = mpsc::channel(config.event_queue);
    let (closed_tx, closed_rx) = watch::channel(None);
    let shared = Arc::new(Shared::new(transport.kind));
    let driver = Driver::new(
        config.clone(),
        &handshake,
        transport,
        initial,
        shared.clone(),
        commands_rx,
        events_tx,
        closed_tx,
    );
    tokio::spawn(driver.run());
    let client = Client {
        handshake: Arc::new(handshake),
        commands: commands_tx,
        shared,
        closed: closed_rx,
        close_timeout: config.close_timeout,
    };
    (client, Events { rx: events_rx })
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_io::Str;

    fn decode(s: &'static str) -> Vec<Packet> {
        polling::decode_payload(bytes::Bytes::from_static(s.as_bytes())).unwrap()
    }

    #[test]
    fn parses_the_open_packet() {
        let (h, rest) = parse(decode(
            "0{\"sid\":\"abc\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}\x1e4hi",
        ))
        .unwrap();
        assert_eq!(h.sid, "abc");
        assert_eq!(h.max_payload, Some(1_000_000));
        assert_eq!(rest, vec![Packet::message(Str::from_static("hi"))]);
    }

    #[test]
    fn rejects_bad_handshakes() {
        for bad in [
            "4hello",
            "0",
            "0{\"sid\":1}",
            "0not json",
            "0{\"sid\":\"\",\"upgrades\":[],\"pingInterval\":1,\"pingTimeout\":1}",
        ] {
            assert!(
                matches!(parse(decode(bad)), Err(Error::Handshake(_))),
                "{bad}"
            );
        }
        assert!(matches!(parse(Vec::new()), Err(Error::Handshake(_))));
    }
}
