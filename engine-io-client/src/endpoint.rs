//! Where the client connects: scheme, host, port, path and the query of every request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use url::Url;

use crate::cookie_jar::http_scheme;
use crate::Error;
use engine_io::TransportType;

/// The Engine.IO protocol revision this client speaks.
const EIO_VERSION: &str = "4";

/// The resolved address of an Engine.IO server, built once per client from the builder's URL,
/// path and query.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// `http(s)://host:port/path/` with the user's query parameters.
    base: Url,
    pub(crate) secure: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The name of the cache-busting parameter on polling requests, when enabled.
    timestamp_param: Option<String>,
}

impl Endpoint {
    /// Resolves `url` (`http`, `https`, `ws` or `wss`) with the Engine.IO `path` and extra `query`.
    ///
    /// As in the reference client, the URL gives the origin and optional query parameters; the
    /// request path is `path` (the URL's own path is ignored: in Socket.IO it names a namespace).
    pub(crate) fn new(
        url: &str,
        path: &str,
        query: &[(String, String)],
        timestamp_param: Option<String>,
    ) -> Result<Self, Error> {
        let mut parsed = Url::parse(url).map_err(|e| Error::InvalidUrl(format!("{url}: {e}")))?;
        let secure = match parsed.scheme() {
            "http" | "ws" => false,
            "https" | "wss" => true,
            other => {
                return Err(Error::InvalidUrl(format!(
                    "{url}: unsupported scheme {other:?} (use http, https, ws or wss)"
                )))
            }
        };
        http_scheme(&mut parsed);
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Error::InvalidUrl(format!("{url}: no host")))?
            .to_owned();
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| Error::InvalidUrl(format!("{url}: no port")))?;
        let user_query: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .chain(query.iter().cloned())
            .filter(|(k, _)| !is_reserved(k))
            .collect();
        parsed.set_fragment(None);
        parsed.set_path(path);
        parsed.set_query(None);
        if !user_query.is_empty() {
            parsed.query_pairs_mut().extend_pairs(user_query);
        }
        Ok(Endpoint {
            base: parsed,
            secure,
            host,
            port,
            timestamp_param,
        })
    }

    /// The URL of a polling request (`sid` is `None` for the handshake).
    pub(crate) fn polling_url(&self, sid: Option<&str>) -> Url {
        let mut url = self.request_url(TransportType::Polling, sid);
        if let Some(param) = &self.timestamp_param {
            url.query_pairs_mut().append_pair(param, &timestamp());
        }
        url
    }

    /// The URL of a WebSocket connection (`ws` or `wss`).
    pub(crate) fn websocket_url(&self, sid: Option<&str>) -> Url {
        let mut url = self.request_url(TransportType::Websocket, sid);
        // http -> ws and https -> wss are both "special" schemes, so this cannot fail.
        let _ = url.set_scheme(if self.secure { "wss" } else { "ws" });
        url
    }

    /// The URL of a WebTransport session: `https://host:port/path/` (as the reference client:
    /// no query; the first frame says what the session is for).
    #[cfg(feature = "webtransport")]
    pub(crate) fn webtransport_url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("https://{host}:{}{}", self.port, self.base.path())
    }

    /// The `http(s)` URL cookies are matched against for a WebSocket connection.
    pub(crate) fn websocket_cookie_url(&self, sid: Option<&str>) -> Url {
        self.request_url(TransportType::Websocket, sid)
    }

    fn request_url(&self, transport: TransportType, sid: Option<&str>) -> Url {
        let mut url = self.base.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("EIO", EIO_VERSION);
            q.append_pair("transport", transport.as_str());
            if let Some(sid) = sid {
                q.append_pair("sid", sid);
            }
        }
        url
    }
}

/// Parameters the client sets itself; a user value would confuse the server.
fn is_reserved(key: &str) -> bool {
    matches!(key, "EIO" | "transport" | "sid")
}

/// A value that differs on every call, so that no cache between client and server can answer a
/// long-polling request with an old response (the reference client's `t` parameter).
fn timestamp() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}.{}", base36(millis), base36(u128::from(n)))
}

fn base36(mut n: u128) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Normalizes a user path as the reference does: a leading slash, and exactly one trailing
/// slash unless `trailing_slash` is off.
pub(crate) fn normalize_path(path: &str, trailing_slash: bool) -> String {
    let trimmed = path.trim_end_matches('/').trim_start_matches('/');
    let mut out = format!("/{trimmed}");
    if trailing_slash && !out.ends_with('/') {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_polling_and_websocket_urls() {
        let ep = Endpoint::new(
            "https://example.com/ignored?token=a%20b",
            "/engine.io/",
            &[("x".into(), "1".into()), ("EIO".into(), "3".into())],
            None,
        )
        .unwrap();
        assert!(ep.secure);
        assert_eq!(ep.port, 443);
        assert_eq!(
            ep.polling_url(None).as_str(),
            "https://example.com/engine.io/?token=a+b&x=1&EIO=4&transport=polling"
        );
        assert_eq!(
            ep.websocket_url(Some("abc")).as_str(),
            "wss://example.com/engine.io/?token=a+b&x=1&EIO=4&transport=websocket&sid=abc"
        );
    }

    #[test]
    fn ws_scheme_and_timestamp() {
        let ep =
            Endpoint::new("ws://127.0.0.1:3000", "/engine.io/", &[], Some("t".into())).unwrap();
        assert!(!ep.secure);
        let a = ep.polling_url(Some("s")).to_string();
        let b = ep.polling_url(Some("s")).to_string();
        assert!(a.starts_with("http://127.0.0.1:3000/engine.io/?EIO=4&transport=polling&sid=s&t="));
        assert_ne!(a, b, "the timestamp must differ between requests");
    }

    #[test]
    fn rejects_bad_urls() {
        assert!(Endpoint::new("ftp://x", "/", &[], None).is_err());
        assert!(Endpoint::new("not a url", "/", &[], None).is_err());
    }

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize_path("/engine.io", true), "/engine.io/");
        assert_eq!(normalize_path("socket.io//", true), "/socket.io/");
        assert_eq!(normalize_path("/socket.io/", false), "/socket.io");
        assert_eq!(normalize_path("", true), "/");
        assert_eq!(normalize_path("/", false), "/");
    }
}
