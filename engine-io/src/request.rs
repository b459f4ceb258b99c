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

/// The peer address as [`crate::EngineIoService::with_remote_addr`] records it:
/// a type of its own, so that it does not count as an extension of the
/// embedder's (it is the session's `remote_addr`, and keeping a copy of the
/// extension map in every session for it alone would cost about 200 bytes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServiceAddr(pub(crate) SocketAddr);

/// Marks a request that [`crate::Server::serve`] read without hyper
/// ([`crate::direct_upgrade`]): its connection is taken over by the task that read it,
/// which finds the session to open in the 101's extensions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Direct;

/// The handshake request of a socket: method, URI, headers, decoded query and
/// remote address.
///
/// Memory: a session keeps its request for its whole life, so the headers are
/// kept compactly (see [`Headers`]).
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// HTTP method.
    pub method: Method,
    /// Request URI (path and query).
    pub uri: Uri,
    /// Request headers (a [`HeaderMap`] through `Deref`, built on first use).
    pub headers: Headers,
    /// Decoded query parameters, in order (a repeated name keeps every value;
    /// [`RequestInfo::query`] returns the last one, as `URLSearchParams` +
    /// `Object.fromEntries` in the reference). A slice through `Deref`, decoded
    /// on first use.
    pub query_pairs: QueryPairs,
    /// The peer's address, when the embedder provided it.
    pub remote_addr: Option<SocketAddr>,
    /// The request's extensions as the embedder's outer layers left them (e.g. what an
    /// authentication layer inserted before the Engine.IO service), for Socket.IO's
    /// `HttpExtension` extractor. Empty for requests built with [`RequestInfo::new`].
    pub extensions: http::Extensions,
}

/// The decoded query parameters of a [`RequestInfo`]: `&[(String, String)]`
/// through `Deref`. Kept as the raw query string (a slice of the URI's
/// buffer: no copy) and decoded on first use, so an idle connection does not
/// keep a `String` per name and value.
#[derive(Clone, Default)]
pub struct QueryPairs {
    /// The raw query string (ASCII: a URI's query is percent-encoded).
    raw: bytes::Bytes,
    pairs: std::sync::OnceLock<Box<[(String, String)]>>,
}

impl QueryPairs {
    /// Parameters from a raw query string (`a=1&b=2`).
    pub fn new(query: &str) -> Self {
        Self::from_raw(bytes::Bytes::copy_from_slice(query.as_bytes()))
    }

    fn from_raw(raw: bytes::Bytes) -> Self {
        QueryPairs {
            raw,
            pairs: std::sync::OnceLock::new(),
        }
    }

    fn raw_str(&self) -> &str {
        std::str::from_utf8(&self.raw).unwrap_or("")
    }

    /// Every parameter, decoded, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        self.pairs
            .get_or_init(|| parse_query(self.raw_str()).into_boxed_slice())
    }

    fn get_decoded(&self, name: &str) -> Option<&str> {
        self.pairs()
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of parameter `name` (the last one when repeated). Decodes
    /// (and keeps) the parameters only when an escape is involved.
    pub fn get(&self, name: &str) -> Option<&str> {
        if self.pairs.get().is_some() {
            return self.get_decoded(name);
        }
        let needs_decoding = |s: &str| s.bytes().any(|b| b == b'%' || b == b'+');
        let mut found = None;
        for part in self.raw_str().split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            if needs_decoding(k) {
                return self.get_decoded(name);
            }
            if k == name {
                found = Some(v);
            }
        }
        match found {
            Some(v) if needs_decoding(v) => self.get_decoded(name),
            other => other,
        }
    }
}

impl From<Vec<(String, String)>> for QueryPairs {
    fn from(pairs: Vec<(String, String)>) -> Self {
        let q = QueryPairs::default();
        let _ = q.pairs.set(pairs.into_boxed_slice());
        q
    }
}

impl std::ops::Deref for QueryPairs {
    type Target = [(String, String)];

    fn deref(&self) -> &[(String, String)] {
        self.pairs()
    }
}

impl PartialEq for QueryPairs {
    fn eq(&self, other: &Self) -> bool {
        self.pairs() == other.pairs()
    }
}

impl std::fmt::Debug for QueryPairs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.pairs().fmt(f)
    }
}

/// The headers of a [`RequestInfo`]: a compact copy (one buffer of
/// `name:value` lines) from which the [`HeaderMap`] is built on first use, so
/// an idle connection never pays for a `HeaderMap` (about 100 bytes per
/// header plus an allocation per value). Derefs to [`HeaderMap`] and iterates
/// like `&HeaderMap`.
#[derive(Clone, Default)]
pub struct Headers {
    /// `name:value\n` per header (names are lower-case tokens without `:`,
    /// values never contain `\n`), in request order.
    raw: bytes::Bytes,
    /// Boxed: an unused `OnceLock<HeaderMap>` would take about 100 bytes in every session.
    map: std::sync::OnceLock<Box<HeaderMap>>,
}

impl Headers {
    /// Copies `h` into the compact form.
    pub fn new(h: &HeaderMap) -> Self {
        let size: usize = h.iter().map(|(n, v)| n.as_str().len() + v.len() + 2).sum();
        let mut buf = bytes::BytesMut::with_capacity(size);
        append_headers(&mut buf, h);
        Headers {
            raw: buf.freeze(),
            map: std::sync::OnceLock::new(),
        }
    }

    /// The value of header `name` as text (the first one when repeated), if
    /// present and visible ASCII. Does not build the [`HeaderMap`].
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.raw
            .split(|&b| b == b'\n')
            .filter_map(|line| {
                let colon = line.iter().position(|&b| b == b':')?;
                Some((&line[..colon], &line[colon + 1..]))
            })
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .and_then(|(_, v)| {
                let visible = v.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b));
                if visible {
                    std::str::from_utf8(v).ok()
                } else {
                    None
                }
            })
    }

    /// The headers as a [`HeaderMap`] (built on the first call).
    pub fn map(&self) -> &HeaderMap {
        self.map.get_or_init(|| {
            let raw = self.raw.as_ref();
            let mut map = HeaderMap::with_capacity(raw.iter().filter(|&&b| b == b'\n').count());
            for line in raw.split(|&b| b == b'\n') {
                let Some(colon) = line.iter().position(|&b| b == b':') else {
                    continue;
                };
                let start = line.as_ptr() as usize - raw.as_ptr() as usize + colon + 1;
                let end = start + line.len() - colon - 1;
                let name = http::HeaderName::from_bytes(&line[..colon]);
                let value = http::HeaderValue::from_maybe_shared(self.raw.slice(start..end));
                if let (Ok(n), Ok(v)) = (name, value) {
                    map.append(n, v);
                }
            }
            Box::new(map)
        })
    }
}

impl std::ops::Deref for Headers {
    type Target = HeaderMap;

    fn deref(&self) -> &HeaderMap {
        self.map()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a http::HeaderName, &'a http::HeaderValue);
    type IntoIter = http::header::Iter<'a, http::HeaderValue>;

    fn into_iter(self) -> Self::IntoIter {
        self.map().iter()
    }
}

impl From<HeaderMap> for Headers {
    fn from(h: HeaderMap) -> Self {
        Headers::new(&h)
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.map() == other.map()
    }
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.map().fmt(f)
    }
}

fn append_headers(buf: &mut bytes::BytesMut, h: &HeaderMap) {
    for (name, value) in h {
        buf.extend_from_slice(name.as_str().as_bytes());
        buf.extend_from_slice(b":");
        buf.extend_from_slice(value.as_bytes());
        buf.extend_from_slice(b"\n");
    }
}

impl RequestInfo {
    /// A request description, e.g. for tests or custom transports.
    pub fn new(
        method: Method,
        uri: Uri,
        headers: &HeaderMap,
        remote_addr: Option<SocketAddr>,
    ) -> Self {
        let (uri, raw, query) = detach(&uri, headers);
        RequestInfo {
            method,
            query_pairs: QueryPairs::from_raw(query),
            uri,
            remote_addr,
            headers: Headers {
                raw,
                map: std::sync::OnceLock::new(),
            },
            extensions: http::Extensions::new(),
        }
    }

    pub(crate) fn from_parts(parts: &http::request::Parts) -> Self {
        let ext = &parts.extensions;
        let service_addr = ext.get::<ServiceAddr>().map(|a| a.0);
        let remote_addr = service_addr
            .or_else(|| ext.get::<RemoteAddr>().map(|r| r.0))
            .or_else(|| ext.get::<SocketAddr>().copied())
            .or_else(|| connect_info(ext));
        let mut info = Self::new(
            parts.method.clone(),
            parts.uri.clone(),
            &parts.headers,
            remote_addr,
        );
        // hyper's upgrade handle (or the mark of `Server::serve`'s own upgrade) belongs to
        // the request being served, and the service's address is `remote_addr`: none is the
        // embedder's.
        let ours = usize::from(ext.get::<hyper::upgrade::OnUpgrade>().is_some())
            + usize::from(ext.get::<Direct>().is_some())
            + usize::from(service_addr.is_some());
        // Most requests carry nothing else: keep no allocated map on every session then.
        if ext.len() > ours {
            let mut extensions = ext.clone();
            extensions.remove::<hyper::upgrade::OnUpgrade>();
            extensions.remove::<Direct>();
            extensions.remove::<ServiceAddr>();
            info.extensions = extensions;
        }
        info
    }

    /// The value of query parameter `name` (the last one when repeated).
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query_pairs.get(name)
    }

    /// The value of header `name` as text (the first one when repeated), if
    /// present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get_str(name)
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

/// Copies the URI and the headers out of hyper's read buffer into one
/// compact buffer: the URI (sliced out of the buffer), then `name:value\n`
/// per header. hyper parses them as slices of the connection's read buffer;
/// keeping those slices for the life of a session would keep that whole
/// buffer (8 KiB or more) alive per socket, and a `HeaderMap` costs about
/// 100 bytes per header plus an allocation per value.
fn detach(uri: &Uri, h: &HeaderMap) -> (Uri, bytes::Bytes, bytes::Bytes) {
    use std::fmt::Write as _;
    let size: usize = h.iter().map(|(n, v)| n.as_str().len() + v.len() + 2).sum();
    let mut buf = bytes::BytesMut::with_capacity(size + 64);
    // `Uri`'s Display writes exactly what `Uri::from_maybe_shared` parses back.
    let _ = write!(ByteWriter(&mut buf), "{uri}");
    let uri_end = buf.len();
    append_headers(&mut buf, h);
    let mut buf = buf.freeze();
    let uri_bytes = buf.slice(..uri_end);
    let new_uri = Uri::from_maybe_shared(uri_bytes.clone()).unwrap_or_else(|_| uri.clone());
    // The query as a slice of the same buffer (where `Uri` found it).
    let query = match new_uri.query() {
        None => bytes::Bytes::new(),
        Some(q) => {
            let base = uri_bytes.as_ptr() as usize;
            let at = (q.as_ptr() as usize).wrapping_sub(base);
            if at <= uri_bytes.len() && at + q.len() <= uri_bytes.len() {
                uri_bytes.slice(at..at + q.len())
            } else {
                bytes::Bytes::copy_from_slice(q.as_bytes())
            }
        }
    };
    bytes::Buf::advance(&mut buf, uri_end);
    (new_uri, buf, query)
}

/// `fmt::Write` into a byte buffer.
struct ByteWriter<'a>(&'a mut bytes::BytesMut);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// `application/x-www-form-urlencoded` parsing as `URLSearchParams` does it:
/// `+` is a space, bad percent escapes are kept verbatim, invalid UTF-8 becomes U+FFFD.
pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    query_pairs(q)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// [`parse_query`]'s pairs, borrowed from `q` where nothing is escaped (no
/// allocation for them).
pub(crate) fn query_pairs(q: &str) -> QueryPairsIter<'_> {
    QueryPairsIter {
        rest: Some(q),
        // One vectorized scan of the whole query: without an escape, no
        // component needs a look of its own (every request's query is
        // parsed on the hot path).
        plain: memchr::memchr2(b'%', b'+', q.as_bytes()).is_none(),
    }
}

/// The iterator of [`query_pairs`]: splits at `&` and `=` with `memchr`.
pub(crate) struct QueryPairsIter<'a> {
    /// `None` once the last pair is out.
    rest: Option<&'a str>,
    /// No `%` nor `+` in the query: every component is taken as it is.
    plain: bool,
}

/// `s` split around the ASCII byte at `at` (always a char boundary).
fn split_around(s: &str, at: usize) -> (&str, &str) {
    match (s.get(..at), s.get(at + 1..)) {
        (Some(a), Some(b)) => (a, b),
        _ => (s, ""),
    }
}

impl<'a> Iterator for QueryPairsIter<'a> {
    type Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = self.rest?;
            let pair = match memchr::memchr(b'&', rest.as_bytes()) {
                Some(at) => {
                    let (pair, rest) = split_around(rest, at);
                    self.rest = Some(rest);
                    pair
                }
                None => {
                    self.rest = None;
                    rest
                }
            };
            if pair.is_empty() {
                continue;
            }
            let (k, v) = match memchr::memchr(b'=', pair.as_bytes()) {
                Some(at) => split_around(pair, at),
                None => (pair, ""),
            };
            if self.plain {
                return Some((std::borrow::Cow::Borrowed(k), std::borrow::Cow::Borrowed(v)));
            }
            return Some((decode_component(k), decode_component(v)));
        }
    }
}

fn decode_component(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return std::borrow::Cow::Borrowed(s);
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
    std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    /// The service's own address becomes `remote_addr` and is not kept as an
    /// extension (a session would keep a copy of the map for it alone); what
    /// the embedder inserted is kept.
    #[test]
    fn service_address_is_not_an_embedder_extension() {
        let addr: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        let mut req = http::Request::new(());
        req.extensions_mut().insert(ServiceAddr(addr));
        let (parts, ()) = req.into_parts();
        let info = RequestInfo::from_parts(&parts);
        assert_eq!(info.remote_addr, Some(addr));
        assert!(info.extensions.is_empty());

        #[derive(Clone, Debug, PartialEq)]
        struct Tenant(&'static str);
        let mut req = http::Request::new(());
        req.extensions_mut().insert(ServiceAddr(addr));
        req.extensions_mut().insert(Tenant("acme"));
        let (parts, ()) = req.into_parts();
        let info = RequestInfo::from_parts(&parts);
        assert_eq!(info.remote_addr, Some(addr));
        assert_eq!(info.extensions.len(), 1);
        assert_eq!(info.extensions.get::<Tenant>(), Some(&Tenant("acme")));
    }

    #[test]
    fn query_parsing() {
        let info = RequestInfo::new(
            Method::GET,
            Uri::from_static("/?EIO=4&transport=polling&t=a+b&x=%41%zz&EIO=3&&flag"),
            &HeaderMap::new(),
            None,
        );
        assert_eq!(info.query("EIO"), Some("3"));
        assert_eq!(info.query("t"), Some("a b"));
        assert_eq!(info.query("x"), Some("A%zz"));
        assert_eq!(info.query("flag"), Some(""));
        assert_eq!(info.query("nope"), None);
        assert_eq!(info.query_pairs.len(), 6);
        assert_eq!(info.query_pairs[2], ("t".to_owned(), "a b".to_owned()));
    }

    /// The pairs as splitting with `str::split` and `split_once` gives them
    /// (what [`query_pairs`] did before its `memchr` scans).
    fn reference_pairs(q: &str) -> Vec<(String, String)> {
        q.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (
                    decode_component(k).into_owned(),
                    decode_component(v).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn query_pairs_split_as_urlsearchparams() {
        for q in [
            "",
            "&",
            "&&a",
            "=",
            "a",
            "a=",
            "=b",
            "a=b=c",
            "EIO=4&transport=polling&t=PxYz&sid=abc_-12",
            "sid=a&sid=b&",
            "%73id=x&t=a+b&x=%41%zz&%",
            "caf\u{e9}=\u{1f600}&k=v",
        ] {
            let got: Vec<(String, String)> = query_pairs(q)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            assert_eq!(got, reference_pairs(q), "{q:?}");
        }
        let (k, v) = query_pairs("EIO=4").next().expect("a pair");
        assert!(matches!((k, v), (Cow::Borrowed("EIO"), Cow::Borrowed("4"))));
    }

    proptest::proptest! {
        #[test]
        fn query_pairs_match_the_reference(q in "[a-z=&%+0-9\u{e9}]{0,40}") {
            let got: Vec<(String, String)> = query_pairs(&q)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            proptest::prop_assert_eq!(got, reference_pairs(&q));
        }
    }

    #[test]
    fn query_lookup_without_escapes_decodes_nothing() {
        let info = RequestInfo::new(
            Method::GET,
            Uri::from_static("/engine.io/?EIO=4&transport=websocket&EIO=3"),
            &HeaderMap::new(),
            None,
        );
        assert_eq!(info.query("EIO"), Some("3"));
        assert_eq!(info.query("j"), None);
        assert!(info.query_pairs.pairs.get().is_none());
        let escaped = QueryPairs::new("a%3D=1&b=x+y");
        assert_eq!(escaped.get("b"), Some("x y"));
        assert_eq!(escaped.get("a="), Some("1"));
        let given = QueryPairs::from(vec![("k".to_owned(), "v".to_owned())]);
        assert_eq!(given.get("k"), Some("v"));
    }

    #[test]
    fn compact_headers_keep_every_header_and_the_uri() {
        let mut h = HeaderMap::new();
        h.insert("host", "example.com:80".parse().unwrap());
        h.append("x-multi", "a".parse().unwrap());
        h.append("x-multi", "b: c".parse().unwrap());
        h.insert("x-empty", http::HeaderValue::from_static(""));
        h.insert(
            "x-bytes",
            http::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        );
        let uri = Uri::from_static("/engine.io/?EIO=4&transport=websocket&x=%20y");
        let info = RequestInfo::new(Method::GET, uri.clone(), &h, None);
        assert_eq!(info.uri, uri);
        assert_eq!(info.query("x"), Some(" y"));
        assert_eq!(info.header("HOST"), Some("example.com:80"));
        assert_eq!(info.header("x-multi"), Some("a"));
        assert_eq!(info.header("x-empty"), Some(""));
        assert_eq!(info.header("x-bytes"), None);
        assert_eq!(info.header("nope"), None);
        assert_eq!(*info.headers, h);
        let multi: Vec<_> = info.headers.get_all("x-multi").iter().collect();
        assert_eq!(multi, ["a", "b: c"]);
        let abs = Uri::from_static("http://example.com/engine.io/?EIO=4");
        assert_eq!(
            RequestInfo::new(Method::GET, abs.clone(), &h, None).uri,
            abs
        );
    }
}
