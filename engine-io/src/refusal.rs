//! HTTP refusals ([`ErrorCode`] and the 400/403 answers) with the reference's codes and messages.

use crate::body::{full, ResponseBody};
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};

/// An Engine.IO HTTP error code, as the reference server sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0: transport missing, unknown or disabled.
    UnknownTransport = 0,
    /// 1: no session with this sid.
    UnknownSid = 1,
    /// 2: a handshake (no sid) that is not a GET.
    BadHandshakeMethod = 2,
    /// 3: bad origin, transport or protocol mismatch, websocket without upgrade.
    BadRequest = 3,
    /// 4: refused by the allow-request hook (HTTP 403).
    Forbidden = 4,
    /// 5: EIO version not supported.
    UnsupportedProtocolVersion = 5,
}

impl ErrorCode {
    /// The reference's default message.
    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::UnknownTransport => "Transport unknown",
            ErrorCode::UnknownSid => "Session ID unknown",
            ErrorCode::BadHandshakeMethod => "Bad handshake method",
            ErrorCode::BadRequest => "Bad request",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    /// HTTP status: 403 for `Forbidden`, 400 otherwise.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// A refused request: a code and an optional custom message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: ErrorCode,
    pub(crate) message: Option<String>,
}

impl Refusal {
    pub(crate) fn new(code: ErrorCode) -> Self {
        Refusal {
            code,
            message: None,
        }
    }

    fn text(&self) -> &str {
        match &self.message {
            Some(m) if !m.is_empty() => m,
            _ => self.code.message(),
        }
    }

    /// `{"code":N,"message":"…"}` with 400/403, plus the CORS headers.
    pub(crate) fn http_response(&self, extra: Option<&HeaderMap>) -> Response<ResponseBody> {
        let body =
            serde_json::json!({ "code": self.code as u8, "message": self.text() }).to_string();
        let mut res = Response::new(full(body));
        *res.status_mut() = self.code.status();
        if let Some(h) = extra {
            res.headers_mut().extend(h.clone());
        }
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        res
    }

    /// The refusal of a WebSocket upgrade request: always 400, the message as
    /// `text/html`, connection closed (the reference's `abortUpgrade`).
    pub(crate) fn upgrade_response(&self) -> Response<ResponseBody> {
        let mut res = Response::new(full(self.text().to_owned()));
        *res.status_mut() = StatusCode::BAD_REQUEST;
        let h = res.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn json_error_bodies() {
        let r = Refusal::new(ErrorCode::UnknownSid).http_response(None);
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()["content-type"], "application/json");
        let b = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&b[..], br#"{"code":1,"message":"Session ID unknown"}"#);
        let r = Refusal {
            code: ErrorCode::Forbidden,
            message: Some("denied".into()),
        }
        .http_response(None);
        assert_eq!(r.status(), 403);
        let b = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&b[..], br#"{"code":4,"message":"denied"}"#);
    }
}
