//! CORS, as the npm `cors` middleware the reference server uses: headers on every
//! response (errors included) and preflight (`OPTIONS`) answered with 204.

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use std::fmt;
use std::sync::Arc;

/// A function deciding whether an origin (`None` when absent) is allowed.
pub type OriginPredicate = Arc<dyn Fn(Option<&str>) -> bool + Send + Sync>;

/// Which origins are allowed.
#[derive(Clone)]
pub enum CorsOrigin {
    /// `Access-Control-Allow-Origin: *`.
    Any,
    /// Always this origin (plus `Vary: Origin`).
    Exact(String),
    /// Reflect the request's origin (the reference's `origin: true`).
    Mirror,
    /// Reflect the request's origin when it is in the list.
    List(Vec<String>),
    /// Reflect the request's origin when the function accepts it; when it
    /// refuses, no CORS headers are sent at all (as with a `cors` origin callback
    /// returning `false`).
    Predicate(OriginPredicate),
}

impl fmt::Debug for CorsOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorsOrigin::Any => f.write_str("Any"),
            CorsOrigin::Exact(o) => f.debug_tuple("Exact").field(o).finish(),
            CorsOrigin::Mirror => f.write_str("Mirror"),
            CorsOrigin::List(l) => f.debug_tuple("List").field(l).finish(),
            CorsOrigin::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

/// CORS options (`cors` option of the reference server).
#[derive(Debug, Clone)]
pub struct Cors {
    /// Allowed origins.
    pub origin: CorsOrigin,
    /// Send `Access-Control-Allow-Credentials: true`.
    pub credentials: bool,
    /// Preflight `Access-Control-Allow-Methods` (default `GET,HEAD,PUT,PATCH,POST,DELETE`).
    pub methods: Vec<String>,
    /// Preflight `Access-Control-Allow-Headers`; `None` reflects the request's
    /// `Access-Control-Request-Headers`.
    pub allowed_headers: Option<Vec<String>>,
    /// `Access-Control-Expose-Headers`.
    pub exposed_headers: Option<Vec<String>>,
    /// Preflight `Access-Control-Max-Age` in seconds.
    pub max_age: Option<u64>,
}

impl Default for Cors {
    fn default() -> Self {
        Cors {
            origin: CorsOrigin::Any,
            credentials: false,
            methods: ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"]
                .map(String::from)
                .to_vec(),
            allowed_headers: None,
            exposed_headers: None,
            max_age: None,
        }
    }
}

impl Cors {
    /// Any origin (`*`), the other options at their defaults.
    pub fn any() -> Self {
        Cors::default()
    }

    /// Origins from a list, reflected when they match.
    pub fn origins(list: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Cors {
            origin: CorsOrigin::List(list.into_iter().map(Into::into).collect()),
            ..Cors::default()
        }
    }

    /// Origins accepted by a function.
    pub fn predicate(f: impl Fn(Option<&str>) -> bool + Send + Sync + 'static) -> Self {
        Cors {
            origin: CorsOrigin::Predicate(Arc::new(f)),
            ..Cors::default()
        }
    }

    /// Sets `credentials`.
    pub fn credentials(mut self, v: bool) -> Self {
        self.credentials = v;
        self
    }

    /// Sets the preflight methods.
    pub fn methods(mut self, m: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.methods = m.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the preflight allowed headers.
    pub fn allowed_headers(mut self, h: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.allowed_headers = Some(h.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the exposed headers.
    pub fn exposed_headers(mut self, h: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.exposed_headers = Some(h.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the preflight max age.
    pub fn max_age(mut self, secs: u64) -> Self {
        self.max_age = Some(secs);
        self
    }

    /// Computes the CORS headers for a request. Returns `None` when the origin
    /// predicate refused (no CORS headers at all). `preflight` is whether the
    /// request is an `OPTIONS` preflight.
    pub(crate) fn headers(&self, method: &Method, req: &HeaderMap) -> Option<HeaderMap> {
        let origin = req.get(http::header::ORIGIN).and_then(|v| v.to_str().ok());
        let mut out = HeaderMap::new();
        let preflight = method == Method::OPTIONS;
        let reflect = |out: &mut HeaderMap, allowed: bool| {
            if allowed {
                if let Some(v) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
                    out.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
                }
            }
            vary(out, "Origin");
        };
        match &self.origin {
            CorsOrigin::Any => {
                out.insert(
                    http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
            }
            CorsOrigin::Exact(o) => {
                if let Ok(v) = HeaderValue::from_str(o) {
                    out.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
                }
                vary(&mut out, "Origin");
            }
            CorsOrigin::Mirror => reflect(&mut out, true),
            CorsOrigin::List(l) => {
                reflect(&mut out, origin.is_some_and(|o| l.iter().any(|x| x == o)))
            }
            CorsOrigin::Predicate(f) => {
                if !f(origin) {
                    return None;
                }
                reflect(&mut out, true);
            }
        }
        if self.credentials {
            out.insert(
                http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if preflight {
            set_joined(
                &mut out,
                http::header::ACCESS_CONTROL_ALLOW_METHODS,
                &self.methods,
            );
            match &self.allowed_headers {
                None => {
                    vary(&mut out, "Access-Control-Request-Headers");
                    if let Some(v) = req.get(http::header::ACCESS_CONTROL_REQUEST_HEADERS) {
                        if !v.is_empty() {
                            out.insert(http::header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
                        }
                    }
                }
                Some(h) => set_joined(&mut out, http::header::ACCESS_CONTROL_ALLOW_HEADERS, h),
            }
            if let Some(age) = self.max_age {
                out.insert(http::header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
            }
        }
        if let Some(h) = &self.exposed_headers {
            set_joined(&mut out, http::header::ACCESS_CONTROL_EXPOSE_HEADERS, h);
        }
        Some(out)
    }
}

fn set_joined(out: &mut HeaderMap, name: HeaderName, values: &[String]) {
    let joined = values.join(",");
    if joined.is_empty() {
        return;
    }
    if let Ok(v) = HeaderValue::from_str(&joined) {
        out.insert(name, v);
    }
}

/// Appends a field to `Vary` (as the npm `vary` package).
fn vary(out: &mut HeaderMap, field: &str) {
    let current = out
        .get(http::header::VARY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let new = match current {
        Some(c) if c.split(',').any(|f| f.trim().eq_ignore_ascii_case(field)) => return,
        Some(c) if !c.is_empty() => format!("{c}, {field}"),
        _ => field.to_owned(),
    };
    if let Ok(v) = HeaderValue::from_str(&new) {
        out.insert(http::header::VARY, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(origin: Option<&str>, acrh: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(o) = origin {
            h.insert(http::header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        if let Some(a) = acrh {
            h.insert(
                http::header::ACCESS_CONTROL_REQUEST_HEADERS,
                HeaderValue::from_str(a).unwrap(),
            );
        }
        h
    }

    #[test]
    fn any_origin() {
        let h = Cors::any()
            .headers(&Method::GET, &req(Some("http://a"), None))
            .unwrap();
        assert_eq!(h["access-control-allow-origin"], "*");
        assert!(h.get("vary").is_none());
    }

    #[test]
    fn preflight_reflects_request_headers() {
        let h = Cors::any()
            .credentials(true)
            .headers(&Method::OPTIONS, &req(Some("http://a"), Some("x-foo")))
            .unwrap();
        assert_eq!(
            h["access-control-allow-methods"],
            "GET,HEAD,PUT,PATCH,POST,DELETE"
        );
        assert_eq!(h["access-control-allow-headers"], "x-foo");
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert_eq!(h["vary"], "Access-Control-Request-Headers");
    }

    #[test]
    fn list_and_predicate() {
        let c = Cors::origins(["http://ok"]);
        let h = c
            .headers(&Method::GET, &req(Some("http://ok"), None))
            .unwrap();
        assert_eq!(h["access-control-allow-origin"], "http://ok");
        assert_eq!(h["vary"], "Origin");
        let h = c
            .headers(&Method::GET, &req(Some("http://no"), None))
            .unwrap();
        assert!(h.get("access-control-allow-origin").is_none());
        let p = Cors::predicate(|o| o == Some("http://ok"));
        assert!(p
            .headers(&Method::GET, &req(Some("http://no"), None))
            .is_none());
        assert!(p
            .headers(&Method::GET, &req(Some("http://ok"), None))
            .is_some());
    }
}
