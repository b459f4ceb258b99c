//! The cookie jar: what keeps a client on the same node behind a sticky load balancer.
//!
//! A load balancer that pins sessions with a cookie (HAProxy `cookie SERVERID insert`, AWS ALB's
//! `AWSALB`) routes each HTTP request on that cookie. Engine.IO long-polling makes many requests
//! per session, each of which must reach the node that holds the session; a client that drops the
//! cookie lands on another node and gets `400 {"code":1,"message":"Session ID unknown"}`. So the
//! client stores `Set-Cookie` from every HTTP response (polling and the WebSocket handshake) and
//! sends the matching `Cookie` header on every later request, including across reconnections.

use std::fmt;

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use parking_lot::{Mutex, MutexGuard};
use url::Url;

/// A thread-safe cookie store (RFC 6265 rules via the [`cookie_store`] crate: `Domain`, `Path`,
/// `Expires`, `Max-Age`, `Secure`, `HttpOnly`).
///
/// Every client has one by default. Share one between clients (or keep it across reconnections)
/// by passing the same `Arc<CookieJar>` to
/// [`ClientBuilder::cookie_jar`](crate::ClientBuilder::cookie_jar).
///
/// ```
/// use std::sync::Arc;
/// use engine_io_client::{Client, CookieJar};
///
/// let jar = Arc::new(CookieJar::new());
/// jar.add_cookie_str("session=abc; Path=/", "http://example.com/")?;
/// assert_eq!(
///     jar.cookie_header("http://example.com/engine.io/")?.as_deref(),
///     Some("session=abc")
/// );
/// let builder = Client::builder("http://example.com").cookie_jar(jar.clone());
/// # let _ = builder;
/// # Ok::<(), engine_io_client::Error>(())
/// ```
#[derive(Default)]
pub struct CookieJar {
    // Every critical section is a short, synchronous map operation, never held across an await
    // point. parking_lot: no poisoning, a panic elsewhere does not take the jar down.
    store: Mutex<cookie_store::CookieStore>,
}

impl fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Cookie values are credentials (session pins, auth tokens): print only the names.
        let names: Vec<String> = self
            .lock()
            .iter_unexpired()
            .map(|c| c.name().to_owned())
            .collect();
        f.debug_struct("CookieJar")
            .field("cookies", &names)
            .finish()
    }
}

impl CookieJar {
    /// An empty jar.
    pub fn new() -> Self {
        Self::default()
    }

    /// A jar holding the cookies of an existing [`cookie_store::CookieStore`] (for example one
    /// loaded from disk).
    pub fn from_store(store: cookie_store::CookieStore) -> Self {
        Self {
            store: Mutex::new(store),
        }
    }

    fn lock(&self) -> MutexGuard<'_, cookie_store::CookieStore> {
        self.store.lock()
    }

    /// Runs `f` with exclusive access to the underlying store (to inspect, save or edit it).
    /// Do not block inside `f`: every request of every client sharing the jar waits for it.
    pub fn with_store<R>(&self, f: impl FnOnce(&mut cookie_store::CookieStore) -> R) -> R {
        f(&mut self.lock())
    }

    /// Stores one `Set-Cookie` header value as if it came in a response from `url`.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`](crate::Error::InvalidUrl) when `url` does not parse. A cookie the
    /// store refuses (bad syntax, a domain that does not match `url`) is ignored, as a browser does.
    pub fn add_cookie_str(&self, set_cookie: &str, url: &str) -> crate::Result<()> {
        let url = cookie_url(url)?;
        // Refused cookies are dropped on purpose (RFC 6265 section 5.3: "ignore the cookie").
        let _ = self.lock().parse(set_cookie, &url);
        Ok(())
    }

    /// The value of the `Cookie` header to send to `url`, or `None` when no cookie matches.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`](crate::Error::InvalidUrl) when `url` does not parse.
    pub fn cookie_header(&self, url: &str) -> crate::Result<Option<String>> {
        let url = cookie_url(url)?;
        Ok(self
            .header_for(&url)
            .and_then(|v| v.to_str().ok().map(str::to_owned)))
    }

    /// Removes every cookie.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Whether the jar holds no unexpired cookie.
    pub fn is_empty(&self) -> bool {
        self.lock().iter_unexpired().next().is_none()
    }

    /// Stores every `Set-Cookie` of a response to a request for `url`.
    pub(crate) fn store_from(&self, url: &Url, headers: &HeaderMap) {
        let mut values = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .peekable();
        if values.peek().is_none() {
            return;
        }
        let mut store = self.lock();
        for value in values {
            if let Err(err) = store.parse(value, url) {
                tracing::debug!(%err, "engine.io client: ignoring a cookie the store refused");
            }
        }
    }

    /// The `Cookie` header for a request to `url`.
    pub(crate) fn header_for(&self, url: &Url) -> Option<HeaderValue> {
        let store = self.lock();
        let mut header = String::new();
        for (name, value) in store.get_request_values(url) {
            if !header.is_empty() {
                header.push_str("; ");
            }
            header.push_str(name);
            header.push('=');
            header.push_str(value);
        }
        if header.is_empty() {
            None
        } else {
            HeaderValue::from_str(&header).ok()
        }
    }

    /// Adds the jar's cookies for `url` to `headers`, after any `Cookie` the user set explicitly.
    pub(crate) fn apply(&self, url: &Url, headers: &mut HeaderMap) {
        let Some(jar_value) = self.header_for(url) else {
            return;
        };
        let merged = match headers.get(COOKIE).map(HeaderValue::as_bytes) {
            Some(existing) if !existing.is_empty() => {
                let mut bytes = existing.to_vec();
                bytes.extend_from_slice(b"; ");
                bytes.extend_from_slice(jar_value.as_bytes());
                HeaderValue::from_bytes(&bytes).unwrap_or(jar_value)
            }
            _ => jar_value,
        };
        headers.insert(COOKIE, merged);
    }
}

/// Parses a URL for cookie matching. Cookies are an HTTP concept and `HttpOnly` cookies apply only
/// to `http(s)` URLs, so `ws(s)` are looked up as `http(s)`: the WebSocket handshake is an HTTP
/// request to the same origin.
pub(crate) fn cookie_url(url: &str) -> crate::Result<Url> {
    let mut parsed =
        Url::parse(url).map_err(|e| crate::Error::InvalidUrl(format!("{url}: {e}")))?;
    http_scheme(&mut parsed);
    Ok(parsed)
}

/// Rewrites `ws`/`wss` to `http`/`https` in place.
pub(crate) fn http_scheme(url: &mut Url) {
    let scheme = match url.scheme() {
        "ws" => "http",
        "wss" => "https",
        _ => return,
    };
    // `set_scheme` refuses only special/non-special changes; ws<->http are both special.
    let _ = url.set_scheme(scheme);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        cookie_url(s).unwrap()
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(SET_COOKIE, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn stores_and_sends_back() {
        let jar = CookieJar::new();
        let u = url("http://127.0.0.1:3000/engine.io/?EIO=4");
        jar.store_from(
            &u,
            &headers(&["SERVERID=s1; path=/", "io=abc; Path=/; HttpOnly"]),
        );
        let value = jar.header_for(&u).unwrap();
        let value = value.to_str().unwrap();
        assert!(value.contains("SERVERID=s1"), "{value}");
        assert!(value.contains("io=abc"), "{value}");
        // The WebSocket handshake to the same origin carries them too, HttpOnly included.
        let ws = url("ws://127.0.0.1:3000/engine.io/?EIO=4&transport=websocket");
        assert!(jar.header_for(&ws).is_some());
    }

    #[test]
    fn honours_path_and_domain() {
        let jar = CookieJar::new();
        let u = url("http://example.com/engine.io/");
        jar.store_from(
            &u,
            &headers(&["a=1; Path=/other", "b=2; Domain=elsewhere.org", "c=3"]),
        );
        assert_eq!(jar.header_for(&u).unwrap(), "c=3");
        // Without `Path`, the default path is the request's directory (`/engine.io`).
        assert_eq!(
            jar.header_for(&url("http://example.com/other/x")).unwrap(),
            "a=1"
        );
    }

    #[test]
    fn honours_max_age_and_expires() {
        let jar = CookieJar::new();
        let u = url("http://example.com/");
        jar.store_from(&u, &headers(&["a=1; Max-Age=0", "b=2; Max-Age=3600"]));
        jar.store_from(
            &u,
            &headers(&["c=3; Expires=Thu, 01 Jan 1970 00:00:00 GMT"]),
        );
        assert_eq!(jar.header_for(&u).unwrap(), "b=2");
        // A later Max-Age=0 deletes a stored cookie.
        jar.store_from(&u, &headers(&["b=gone; Max-Age=0"]));
        assert!(jar.header_for(&u).is_none());
        assert!(jar.is_empty());
    }

    #[test]
    fn secure_cookies_only_over_tls() {
        let jar = CookieJar::new();
        let https = url("https://example.com/");
        jar.store_from(&https, &headers(&["s=1; Secure"]));
        assert!(jar.header_for(&url("http://example.com/")).is_none());
        assert!(jar.header_for(&url("wss://example.com/")).is_some());
    }

    #[test]
    fn merges_with_explicit_cookie_header() {
        let jar = CookieJar::new();
        let u = url("http://example.com/");
        jar.store_from(&u, &headers(&["a=1"]));
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("user=me"));
        jar.apply(&u, &mut h);
        assert_eq!(h.get(COOKIE).unwrap(), "user=me; a=1");
    }

    #[test]
    fn debug_hides_values() {
        let jar = CookieJar::new();
        jar.add_cookie_str("token=secret", "http://example.com/")
            .unwrap();
        let shown = format!("{jar:?}");
        assert!(
            shown.contains("token") && !shown.contains("secret"),
            "{shown}"
        );
    }
}
