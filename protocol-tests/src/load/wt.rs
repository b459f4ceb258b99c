//! The load client's WebTransport link: the Engine.IO session on one bidirectional stream of an
//! HTTP/3 WebTransport session (UDP 127.0.0.1, the server's port number), framed as the
//! reference frames it (`engine_io::wt_codec`: a 1, 3 or 9-byte length header, the top bit for
//! binary). The server's self-signed certificate is accepted by its SHA-256, as a browser's
//! `serverCertificateHashes` does.

use bytes::BytesMut;
use engine_io::wt_codec::{header, FrameDecoder};
use engine_io::{Data, ProtocolVersion};
use wtransport::endpoint::endpoint_side;
use wtransport::{ClientConfig, Connection, Endpoint, RecvStream, SendStream, VarInt};

use super::LoadError;

/// The largest frame the load client accepts: what the servers answer is small, and a hostile
/// header must not make it buffer without bound.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// An open WebTransport session and its stream.
pub(super) struct WtLink {
    conn: Connection,
    send: SendStream,
    recv: RecvStream,
    decoder: FrameDecoder,
    buf: BytesMut,
    /// Each client has its own endpoint (UDP socket), as each browser tab's session would.
    _endpoint: Endpoint<endpoint_side::Client>,
    /// Frames being built, reused.
    out: BytesMut,
}

fn wt_error(what: &str, e: impl std::fmt::Display) -> LoadError {
    LoadError::WebTransport(format!("{what}: {e}"))
}

impl WtLink {
    /// Opens the session to `127.0.0.1:port` and its stream, sends the open packet of a new
    /// Engine.IO session (`0`) and returns the server's open packet with the link.
    pub(super) async fn open(
        port: u16,
        cert_hash: [u8; 32],
    ) -> Result<(WtLink, String), LoadError> {
        let config = ClientConfig::builder()
            .with_bind_default()
            .with_server_certificate_hashes([wtransport::tls::Sha256Digest::new(cert_hash)])
            .build();
        let endpoint = Endpoint::client(config).map_err(|e| wt_error("bind", e))?;
        let url = format!("https://127.0.0.1:{port}/socket.io/?EIO=4&transport=webtransport");
        let conn = endpoint
            .connect(&url)
            .await
            .map_err(|e| wt_error(&format!("connect {url}"), e))?;
        let (send, recv) = conn
            .open_bi()
            .await
            .map_err(|e| wt_error("open stream", e))?
            .await
            .map_err(|e| wt_error("open stream", e))?;
        let mut link = WtLink {
            conn,
            send,
            recv,
            decoder: FrameDecoder::new(MAX_FRAME),
            buf: BytesMut::new(),
            _endpoint: endpoint,
            out: BytesMut::new(),
        };
        link.send(&["0"]).await?;
        let open = link.recv().await?;
        Ok((link, open))
    }

    /// Sends text packets, one frame each, in one write.
    pub(super) async fn send(&mut self, packets: &[&str]) -> Result<(), LoadError> {
        self.out.clear();
        for packet in packets {
            let (h, n) = header(packet.len(), false);
            self.out.extend_from_slice(&h[..n]);
            self.out.extend_from_slice(packet.as_bytes());
        }
        self.send
            .write_all(&self.out)
            .await
            .map_err(|e| wt_error("write", e))
    }

    /// The next text packet (binary frames are skipped, as over WebSocket).
    pub(super) async fn recv(&mut self) -> Result<String, LoadError> {
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(packet)) => {
                    if matches!(packet.data, Data::Binary(_)) {
                        continue;
                    }
                    return Ok(packet.encode_text(ProtocolVersion::V4));
                }
                Ok(None) => {}
                Err(e) => return Err(LoadError::Protocol(format!("bad frame: {e}"))),
            }
            self.buf
                .reserve(self.decoder.wanted(self.buf.len()).min(64 * 1024));
            match tokio::io::AsyncReadExt::read_buf(&mut self.recv, &mut self.buf).await {
                Ok(0) => return Err(LoadError::Closed("webtransport stream ended".into())),
                Ok(_) => {}
                Err(e) => return Err(wt_error("read", e)),
            }
        }
    }

    /// Ends the session as the reference client does: the stream finished, the session closed
    /// with code 0.
    pub(super) async fn close(&mut self) {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.send.finish()).await;
        self.conn.close(VarInt::from_u32(0), b"");
    }

    /// Sends a frame header announcing `len` bytes and half of them, then drops the session.
    pub(super) async fn kill_mid_message(mut self, len: usize) -> Result<(), LoadError> {
        let (h, n) = header(len, false);
        let mut frame = h[..n].to_vec();
        frame.extend(std::iter::repeat_n(b'x', len / 2));
        self.send
            .write_all(&frame)
            .await
            .map_err(|e| wt_error("write", e))
    }
}
