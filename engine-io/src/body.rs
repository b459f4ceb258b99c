//! The response body type of the service.

use bytes::Bytes;
use http_body_util::Full;

/// The body of every response produced by the engine: fully materialized bytes.
pub type ResponseBody = Full<Bytes>;

pub(crate) fn full(b: impl Into<Bytes>) -> ResponseBody {
    Full::new(b.into())
}

pub(crate) fn empty() -> ResponseBody {
    Full::new(Bytes::new())
}
