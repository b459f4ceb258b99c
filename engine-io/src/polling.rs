//! The HTTP long-polling transport (XHR and JSONP): `GET` waits for packets,
//! `POST` delivers packets.

use crate::body::{empty, full, ResponseBody};
use crate::compression;
use crate::packet::{Packet, PacketType, ProtocolVersion};
use crate::payload;
use crate::session::{Answer, Event, RequestId};
use crate::socket::Socket;
use crate::CloseReason;
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
pub(crate) fn bare(status: StatusCode, cors: Option<HeaderMap>) -> Response<ResponseBody> {
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

/// Tells the session if the request is dropped before it is done (the
/// client went away): "poll connection closed prematurely" or "data request
/// connection closed prematurely", as the reference.
struct Guard<'a> {
    socket: &'a Arc<Socket>,
    abort: Option<Event>,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if let Some(e) = self.abort.take() {
            if let Event::GetAborted(id) = e {
                // An answer produced but never taken is dropped with the request.
                self.socket.lock().answers.retain(|(i, _)| *i != id);
            }
            self.socket.event(e);
        }
    }
}

/// A fresh request id.
fn next_id(socket: &Socket) -> RequestId {
    let mut st = socket.lock();
    st.request_seq += 1;
    st.request_seq
}

/// A polling `GET`: answers at once with what is queued, or waits until the
/// session has an answer (data, a noop during an upgrade, a close). `None`:
/// the session was handed over to another node, where the request goes.
pub(crate) async fn get(
    socket: Arc<Socket>,
    parts: &http::request::Parts,
    cors: Option<HeaderMap>,
) -> Option<Response<ResponseBody>> {
    let id = next_id(&socket);
    if socket.arrive(Event::GetArrived(id))? {
        // An overlapping GET: the first gets the close packet, this one a bare 400.
        return Some(bare(StatusCode::BAD_REQUEST, cors));
    }
    let mut guard = Guard {
        socket: &socket,
        abort: Some(Event::GetAborted(id)),
    };
    let packets = loop {
        let notified = socket.poll_wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut st = socket.lock();
            if let Some(i) = st.answers.iter().position(|(a, _)| *a == id) {
                break st.answers.swap_remove(i).1;
            }
        }
        notified.await;
    };
    guard.abort = None;
    drop(guard);
    if socket.is_open() {
        socket.shared.handler.on_drain(&socket);
    }
    Some(payload_response(
        &socket,
        &parts.headers,
        &packets,
        cors,
        false,
    ))
}

pub(crate) enum BodyError {
    TooLarge,
    Failed,
}

/// Reads a body incrementally, refusing as soon as it exceeds `limit` bytes:
/// nothing beyond the limit is ever buffered.
pub(crate) async fn read_limited<B>(mut body: B, limit: usize) -> Result<Bytes, BodyError>
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
/// `Err(body)`: the session was handed over to another node, where the
/// request goes (its body unread).
pub(crate) async fn post<B>(
    socket: Arc<Socket>,
    parts: &http::request::Parts,
    body: B,
    cors: Option<HeaderMap>,
) -> Result<Response<ResponseBody>, B>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let is_binary = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/octet-stream");
    let id = next_id(&socket);
    let arrival = Event::PostArrived {
        id,
        binary: is_binary,
    };
    match socket.arrive(arrival) {
        None => return Err(body),
        // An overlapping POST, or binary content over v4.
        Some(true) => return Ok(bare(StatusCode::BAD_REQUEST, cors)),
        Some(false) => {}
    }
    let mut guard = Guard {
        socket: &socket,
        abort: Some(Event::PostAborted(id)),
    };
    let limit = socket.shared.config.max_http_buffer_size;
    let read = read_limited(Box::pin(body), limit).await;
    // The request stays active until its packets are delivered (which may
    // wait for inbox room): a second POST meanwhile is an overlap, as in the
    // reference, and cannot reorder packets.
    match read {
        Ok(data) => deliver(&socket, data, is_binary).await,
        // Over the limit: 413 and the data is dropped; the session lives on.
        Err(BodyError::TooLarge) => {
            guard.abort = None;
            drop(guard);
            socket.event(Event::PostEnded(id));
            return Ok(bare(StatusCode::PAYLOAD_TOO_LARGE, cors));
        }
        // The guard closes the session.
        Err(BodyError::Failed) => return Ok(bare(StatusCode::BAD_REQUEST, cors)),
    }
    guard.abort = None;
    drop(guard);
    socket.event(Event::PostEnded(id));
    let mut headers = cors.unwrap_or_default();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    common_headers(&socket, &parts.headers, &mut headers, false);
    let mut res = Response::new(full(Bytes::from_static(b"ok")));
    *res.headers_mut() = headers;
    Ok(res)
}

/// Decodes a POST body and hands its packets to the socket, waiting for room
/// in a full stream-API inbox before each one (backpressure: a payload of
/// more packets than the inbox holds is delivered in full, and the client's
/// next POST waits for this one).
async fn deliver(socket: &Arc<Socket>, data: Bytes, is_binary: bool) {
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
            // A close packet closes the session (the session answers a
            // pending GET with a noop), like any packet through the session.
            Ok(p) => {
                tracing::trace!(sid = %socket.id(), packet = ?p.packet_type, "engine.io: POST delivers");
                socket.inbox_room().await;
                socket.handle_packet(p);
                if !socket.is_open() {
                    return;
                }
            }
            Err(e) => {
                socket.finalize(CloseReason::ParseError, Some(e.to_string()), Answer::Close);
                return;
            }
        }
    }
}
