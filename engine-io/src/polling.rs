//! The HTTP long-polling transport (XHR and JSONP): `GET` waits for packets,
//! `POST` delivers packets.

use crate::body::{empty, full, ResponseBody};
use crate::compression;
use crate::packet::{Packet, PacketType, ProtocolVersion};
use crate::payload;
use crate::socket::{control, Ready, Socket};
use crate::CloseReason;
use crate::TransportType;
use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;
use std::sync::Arc;

fn with_headers(
    mut res: Response<ResponseBody>,
    extra: Option<HeaderMap>,
) -> Response<ResponseBody> {
    if let Some(h) = extra {
        res.headers_mut().extend(h);
    }
    res
}

/// A bare status answer (duplicate requests, bad content): no body, only CORS headers.
fn bare(status: StatusCode, cors: Option<HeaderMap>) -> Response<ResponseBody> {
    let mut res = Response::new(empty());
    *res.status_mut() = status;
    with_headers(res, cors)
}

/// Adds the headers every polling answer carries (the reference's `headers()`):
/// `cache-control: no-store`, the IE XSS header, the session cookie on the
/// handshake, then the user's hook.
fn common_headers(socket: &Socket, req_headers: &HeaderMap, res: &mut HeaderMap, initial: bool) {
    if let Some(ua) = req_headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        if ua.contains(";MSIE") || ua.contains("Trident/") {
            res.insert("x-xss-protection", HeaderValue::from_static("0"));
        }
    }
    res.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let cfg = &socket.shared.config;
    if initial {
        if let Some(c) = &cfg.cookie {
            if let Ok(v) = HeaderValue::from_str(&c.serialize(socket.id())) {
                res.insert(header::SET_COOKIE, v);
            }
        }
    }
    if let Some(hook) = &cfg.headers {
        hook(socket.request(), res, initial);
    }
}

/// Encodes `packets` for this socket's polling flavour and builds the 200 answer
/// (compressed when large enough and accepted).
pub(crate) fn payload_response(
    socket: &Socket,
    req_headers: &HeaderMap,
    packets: &[Packet],
    cors: Option<HeaderMap>,
    initial: bool,
) -> Response<ResponseBody> {
    let (data, binary): (Bytes, bool) = match socket.protocol() {
        ProtocolVersion::V4 => (Bytes::from(payload::encode_v4(packets)), false),
        ProtocolVersion::V3 => {
            if !socket.b64 && socket.jsonp.is_none() && payload::has_binary(packets) {
                (payload::encode_v3_binary(packets), true)
            } else {
                (Bytes::from(payload::encode_v3_string(packets)), false)
            }
        }
    };
    let data = match &socket.jsonp {
        // The payload is text here (binary is only chosen without JSONP).
        Some(index) => Bytes::from(payload::encode_jsonp(
            index,
            &String::from_utf8_lossy(&data),
        )),
        None => data,
    };
    let mut headers = HeaderMap::new();
    if let Some(h) = cors {
        headers.extend(h);
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if binary {
            "application/octet-stream"
        } else {
            "text/plain; charset=UTF-8"
        }),
    );
    // Control packets alone (noop, close) are never compressed, as in the reference.
    let compressible = packets
        .iter()
        .any(|p| !matches!(p.packet_type, PacketType::Noop | PacketType::Close));
    let mut body = data;
    if let Some(threshold) = socket.shared.config.http_compression_threshold {
        if compressible && body.len() >= threshold {
            let accept = req_headers
                .get(header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok());
            if let Some(enc) = compression::negotiate(accept) {
                if let Some(z) = compression::compress(&body, enc) {
                    headers.insert(
                        header::CONTENT_ENCODING,
                        HeaderValue::from_static(enc.as_str()),
                    );
                    body = z;
                }
            }
        }
    }
    common_headers(socket, req_headers, &mut headers, initial);
    let mut res = Response::new(full(body));
    *res.headers_mut() = headers;
    res
}

/// Clears the pending-poll flag if the GET is dropped before answering (the
/// client went away): the reference's "poll connection closed prematurely".
struct PollGuard<'a> {
    socket: &'a Arc<Socket>,
    seq: u64,
    armed: bool,
}

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let open = {
            let mut st = self.socket.lock();
            if st.poll_pending && st.poll_seq == self.seq {
                st.poll_pending = false;
            }
            st.ready != Ready::Closed
        };
        if open {
            self.socket.finalize(
                CloseReason::TransportError,
                Some("poll connection closed prematurely".into()),
                PacketType::Close,
            );
        }
    }
}

/// A polling `GET`: answers at once with what is queued, or waits for packets.
pub(crate) async fn get(
    socket: Arc<Socket>,
    parts: &http::request::Parts,
    cors: Option<HeaderMap>,
) -> Response<ResponseBody> {
    let seq = {
        let mut st = socket.lock();
        if st.poll_pending {
            drop(st);
            // The first GET gets the close packet, this one a bare 400.
            socket.finalize(
                CloseReason::TransportError,
                Some("overlap from client".into()),
                PacketType::Close,
            );
            return bare(StatusCode::BAD_REQUEST, cors);
        }
        st.poll_pending = true;
        st.poll_seq += 1;
        st.close_deadline = None;
        st.poll_seq
    };
    let mut guard = PollGuard {
        socket: &socket,
        seq,
        armed: true,
    };
    let mut close_after = false;
    let packets = loop {
        let notified = socket.poll_wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut st = socket.lock();
            let answer = match st.ready {
                Ready::Closed => Some(vec![control(st.poll_final)]),
                Ready::Closing => {
                    let mut p = socket.drain_queue(&mut st);
                    p.push(control(PacketType::Close));
                    close_after = true;
                    Some(p)
                }
                Ready::Open if st.transport != TransportType::Polling => {
                    // Upgraded while this GET waited: the old transport is closed.
                    Some(vec![control(PacketType::Close)])
                }
                Ready::Open if !st.queue.is_empty() => Some(socket.drain_queue(&mut st)),
                Ready::Open if st.poll_noop => Some(vec![control(PacketType::Noop)]),
                Ready::Open => None,
            };
            if let Some(p) = answer {
                st.poll_pending = false;
                let n = p.len() as u64;
                socket.mark_written(&mut st, n);
                break p;
            }
        }
        notified.await;
    };
    guard.armed = false;
    drop(guard);
    if close_after {
        socket.finalize(CloseReason::ForcedClose, None, PacketType::Close);
    } else if socket.is_open() {
        socket.shared.handler.on_drain(&socket);
    }
    payload_response(&socket, &parts.headers, &packets, cors, false)
}

/// Clears the active-POST flag if the POST is dropped before its body was read.
struct PostGuard<'a> {
    socket: &'a Arc<Socket>,
    seq: u64,
    armed: bool,
}

impl Drop for PostGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let open = {
            let mut st = self.socket.lock();
            if st.post_active && st.post_seq == self.seq {
                st.post_active = false;
            }
            st.ready != Ready::Closed
        };
        if open {
            self.socket.finalize(
                CloseReason::TransportError,
                Some("data request connection closed prematurely".into()),
                PacketType::Close,
            );
        }
    }
}

enum BodyError {
    TooLarge,
    Failed,
}

/// Reads a body incrementally, refusing as soon as it exceeds `limit` bytes:
/// nothing beyond the limit is ever buffered.
async fn read_limited<B>(mut body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut buf = BytesMut::new();
    let mut first: Option<Bytes> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Failed)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let total = buf.len() + first.as_ref().map_or(0, Bytes::len) + data.len();
        if total > limit {
            return Err(BodyError::TooLarge);
        }
        // Keep a single chunk as is (no copy); concatenate only when there are several.
        match first.take() {
            None if buf.is_empty() => first = Some(data),
            Some(f) => {
                buf.extend_from_slice(&f);
                buf.extend_from_slice(&data);
            }
            None => buf.extend_from_slice(&data),
        }
    }
    Ok(first.unwrap_or_else(|| buf.freeze()))
}

/// A polling `POST`: decodes the payload and delivers its packets in order.
pub(crate) async fn post<B>(
    socket: Arc<Socket>,
    parts: &http::request::Parts,
    body: B,
    cors: Option<HeaderMap>,
) -> Response<ResponseBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let is_binary = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/octet-stream");
    let seq = {
        let mut st = socket.lock();
        if st.post_active {
            drop(st);
            socket.finalize(
                CloseReason::TransportError,
                Some("data request overlap from client".into()),
                PacketType::Close,
            );
            return bare(StatusCode::BAD_REQUEST, cors);
        }
        if is_binary && socket.protocol() == ProtocolVersion::V4 {
            drop(st);
            socket.finalize(
                CloseReason::TransportError,
                Some("invalid content".into()),
                PacketType::Close,
            );
            return bare(StatusCode::BAD_REQUEST, cors);
        }
        st.post_active = true;
        st.post_seq += 1;
        st.post_seq
    };
    let mut guard = PostGuard {
        socket: &socket,
        seq,
        armed: true,
    };
    let limit = socket.shared.config.max_http_buffer_size;
    let read = read_limited(Box::pin(body), limit).await;
    guard.armed = false;
    drop(guard);
    {
        let mut st = socket.lock();
        if st.post_seq == seq {
            st.post_active = false;
        }
    }
    let data = match read {
        Ok(d) => d,
        // Over the limit: 413 and the data is dropped; the session lives on.
        Err(BodyError::TooLarge) => return bare(StatusCode::PAYLOAD_TOO_LARGE, cors),
        Err(BodyError::Failed) => {
            socket.finalize(
                CloseReason::TransportError,
                Some("data request connection closed prematurely".into()),
                PacketType::Close,
            );
            return bare(StatusCode::BAD_REQUEST, cors);
        }
    };
    deliver(&socket, data, is_binary);
    let mut headers = cors.unwrap_or_default();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    common_headers(&socket, &parts.headers, &mut headers, false);
    let mut res = Response::new(full(Bytes::from_static(b"ok")));
    *res.headers_mut() = headers;
    res
}

/// Decodes a POST body and hands its packets to the socket.
fn deliver(socket: &Arc<Socket>, data: Bytes, is_binary: bool) {
    let decoder = if socket.jsonp.is_some() {
        let text = payload::bytes_to_str_lossy(data);
        match payload::decode_jsonp_form(&text) {
            Some(p) => payload::decode(Bytes::from(p), socket.protocol(), false),
            None => return,
        }
    } else {
        payload::decode(data, socket.protocol(), is_binary)
    };
    for item in decoder {
        match item {
            Ok(p) if p.packet_type == PacketType::Close => {
                // The client closes: a pending GET is released with a noop.
                socket.finalize(CloseReason::TransportClose, None, PacketType::Noop);
                return;
            }
            Ok(p) => {
                socket.handle_packet(p);
                if !socket.is_open() {
                    return;
                }
            }
            Err(e) => {
                socket.finalize(
                    CloseReason::ParseError,
                    Some(e.to_string()),
                    PacketType::Close,
                );
                return;
            }
        }
    }
}
