//! The messages between nodes and their binary codec.
//!
//! Every message is one frame on a direct link between the nodes
//! (`peer`: a `u32` length, then the message or a batch), or one Redis
//! pub/sub message on the receiving node's own channel. Layout (integers
//! big-endian):
//!
//! ```text
//! version u8 (1) | kind u8 | sender node id [8] | request id u64 | kind-specific fields
//! Request  (1): method u8 (0 GET, 1 POST) | uri u16-len | headers | body u32-len
//! Accepted (2): nothing more
//! Response (3): status u16 | headers | body u32-len
//! Abort    (4): nothing more
//! Upgrade  (5): uri u16-len | headers
//! Handover (6): sid u16-len | protocol u8 | uri u16-len | headers | addr | outgoing msgs | incoming msgs
//! Proxied  (7): nothing more
//! TunnelData  (8): dir u8 | data u32-len
//! TunnelAck   (9): dir u8 | credit u32
//! TunnelClose (10): dir u8
//! headers: count u16, then per header: name u16-len, value u32-len
//! addr: 0 (none) | 4, ipv4 [4], port u16 | 6, ipv6 [16], port u16
//! msgs: count u32, then per message: 0 text / 1 binary u8, data u32-len
//! ```
//!
//! Several messages for one node that are ready at the same time travel in
//! one Redis message, a batch ([`batch`], [`split`]): each Redis message
//! costs a `PUBLISH` on Redis and a push to parse on the receiver, so a
//! batch of many sessions' messages costs about what one does.
//!
//! ```text
//! batch: 2 u8 | (message u32-len)+
//! ```
//!
//! A WebSocket upgrade reaching a node other than the session's owner is an
//! Upgrade to the owner, which answers Handover (the session was young: it
//! moves), Proxied (the owner keeps it: the WebSocket's bytes are relayed),
//! or a 400 Response. A proxied WebSocket is a tunnel named by the upgrade's
//! request id and its opener: TunnelData carries bytes (one message per read
//! of what the other side flushed), TunnelAck returns credit (flow control:
//! each side sends at most [`TUNNEL_WINDOW`] unacknowledged), TunnelClose ends it.
//!
//! A Request goes to the owner of the session; the owner answers Accepted
//! at once when the answer is not ready (a long-poll GET), then Response with
//! the whole answer (one message per drained payload). Abort tells the owner
//! that the client went away. The decoder takes any bytes: a malformed
//! message is an error, never a panic, and decoding allocates at most the
//! header list (bounded by [`MAX_HEADERS`]); bodies are slices of the input.

use crate::NodeId;
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The codec's version byte.
const VERSION: u8 = 1;
/// The first byte of a batch (where a message has its version).
const BATCH: u8 = 2;
/// The most headers a message may carry.
pub const MAX_HEADERS: usize = 128;
/// The longest request URI (path and query) a message may carry.
pub const MAX_URI: usize = 8 * 1024;

/// The most credit (bytes, plus [`CHUNK_COST`] per message) a tunnel side
/// may have unacknowledged.
pub const TUNNEL_WINDOW: u32 = 256 * 1024;
/// What each TunnelData costs beyond its bytes, so that a flood of tiny
/// chunks is bounded too.
pub const CHUNK_COST: u32 = 64;

/// Which side of a tunnel sends a tunnel message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// The node the client's WebSocket reached (it opened the tunnel).
    FromOpener,
    /// The session's owner.
    FromOwner,
}

/// A message of a handed-over session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireMessage {
    /// A text message (UTF-8, checked when decoded into a session).
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
}

/// A young session moving to another node (see `engine_io::Handover`), as
/// carried between nodes (validated when turned into engine-io types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireHandover {
    /// The session id.
    pub sid: Bytes,
    /// The Engine.IO protocol (3 or 4).
    pub protocol: u8,
    /// The handshake request's path and query.
    pub uri: Bytes,
    /// The handshake request's headers.
    pub headers: RawHeaders,
    /// The client's address.
    pub remote_addr: Option<std::net::SocketAddr>,
    /// Messages queued for the client.
    pub outgoing: Vec<WireMessage>,
    /// Messages from the client not delivered yet.
    pub incoming: Vec<WireMessage>,
}

/// The HTTP method of a forwarded polling request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A polling GET (the owner streams back the drained payload).
    Get,
    /// A polling POST (the owner delivers the body and answers `ok`).
    Post,
}

/// Headers as raw name / value pairs (validated when turned into HTTP types).
pub type RawHeaders = Vec<(Bytes, Bytes)>;

/// A header list as it travels (a count, then length-prefixed names and
/// values), kept as the one slice of the message it came in: an answer's
/// headers need no list of their own, and equal lists compare as bytes
/// (the receiving node remembers the few it validated). Its framing is
/// checked when decoded; its names and values when turned into HTTP types.
#[derive(Clone, PartialEq, Eq)]
pub struct HeaderBlock(Bytes);

impl Default for HeaderBlock {
    fn default() -> HeaderBlock {
        HeaderBlock(Bytes::from_static(&[0, 0]))
    }
}

impl std::fmt::Debug for HeaderBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(n, v)| (Bytes::copy_from_slice(n), Bytes::copy_from_slice(v))),
            )
            .finish()
    }
}

impl HeaderBlock {
    /// The block of `pairs` (at most [`MAX_HEADERS`]).
    pub fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> HeaderBlock {
        let mut out = BytesMut::new();
        put_header_pairs(&mut out, pairs);
        HeaderBlock(out.freeze())
    }

    /// The name / value pairs, in order.
    pub fn iter(&self) -> HeaderPairs<'_> {
        HeaderPairs(self.0.get(2..).unwrap_or_default())
    }

    /// The encoded block (count included).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The pairs, each value a slice of the block (no copy).
    pub fn shared_pairs(&self) -> impl Iterator<Item = (&[u8], Bytes)> {
        let start = self.0.as_ptr() as usize;
        self.iter().filter_map(move |(n, v)| {
            let at = (v.as_ptr() as usize).checked_sub(start)?;
            let end = at.checked_add(v.len()).filter(|&end| end <= self.0.len())?;
            Some((n, self.0.slice(at..end)))
        })
    }

    /// The same block in bytes of its own (a received one is a slice of a
    /// whole read buffer, which a kept slice would keep alive).
    pub fn copied(&self) -> HeaderBlock {
        HeaderBlock(Bytes::copy_from_slice(&self.0))
    }

    /// The pairs, each copied.
    pub fn to_raw(&self) -> RawHeaders {
        self.iter()
            .map(|(n, v)| (Bytes::copy_from_slice(n), Bytes::copy_from_slice(v)))
            .collect()
    }
}

/// The pairs of a [`HeaderBlock`].
pub struct HeaderPairs<'a>(&'a [u8]);

impl<'a> Iterator for HeaderPairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        // The framing was checked (or written here): a short block only ends early.
        let b = self.0;
        let n = usize::from(u16::from_be_bytes([*b.first()?, *b.get(1)?]));
        let name = b.get(2..2 + n)?;
        let at = 2 + n;
        let m = b.get(at..at + 4)?;
        let m = u32::from_be_bytes([m[0], m[1], m[2], m[3]]) as usize;
        let value = b.get(at + 4..(at + 4).checked_add(m)?)?;
        self.0 = b.get(at + 4 + m..).unwrap_or_default();
        Some((name, value))
    }
}

/// What one node tells another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Serve this polling request on the session you own.
    Request {
        /// GET or POST.
        method: Method,
        /// Path and query, as the client sent them.
        uri: Bytes,
        /// The client's request headers.
        headers: HeaderBlock,
        /// The POST body (empty for a GET).
        body: Bytes,
    },
    /// The request is being served; the answer follows (the session is alive).
    Accepted,
    /// The answer to the request.
    Response {
        /// HTTP status.
        status: u16,
        /// Response headers.
        headers: HeaderBlock,
        /// Response body (the drained payload, or `ok`, or an error).
        body: Bytes,
    },
    /// The client of the request went away: drop it.
    Abort,
    /// A WebSocket upgrade for the session you own reached me: hand it over
    /// or relay it.
    Upgrade {
        /// Path and query, as the client sent them.
        uri: Bytes,
        /// The client's request headers.
        headers: RawHeaders,
    },
    /// The answer to an Upgrade: the session is yours now.
    Handover(WireHandover),
    /// The answer to an Upgrade: I keep the session; relay the WebSocket
    /// through the tunnel named by this request.
    Proxied,
    /// Bytes of a tunnel.
    TunnelData {
        /// Who sends them.
        dir: Dir,
        /// The bytes.
        data: Bytes,
    },
    /// Credit returned: the receiver wrote this much of what it got.
    TunnelAck {
        /// Who sends the credit.
        dir: Dir,
        /// Bytes written plus [`CHUNK_COST`] per message.
        credit: u32,
    },
    /// The tunnel is over (its connection ended).
    TunnelClose {
        /// Who ends it.
        dir: Dir,
    },
}

/// One message: who sends it, which request it is about, and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The sending node.
    pub from: NodeId,
    /// The request id, chosen by the node that received the HTTP request.
    pub id: u64,
    /// The content.
    pub body: Body,
}

/// Why bytes are not a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than its fields say.
    #[error("truncated message")]
    Truncated,
    /// Unknown version, kind or method, a bad node id, or trailing bytes.
    #[error("malformed message")]
    Malformed,
    /// More headers or a longer URI than allowed.
    #[error("message over limits")]
    TooLarge,
}

fn raw_pairs(headers: &[(Bytes, Bytes)]) -> impl Iterator<Item = (&[u8], &[u8])> {
    headers.iter().map(|(n, v)| (&n[..], &v[..]))
}

fn put_headers(out: &mut BytesMut, headers: &[(Bytes, Bytes)]) {
    put_header_pairs(out, raw_pairs(headers));
}

/// Writes a header list from borrowed name / value pairs (at most
/// [`MAX_HEADERS`]; the count is written once they are).
fn put_header_pairs<'a>(out: &mut BytesMut, pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) {
    let at = out.len();
    out.put_u16(0);
    let mut count: u16 = 0;
    for (name, value) in pairs.take(MAX_HEADERS) {
        let name = &name[..name.len().min(u16::MAX as usize)];
        out.put_u16(name.len() as u16);
        out.put_slice(name);
        out.put_u32(value.len() as u32);
        out.put_slice(value);
        count += 1;
    }
    out[at..at + 2].copy_from_slice(&count.to_be_bytes());
}

fn headers_len(headers: &[(Bytes, Bytes)]) -> usize {
    pairs_len(raw_pairs(headers))
}

fn pairs_len<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> usize {
    2 + pairs.map(|(n, v)| 6 + n.len() + v.len()).sum::<usize>()
}

/// The fixed start of every message.
fn start(out: &mut BytesMut, kind: u8, from: NodeId, id: u64) {
    out.put_u8(VERSION);
    out.put_u8(kind);
    out.put_slice(from.as_bytes());
    out.put_u64(id);
}

impl Message {
    /// Encodes a Request from borrowed parts: the bytes of [`Message::encode`]
    /// of the same [`Body::Request`], without copying the parts into one
    /// first. `headers` makes the header pairs (called twice: to size the
    /// message, then to write it).
    pub fn encode_request<'a, I>(
        from: NodeId,
        id: u64,
        method: Method,
        uri: &[u8],
        headers: impl Fn() -> I,
        body: &[u8],
    ) -> Bytes
    where
        I: Iterator<Item = (&'a [u8], &'a [u8])>,
    {
        let uri = &uri[..uri.len().min(MAX_URI)];
        let len = 18 + 1 + 2 + uri.len() + pairs_len(headers()) + 4 + body.len();
        let mut out = BytesMut::with_capacity(len);
        start(&mut out, 1, from, id);
        out.put_u8(match method {
            Method::Get => 0,
            Method::Post => 1,
        });
        out.put_u16(uri.len() as u16);
        out.put_slice(uri);
        put_header_pairs(&mut out, headers());
        out.put_u32(body.len() as u32);
        out.put_slice(body);
        out.freeze()
    }

    /// Encodes a Response from borrowed parts: the bytes of
    /// [`Message::encode`] of the same [`Body::Response`] (see
    /// [`Message::encode_request`]).
    pub fn encode_response<'a, I>(
        from: NodeId,
        id: u64,
        status: u16,
        headers: impl Fn() -> I,
        body: &[u8],
    ) -> Bytes
    where
        I: Iterator<Item = (&'a [u8], &'a [u8])>,
    {
        let len = 18 + 2 + pairs_len(headers()) + 4 + body.len();
        let mut out = BytesMut::with_capacity(len);
        start(&mut out, 3, from, id);
        out.put_u16(status);
        put_header_pairs(&mut out, headers());
        out.put_u32(body.len() as u32);
        out.put_slice(body);
        out.freeze()
    }
}

impl Message {
    /// Encodes the message (one allocation).
    pub fn encode(&self) -> Bytes {
        match &self.body {
            Body::Request {
                method,
                uri,
                headers,
                body,
            } => {
                return Message::encode_request(
                    self.from,
                    self.id,
                    *method,
                    uri,
                    || headers.iter(),
                    body,
                );
            }
            Body::Response {
                status,
                headers,
                body,
            } => {
                return Message::encode_response(
                    self.from,
                    self.id,
                    *status,
                    || headers.iter(),
                    body,
                );
            }
            _ => {}
        }
        let extra = match &self.body {
            Body::Accepted | Body::Abort => 0,
            other => session_kind_len(other),
        };
        let mut out = BytesMut::with_capacity(18 + extra);
        start(&mut out, 0, self.from, self.id);
        out[1] = match self.body {
            Body::Request { .. } => 1,
            Body::Accepted => 2,
            Body::Response { .. } => 3,
            Body::Abort => 4,
            Body::Upgrade { .. } => 5,
            Body::Handover(_) => 6,
            Body::Proxied => 7,
            Body::TunnelData { .. } => 8,
            Body::TunnelAck { .. } => 9,
            Body::TunnelClose { .. } => 10,
        };
        put_session_kind(&mut out, &self.body);
        out.freeze()
    }

    /// Decodes a message from untrusted bytes.
    pub fn decode(mut buf: Bytes) -> Result<Message, DecodeError> {
        let mut r = Reader(&mut buf);
        if r.u8()? != VERSION {
            return Err(DecodeError::Malformed);
        }
        let kind = r.u8()?;
        let from = NodeId::from_wire(&r.bytes(crate::node_id::NODE_ID_LEN)?)
            .ok_or(DecodeError::Malformed)?;
        let id = r.u64()?;
        let body = match kind {
            1 => {
                let method = match r.u8()? {
                    0 => Method::Get,
                    1 => Method::Post,
                    _ => return Err(DecodeError::Malformed),
                };
                let len = r.u16()? as usize;
                if len > MAX_URI {
                    return Err(DecodeError::TooLarge);
                }
                let uri = r.bytes(len)?;
                let headers = r.header_block()?;
                let len = r.u32()? as usize;
                Body::Request {
                    method,
                    uri,
                    headers,
                    body: r.bytes(len)?,
                }
            }
            2 => Body::Accepted,
            3 => {
                let status = r.u16()?;
                let headers = r.header_block()?;
                let len = r.u32()? as usize;
                Body::Response {
                    status,
                    headers,
                    body: r.bytes(len)?,
                }
            }
            4 => Body::Abort,
            5..=10 => r.session_kind(kind)?,
            _ => return Err(DecodeError::Malformed),
        };
        if r.0.has_remaining() {
            return Err(DecodeError::Malformed);
        }
        Ok(Message { from, id, body })
    }
}

/// One Redis message carrying `messages` (encoded, in order): the message
/// itself when there is one, else a batch.
pub fn batch(messages: &[Bytes]) -> Bytes {
    match messages {
        [one] => one.clone(),
        _ => {
            let len = 1 + messages.iter().map(|m| 4 + m.len()).sum::<usize>();
            let mut out = BytesMut::with_capacity(len);
            out.put_u8(BATCH);
            for m in messages {
                out.put_u32(m.len() as u32);
                out.put_slice(m);
            }
            out.freeze()
        }
    }
}

/// The messages of one Redis message (untrusted bytes), still encoded: a
/// single message, or each message of a batch. A malformed batch yields an
/// error and ends; each message is decoded (and checked) by
/// [`Message::decode`]. Allocates nothing: the messages are slices of
/// `payload`.
pub fn split(payload: Bytes) -> Split {
    Split {
        rest: payload,
        batched: None,
    }
}

/// The iterator of [`split`].
#[derive(Debug)]
pub struct Split {
    rest: Bytes,
    /// `None` until the first byte is looked at; then whether it is a batch.
    batched: Option<bool>,
}

impl Iterator for Split {
    type Item = Result<Bytes, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let batched = match self.batched {
            Some(b) => b,
            None => {
                let b = self.rest.first() == Some(&BATCH);
                self.batched = Some(b);
                if !b {
                    // A single message (or garbage, which its decoding refuses).
                    return Some(Ok(std::mem::take(&mut self.rest)));
                }
                self.rest.advance(1);
                if self.rest.is_empty() {
                    return Some(Err(DecodeError::Truncated));
                }
                true
            }
        };
        if !batched || self.rest.is_empty() {
            return None;
        }
        let mut r = Reader(&mut self.rest);
        let item = r.u32().and_then(|n| r.bytes(n as usize));
        if item.is_err() {
            self.rest.clear();
        }
        Some(item)
    }
}

fn dir_byte(dir: Dir) -> u8 {
    match dir {
        Dir::FromOpener => 0,
        Dir::FromOwner => 1,
    }
}

fn msgs_len(msgs: &[WireMessage]) -> usize {
    4 + msgs.len() * 5
        + msgs
            .iter()
            .map(|m| match m {
                WireMessage::Text(b) | WireMessage::Binary(b) => b.len(),
            })
            .sum::<usize>()
}

/// The size of the fields of the upgrade and tunnel kinds (5 to 10).
fn session_kind_len(body: &Body) -> usize {
    match body {
        Body::Upgrade { uri, headers } => 2 + uri.len() + headers_len(headers),
        Body::Handover(h) => {
            2 + h.sid.len()
                + 1
                + 2
                + h.uri.len()
                + headers_len(&h.headers)
                + 19
                + msgs_len(&h.outgoing)
                + msgs_len(&h.incoming)
        }
        Body::TunnelData { data, .. } => 5 + data.len(),
        Body::TunnelAck { .. } => 5,
        Body::TunnelClose { .. } => 1,
        _ => 0,
    }
}

fn put_short(out: &mut BytesMut, b: &[u8], max: usize) {
    let b = &b[..b.len().min(max)];
    out.put_u16(b.len() as u16);
    out.put_slice(b);
}

fn put_msgs(out: &mut BytesMut, msgs: &[WireMessage]) {
    out.put_u32(msgs.len() as u32);
    for m in msgs {
        let (tag, b) = match m {
            WireMessage::Text(b) => (0, b),
            WireMessage::Binary(b) => (1, b),
        };
        out.put_u8(tag);
        out.put_u32(b.len() as u32);
        out.put_slice(b);
    }
}

/// Writes the fields of the upgrade and tunnel kinds (5 to 10).
fn put_session_kind(out: &mut BytesMut, body: &Body) {
    match body {
        Body::Upgrade { uri, headers } => {
            put_short(out, uri, MAX_URI);
            put_headers(out, headers);
        }
        Body::Handover(h) => {
            put_short(out, &h.sid, u16::MAX as usize);
            out.put_u8(h.protocol);
            put_short(out, &h.uri, MAX_URI);
            put_headers(out, &h.headers);
            match h.remote_addr {
                None => out.put_u8(0),
                Some(std::net::SocketAddr::V4(a)) => {
                    out.put_u8(4);
                    out.put_slice(&a.ip().octets());
                    out.put_u16(a.port());
                }
                Some(std::net::SocketAddr::V6(a)) => {
                    out.put_u8(6);
                    out.put_slice(&a.ip().octets());
                    out.put_u16(a.port());
                }
            }
            put_msgs(out, &h.outgoing);
            put_msgs(out, &h.incoming);
        }
        Body::TunnelData { dir, data } => {
            out.put_u8(dir_byte(*dir));
            out.put_u32(data.len() as u32);
            out.put_slice(data);
        }
        Body::TunnelAck { dir, credit } => {
            out.put_u8(dir_byte(*dir));
            out.put_u32(*credit);
        }
        Body::TunnelClose { dir } => out.put_u8(dir_byte(*dir)),
        _ => {}
    }
}

/// Bounds-checked reads over the message.
struct Reader<'a>(&'a mut Bytes);

impl Reader<'_> {
    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.0.remaining() < n {
            Err(DecodeError::Truncated)
        } else {
            Ok(())
        }
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.need(1)?;
        Ok(self.0.get_u8())
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.need(2)?;
        Ok(self.0.get_u16())
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.need(4)?;
        Ok(self.0.get_u32())
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.need(8)?;
        Ok(self.0.get_u64())
    }
    fn bytes(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        self.need(n)?;
        Ok(self.0.split_to(n))
    }
    fn dir(&mut self) -> Result<Dir, DecodeError> {
        match self.u8()? {
            0 => Ok(Dir::FromOpener),
            1 => Ok(Dir::FromOwner),
            _ => Err(DecodeError::Malformed),
        }
    }

    fn uri(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.u16()? as usize;
        if len > MAX_URI {
            return Err(DecodeError::TooLarge);
        }
        self.bytes(len)
    }

    fn msgs(&mut self) -> Result<Vec<WireMessage>, DecodeError> {
        let count = self.u32()? as usize;
        // Each message takes at least 5 bytes: checked before allocating.
        self.need(count.saturating_mul(5))?;
        let mut msgs = Vec::with_capacity(count);
        for _ in 0..count {
            let tag = self.u8()?;
            let n = self.u32()? as usize;
            let b = self.bytes(n)?;
            msgs.push(match tag {
                0 => WireMessage::Text(b),
                1 => WireMessage::Binary(b),
                _ => return Err(DecodeError::Malformed),
            });
        }
        Ok(msgs)
    }

    /// The fields of the upgrade and tunnel kinds (5 to 10).
    fn session_kind(&mut self, kind: u8) -> Result<Body, DecodeError> {
        Ok(match kind {
            5 => Body::Upgrade {
                uri: self.uri()?,
                headers: self.headers()?,
            },
            6 => {
                let n = self.u16()? as usize;
                let sid = self.bytes(n)?;
                let protocol = self.u8()?;
                let uri = self.uri()?;
                let headers = self.headers()?;
                let remote_addr = match self.u8()? {
                    0 => None,
                    4 => {
                        let ip = self.bytes(4)?;
                        let ip = std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]);
                        Some(std::net::SocketAddr::from((ip, self.u16()?)))
                    }
                    6 => {
                        let mut ip = [0u8; 16];
                        ip.copy_from_slice(&self.bytes(16)?);
                        let ip = std::net::Ipv6Addr::from(ip);
                        Some(std::net::SocketAddr::from((ip, self.u16()?)))
                    }
                    _ => return Err(DecodeError::Malformed),
                };
                Body::Handover(WireHandover {
                    sid,
                    protocol,
                    uri,
                    headers,
                    remote_addr,
                    outgoing: self.msgs()?,
                    incoming: self.msgs()?,
                })
            }
            7 => Body::Proxied,
            8 => {
                let dir = self.dir()?;
                let n = self.u32()? as usize;
                Body::TunnelData {
                    dir,
                    data: self.bytes(n)?,
                }
            }
            9 => Body::TunnelAck {
                dir: self.dir()?,
                credit: self.u32()?,
            },
            10 => Body::TunnelClose { dir: self.dir()? },
            _ => return Err(DecodeError::Malformed),
        })
    }

    /// A header list's framing, checked as [`Reader::headers`] checks it,
    /// taken as one slice.
    fn header_block(&mut self) -> Result<HeaderBlock, DecodeError> {
        let b: &[u8] = self.0;
        let field = |at: usize, len: usize| -> Result<usize, DecodeError> {
            let f = b.get(at..at + len).ok_or(DecodeError::Truncated)?;
            Ok(f.iter().fold(0usize, |n, &d| n << 8 | usize::from(d)))
        };
        let count = field(0, 2)?;
        if count > MAX_HEADERS {
            return Err(DecodeError::TooLarge);
        }
        let mut at = 2;
        for _ in 0..count {
            at += 2 + field(at, 2)?;
            at = at
                .checked_add(4 + field(at, 4)?)
                .ok_or(DecodeError::Truncated)?;
            if at > b.len() {
                return Err(DecodeError::Truncated);
            }
        }
        self.bytes(at).map(HeaderBlock)
    }

    fn headers(&mut self) -> Result<RawHeaders, DecodeError> {
        let count = self.u16()? as usize;
        if count > MAX_HEADERS {
            return Err(DecodeError::TooLarge);
        }
        // Each header takes at least 6 bytes: a count larger than the rest
        // of the message allows is refused before anything is allocated.
        self.need(count * 6)?;
        let mut headers = Vec::with_capacity(count);
        for _ in 0..count {
            let n = self.u16()? as usize;
            let name = self.bytes(n)?;
            let n = self.u32()? as usize;
            headers.push((name, self.bytes(n)?));
        }
        Ok(headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn node() -> NodeId {
        NodeId::parse("node-_01").unwrap()
    }

    fn samples() -> Vec<Message> {
        let headers = vec![
            (Bytes::from_static(b"accept"), Bytes::from_static(b"*/*")),
            (Bytes::from_static(b"x-empty"), Bytes::new()),
        ];
        vec![
            Message {
                from: node(),
                id: 1,
                body: Body::Request {
                    method: Method::Get,
                    uri: Bytes::from_static(b"/socket.io/?EIO=4&transport=polling&sid=x"),
                    headers: HeaderBlock::from_pairs(raw_pairs(&headers)),
                    body: Bytes::new(),
                },
            },
            Message {
                from: node(),
                id: u64::MAX,
                body: Body::Request {
                    method: Method::Post,
                    uri: Bytes::from_static(b"/"),
                    headers: HeaderBlock::default(),
                    body: Bytes::from_static(b"4hello\x1e4world"),
                },
            },
            Message {
                from: node(),
                id: 7,
                body: Body::Accepted,
            },
            Message {
                from: node(),
                id: 8,
                body: Body::Response {
                    status: 200,
                    headers: HeaderBlock::from_pairs(raw_pairs(&headers)),
                    body: Bytes::from_static(&[0, 1, 2, 255]),
                },
            },
            Message {
                from: node(),
                id: 9,
                body: Body::Abort,
            },
        ]
        .into_iter()
        .chain(session_samples())
        .collect()
    }

    fn session_samples() -> Vec<Message> {
        let headers = vec![(Bytes::from_static(b"origin"), Bytes::from_static(b"x"))];
        let bodies = vec![
            Body::Upgrade {
                uri: Bytes::from_static(b"/socket.io/?EIO=4&transport=websocket&sid=x"),
                headers: headers.clone(),
            },
            Body::Handover(WireHandover {
                sid: Bytes::from_static(b"node-_01abcdefghijklmnopqrst"),
                protocol: 4,
                uri: Bytes::from_static(b"/socket.io/?EIO=4&transport=polling"),
                headers: headers.clone(),
                remote_addr: Some("127.0.0.1:4000".parse().unwrap()),
                outgoing: vec![WireMessage::Text(Bytes::from_static(b"hi"))],
                incoming: vec![
                    WireMessage::Text(Bytes::from_static(b"0")),
                    WireMessage::Binary(Bytes::from_static(&[1, 2])),
                ],
            }),
            Body::Handover(WireHandover {
                sid: Bytes::from_static(b"s"),
                protocol: 3,
                uri: Bytes::from_static(b"/"),
                headers: vec![],
                remote_addr: Some("[::1]:9".parse().unwrap()),
                outgoing: vec![],
                incoming: vec![],
            }),
            Body::Proxied,
            Body::TunnelData {
                dir: Dir::FromOpener,
                data: Bytes::from_static(b"\x81\x01a"),
            },
            Body::TunnelAck {
                dir: Dir::FromOwner,
                credit: 65_536,
            },
            Body::TunnelClose {
                dir: Dir::FromOwner,
            },
        ];
        bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| Message {
                from: node(),
                id: 100 + i as u64,
                body,
            })
            .collect()
    }

    #[test]
    fn at_most_max_headers_travel() {
        let many: RawHeaders = (0..MAX_HEADERS + 10)
            .map(|i| (Bytes::from(format!("x-{i}")), Bytes::from_static(b"v")))
            .collect();
        let msg = Message {
            from: node(),
            id: 1,
            body: Body::Response {
                status: 200,
                headers: HeaderBlock::from_pairs(raw_pairs(&many)),
                body: Bytes::from_static(b"ok"),
            },
        };
        let Body::Response { headers, .. } = Message::decode(msg.encode()).unwrap().body else {
            panic!("a response");
        };
        assert_eq!(headers.to_raw(), many[..MAX_HEADERS]);
        assert_eq!(headers.iter().count(), MAX_HEADERS);
    }

    #[test]
    fn a_response_header_block_is_framed_as_a_request_header_list() {
        let pairs: RawHeaders = vec![
            (
                Bytes::from_static(b"content-type"),
                Bytes::from_static(b"text/plain"),
            ),
            (Bytes::from_static(b"x-e"), Bytes::new()),
        ];
        let block = HeaderBlock::from_pairs(raw_pairs(&pairs));
        assert_eq!(block.to_raw(), pairs);
        let mut list = BytesMut::new();
        put_headers(&mut list, &pairs);
        assert_eq!(block.as_bytes(), &list[..], "the same framing");
        let response = |block: &[u8]| {
            let mut out = BytesMut::new();
            start(&mut out, 3, node(), 1);
            out.put_u16(200);
            out.put_slice(block);
            out.put_u32(0);
            Message::decode(out.freeze())
        };
        let Ok(Message {
            body: Body::Response { headers, .. },
            ..
        }) = response(block.as_bytes())
        else {
            panic!("a response");
        };
        assert_eq!(headers, block);
        let shared: Vec<(Vec<u8>, Bytes)> = headers
            .shared_pairs()
            .map(|(n, v)| (n.to_vec(), v))
            .collect();
        assert_eq!(shared.len(), 2);
        for ((n, v), (rn, rv)) in shared.iter().zip(&pairs) {
            assert_eq!((&n[..], &v[..]), (&rn[..], &rv[..]));
        }
        let inside = headers.as_bytes().as_ptr_range();
        assert!(inside.contains(&shared[0].1.as_ptr()), "no copy");
        // A value longer than the message, a count beyond the limit.
        let mut long = list.to_vec();
        long[2 + 2 + 12 + 3] = 0xff;
        assert_eq!(response(&long), Err(DecodeError::Truncated));
        let too_many = (MAX_HEADERS as u16 + 1).to_be_bytes();
        assert_eq!(response(&too_many), Err(DecodeError::TooLarge));
    }

    #[test]
    fn round_trip() {
        for m in samples() {
            assert_eq!(Message::decode(m.encode()), Ok(m));
        }
    }

    #[test]
    fn exact_bytes_of_an_accepted() {
        let m = Message {
            from: node(),
            id: 0x0102,
            body: Body::Accepted,
        };
        assert_eq!(
            &m.encode()[..],
            b"\x01\x02node-_01\x00\x00\x00\x00\x00\x00\x01\x02"
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        for m in samples() {
            let full = m.encode();
            for n in 0..full.len() {
                assert!(
                    Message::decode(full.slice(..n)).is_err(),
                    "{m:?} cut at {n}"
                );
            }
            let mut longer = full.to_vec();
            longer.push(0);
            assert_eq!(
                Message::decode(Bytes::from(longer)),
                Err(DecodeError::Malformed)
            );
        }
    }

    #[test]
    fn hostile_fields() {
        // Unknown version, kind, method; a node id with bad characters.
        let good = samples()[0].encode().to_vec();
        for (at, value) in [(0usize, 2u8), (1, 9), (18, 5), (2, b' ')] {
            let mut b = good.clone();
            b[at] = value;
            assert!(Message::decode(Bytes::from(b)).is_err());
        }
        // A header count far beyond the message's size allocates nothing.
        let mut b = b"\x01\x03node-_01\x00\x00\x00\x00\x00\x00\x00\x01\x00\xc8".to_vec();
        b.extend_from_slice(&[0x00, 0x7f]);
        assert_eq!(Message::decode(Bytes::from(b)), Err(DecodeError::Truncated));
        let mut b = b"\x01\x03node-_01\x00\x00\x00\x00\x00\x00\x00\x01\x00\xc8".to_vec();
        b.extend_from_slice(&[0xff, 0xff]);
        assert_eq!(Message::decode(Bytes::from(b)), Err(DecodeError::TooLarge));
    }

    #[test]
    fn batches_carry_messages_in_order() {
        let encoded: Vec<Bytes> = samples().iter().map(Message::encode).collect();
        let one = batch(&encoded[..1]);
        assert_eq!(one, encoded[0], "a single message goes as it is");
        let got: Vec<Message> = split(one)
            .map(|m| Message::decode(m.unwrap()).unwrap())
            .collect();
        assert_eq!(got, samples()[..1]);
        let all = batch(&encoded);
        assert_eq!(all[0], BATCH);
        let got: Vec<Message> = split(all)
            .map(|m| Message::decode(m.unwrap()).unwrap())
            .collect();
        assert_eq!(got, samples());
    }

    #[test]
    fn hostile_batches() {
        // An empty batch, a length beyond the end, a truncated length.
        assert_eq!(
            split(Bytes::from_static(b"\x02")).collect::<Vec<_>>(),
            [Err(DecodeError::Truncated)]
        );
        let r: Vec<_> = split(Bytes::from_static(b"\x02\xff\xff\xff\xffab")).collect();
        assert_eq!(r, [Err(DecodeError::Truncated)]);
        let r: Vec<_> = split(Bytes::from_static(b"\x02\x00\x00\x00\x01a\x00\x00")).collect();
        assert_eq!(
            r,
            [Ok(Bytes::from_static(b"a")), Err(DecodeError::Truncated)]
        );
        // Nothing at all is one (invalid) message.
        let r: Vec<_> = split(Bytes::new()).collect();
        assert_eq!(r, [Ok(Bytes::new())]);
    }

    proptest! {
        #[test]
        fn garbage_batches_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut b = vec![BATCH];
            b.extend_from_slice(&data);
            for m in split(Bytes::from(b)).take(300).flatten() {
                let _ = Message::decode(m);
            }
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Message::decode(Bytes::from(data));
        }

        #[test]
        fn garbage_after_a_valid_prefix_never_panics(
            kind in 1u8..=10,
            tail in proptest::collection::vec(any::<u8>(), 0..128),
        ) {
            let mut b = vec![1, kind];
            b.extend_from_slice(b"node-_01");
            b.extend_from_slice(&[0; 8]);
            b.extend_from_slice(&tail);
            let _ = Message::decode(Bytes::from(b));
        }
    }
}
