//! The WebTransport transport (feature `webtransport`): the session's one bidirectional stream
//! carries every packet as a length-prefixed frame ([`engine_io::wt_codec`]), as the reference
//! client (`engine.io-client` 6.6 `WT`) does. The first frame is ours: an open packet, empty to
//! start a session, `{"sid":"…"}` for the upgrade probe of a polling session.
//!
//! The server's certificate is checked against [`ClientBuilder::server_certificate_hashes`]
//! (the browser's `serverCertificateHashes`: self-signed ECDSA P-256 certificates valid at most
//! 14 days) when given, else with the client's TLS roots ([`ClientBuilder::tls_roots`],
//! [`ClientBuilder::add_root_certificate`]).
//!
//! [`ClientBuilder::server_certificate_hashes`]: crate::ClientBuilder::server_certificate_hashes
//! [`ClientBuilder::tls_roots`]: crate::ClientBuilder::tls_roots
//! [`ClientBuilder::add_root_certificate`]: crate::ClientBuilder::add_root_certificate

use bytes::BytesMut;
use engine_io::wt_codec::{encode, FrameDecoder};
use engine_io::{Packet, PacketType, TransportType};
use tokio::sync::mpsc;
use wtransport::{ClientConfig, Connection, Endpoint, RecvStream, SendStream, VarInt};

use crate::config::ConnConfig;
use crate::transport::{TransportEvent, TransportHandle, WriteCmd};
use crate::{transport, Error};

/// The largest read at once.
const MAX_READ: usize = 64 * 1024;

/// An open WebTransport session and its stream, before it runs as a transport.
pub(crate) struct WtStream {
    conn: Connection,
    send: SendStream,
    recv: RecvStream,
    decoder: FrameDecoder,
    buf: BytesMut,
}

fn wt_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::WebTransport(format!("{what}: {e}"))
}

/// Opens a WebTransport session to the engine's path and its stream, and writes the open packet
/// (with `sid` for an upgrade probe).
pub(crate) async fn connect(config: &ConnConfig, sid: Option<&str>) -> Result<WtStream, Error> {
    let builder = ClientConfig::builder().with_bind_default();
    let client = match (&config.webtransport.cert_hashes, &config.webtransport.tls) {
        (hashes, _) if !hashes.is_empty() => builder.with_server_certificate_hashes(
            hashes
                .iter()
                .map(|h| wtransport::tls::Sha256Digest::new(*h)),
        ),
        (_, Some(tls)) => builder.with_custom_tls((**tls).clone()),
        (_, None) => {
            return Err(Error::InvalidConfig(
                "WebTransport needs TLS settings".to_owned(),
            ))
        }
    };
    let client = client
        .max_idle_timeout(Some(
            config
                .connect_timeout
                .max(std::time::Duration::from_secs(30)),
        ))
        .map_err(|e| wt_error("config", e))?
        .build();
    let endpoint = Endpoint::client(client).map_err(|e| wt_error("bind", e))?;
    let url = config.endpoint.webtransport_url();
    tracing::trace!(%url, "engine.io client: webtransport connect");
    let conn = endpoint
        .connect(&url)
        .await
        .map_err(|e| wt_error(&format!("connect {url}"), e))?;
    let (mut send, recv) = conn
        .open_bi()
        .await
        .map_err(|e| wt_error("open stream", e))?
        .await
        .map_err(|e| wt_error("open stream", e))?;
    let open = match sid {
        Some(sid) => Packet::open(serde_json::json!({ "sid": sid }).to_string()),
        None => Packet::empty(PacketType::Open),
    };
    let mut out = BytesMut::new();
    encode(&open, &mut out);
    send.write_all(&out)
        .await
        .map_err(|e| wt_error("write", e))?;
    Ok(WtStream {
        conn,
        send,
        recv,
        decoder: FrameDecoder::new(config.max_incoming_payload),
        buf: BytesMut::new(),
    })
}

/// The next packet on the stream.
async fn read(
    recv: &mut RecvStream,
    decoder: &mut FrameDecoder,
    buf: &mut BytesMut,
    limit: usize,
) -> Result<Option<Packet>, Error> {
    loop {
        match decoder.decode(buf) {
            Ok(Some(p)) => return Ok(Some(p)),
            Err(engine_io::DecodeError::FrameLength) => {
                return Err(Error::PayloadTooLarge { limit })
            }
            Err(e) => return Err(Error::Protocol(format!("bad WebTransport frame: {e}"))),
            Ok(None) => {}
        }
        buf.reserve(decoder.wanted(buf.len()).min(MAX_READ));
        match tokio_util::io::read_buf(recv, buf).await {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(wt_error("read", e)),
        }
    }
}

/// Reads the first packet of a session opened over WebTransport (the server's `open`).
pub(crate) async fn read_packet(wt: &mut WtStream, limit: usize) -> Result<Packet, Error> {
    read(&mut wt.recv, &mut wt.decoder, &mut wt.buf, limit)
        .await?
        .ok_or_else(|| Error::WebTransport("closed by the server".to_owned()))
}

/// Runs an open WebTransport stream as a transport.
pub(crate) fn start(wt: WtStream, limit: usize) -> TransportHandle {
    let WtStream {
        conn,
        send,
        recv,
        decoder,
        buf,
    } = wt;
    transport::spawn_duplex(
        TransportType::Webtransport,
        |events| read_loop(recv, decoder, buf, events, limit),
        |commands, events| write_loop(conn, send, commands, events),
    )
}

async fn read_loop(
    mut recv: RecvStream,
    mut decoder: FrameDecoder,
    mut buf: BytesMut,
    events: mpsc::Sender<TransportEvent>,
    limit: usize,
) {
    loop {
        let event = match read(&mut recv, &mut decoder, &mut buf, limit).await {
            Ok(Some(packet)) => {
                if transport::forward(&events, packet).await {
                    continue;
                }
                return;
            }
            // The stream or the session ended: the server closed.
            Ok(None) => TransportEvent::Closed(None),
            Err(err) => TransportEvent::Closed(Some(err)),
        };
        let _ = events.send(event).await;
        return;
    }
}

async fn write_loop(
    conn: Connection,
    mut send: SendStream,
    mut commands: mpsc::Receiver<WriteCmd>,
    events: mpsc::Sender<TransportEvent>,
) {
    let mut out = BytesMut::new();
    while let Some(cmd) = commands.recv().await {
        let result = match cmd {
            WriteCmd::Packets(packets) => {
                out.clear();
                // One write per batch (binary data is copied once into the buffer).
                for p in &packets {
                    encode(p, &mut out);
                }
                send.write_all(&out).await
            }
            WriteCmd::Close => {
                // As the reference client: the session is closed, no Engine.IO close packet.
                let _ =
                    tokio::time::timeout(std::time::Duration::from_secs(1), send.finish()).await;
                conn.close(VarInt::from_u32(0), b"");
                let _ = events.send(TransportEvent::Drained).await;
                return;
            }
        };
        let event = match result {
            Ok(()) => TransportEvent::Drained,
            Err(err) => TransportEvent::Closed(Some(wt_error("write", err))),
        };
        let failed = matches!(event, TransportEvent::Closed(_));
        if events.send(event).await.is_err() || failed {
            return;
        }
    }
}
