//! [`RequestInfo`]: what a socket remembers of its handshake request.

use http::{HeaderMap, Method, Uri};
use std::net::SocketAddr;

/// The peer address of a connection, as a request extension. [`crate::listen`]
/// and [`crate::Server::serve`] insert it; other embedders can insert it (or a
/// plain [`SocketAddr`] extension) so sockets know their remote address. Under
/// axum (feature `axum`, on by default), axum's `ConnectInfo<SocketAddr>` is
/// read as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAddr(pub SocketAddr);

/// The handshake request of a socket: method, URI, headers, decoded query and
/// remote address.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// HTTP method.
    pub method: Method,
    /// Request URI (path and query).
    pub uri: Uri,
    /// Request headers.
    pub headers: HeaderMap,
    /// Decoded query parameters, in order (a repeated name keeps every value;
    /// [`RequestInfo::query`] returns the last one, as `URLSearchParams` +
    /// `Object.fromEntries` in the reference).
    pub query_pairs: Vec<(String, String)>,
    /// The peer's address, when the embedder provided it.
    pub remote_addr: Option<SocketAddr>,
}

impl RequestInfo {
    pub(crate) fn from_parts(parts: &http::request::Parts) -> Self {
        let remote_addr = parts
            .extensions
            .get::<RemoteAddr>()
            .map(|r| r.0)
            .or_else(|| parts.extensions.get::<SocketAddr>().copied())
            .or_else(|| connect_info(&parts.extensions));
        let (uri, headers) = detach(&parts.uri, &parts.headers);
        RequestInfo {
            method: parts.method.clone(),
            uri,
            headers,
            query_pairs: parse_query(parts.uri.query().unwrap_or("")),
            remote_addr,
        }
    }

    /// The value of query parameter `name` (the last one when repeated).
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query_pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of header `name` as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// axum's `ConnectInfo<SocketAddr>`, inserted by
/// `Router::into_make_service_with_connect_info::<SocketAddr>()`.
#[cfg(feature = "axum")]
fn connect_info(ext: &http::Extensions) -> Option<SocketAddr> {
    ext.get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

#[cfg(not(feature = "axum"))]
fn connect_info(_: &http::Extensions) -> Option<SocketAddr> {
    None
}

/// Copies the URI and the header values out of hyper's read buffer, into one
/// allocation shared by all of them. hyper parses them as slices of the
/// connection's read buffer; keeping those slices for the life of a session
/// would keep that whole buffer (8 KiB or more) alive per socket, and one copy
/// per value would cost an allocation (and its malloc overhead) each.
fn detach(uri: &Uri, h: &HeaderMap) -> (Uri, HeaderMap) {
    use std::fmt::Write as _;
    let values: usize = h.values().map(|v| v.len()).sum();
    let mut buf = bytes::BytesMut::with_capacity(values + 64);
    for v in h.values() {
        buf.extend_from_slice(v.as_bytes());
    }
    let uri_start = buf.len();
    // `Uri`'s Display writes exactly what `Uri::from_maybe_shared` parses back.
    let _ = write!(Utf8Writer(&mut buf), "{uri}");
    let buf = buf.freeze();
    let new_uri = Uri::from_maybe_shared(buf.slice(uri_start..)).unwrap_or_else(|_| uri.clone());
    let mut out = HeaderMap::with_capacity(h.len());
    let mut at = 0;
    for (name, value) in h {
        let end = at + value.len();
        let mut v = http::HeaderValue::from_maybe_shared(buf.slice(at..end))
            .unwrap_or_else(|_| value.clone());
        at = end;
        v.set_sensitive(value.is_sensitive());
        out.append(name.clone(), v);
    }
    (new_uri, out)
}

/// `fmt::Write` into a byte buffer.
struct Utf8Writer<'a>(&'a mut bytes::BytesMut);

impl std::fmt::Write for Utf8Writer<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// `application/x-www-form-urlencoded` parsing as `URLSearchParams` does it:
/// `+` is a space, bad percent escapes are kept verbatim, invalid UTF-8 becomes U+FFFD.
pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

fn decode_component(s: &str) -> String {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let v = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match v {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let q = parse_query("EIO=4&transport=polling&t=a+b&x=%41%zz&EIO=3&&flag");
        let info = RequestInfo {
            method: Method::GET,
            uri: Uri::from_static("/"),
            headers: HeaderMap::new(),
            query_pairs: q,
            remote_addr: None,
        };
        assert_eq!(info.query("EIO"), Some("3"));
        assert_eq!(info.query("t"), Some("a b"));
        assert_eq!(info.query("x"), Some("A%zz"));
        assert_eq!(info.query("flag"), Some(""));
        assert_eq!(info.query("nope"), None);
    }

    #[test]
    fn detached_copy_keeps_every_header_and_the_uri() {
        let mut h = HeaderMap::new();
        h.insert("host", "example.com".parse().unwrap());
        h.append("x-multi", "a".parse().unwrap());
        h.append("x-multi", "b".parse().unwrap());
        let mut secret = http::HeaderValue::from_static("token");
        secret.set_sensitive(true);
        h.insert("authorization", secret);
        h.insert("x-empty", http::HeaderValue::from_static(""));
        let uri = Uri::from_static("/engine.io/?EIO=4&transport=websocket&x=%20y");
        let (u, d) = detach(&uri, &h);
        assert_eq!(u, uri);
        assert_eq!(u.query(), Some("EIO=4&transport=websocket&x=%20y"));
        assert_eq!(d, h);
        let multi: Vec<_> = d.get_all("x-multi").iter().collect();
        assert_eq!(multi, ["a", "b"]);
        assert!(d.get("authorization").unwrap().is_sensitive());
        assert_eq!(d.get("x-empty").unwrap(), "");
    }
}
