//! `httpCompression`: gzip/deflate of polling responses above a threshold,
//! negotiated from `Accept-Encoding` as the npm `accepts`/`negotiator` packages do.

use bytes::Bytes;
use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;
use std::io::Write;

/// A content coding the server can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Gzip,
    Deflate,
}

impl Encoding {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
        }
    }
}

/// Picks gzip or deflate from an `Accept-Encoding` value: highest q wins, then
/// the earliest in the header, then gzip before deflate; `q=0` refuses; `*`
/// matches both. No header means no compression.
pub(crate) fn negotiate(accept: Option<&str>) -> Option<Encoding> {
    let accept = accept?;
    let mut best: Option<(f32, usize, usize, Encoding)> = None;
    for (provided_idx, enc) in [Encoding::Gzip, Encoding::Deflate].into_iter().enumerate() {
        // The most specific matching entry decides this coding's quality.
        let mut spec: Option<(u8, f32, usize)> = None;
        for (order, item) in accept.split(',').enumerate() {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let mut q = 1.0f32;
            for p in parts {
                if let Some(v) = p.trim().strip_prefix("q=") {
                    q = v.trim().parse().unwrap_or(1.0);
                }
            }
            let s = if name.eq_ignore_ascii_case(enc.as_str()) {
                1
            } else if name == "*" {
                0
            } else {
                continue;
            };
            if spec.is_none_or(|(ps, pq, _)| s > ps || (s == ps && q > pq)) {
                spec = Some((s, q, order));
            }
        }
        if let Some((_, q, order)) = spec {
            if q <= 0.0 {
                continue;
            }
            let better = match best {
                None => true,
                Some((bq, border, _, _)) => q > bq || (q == bq && order < border),
            };
            if better {
                best = Some((q, order, provided_idx, enc));
            }
        }
    }
    best.map(|b| b.3)
}

/// Compresses `data`; `None` if the encoder failed (then send it uncompressed).
pub(crate) fn compress(data: &[u8], enc: Encoding) -> Option<Bytes> {
    let out = Vec::with_capacity(data.len() / 2 + 64);
    let res = match enc {
        Encoding::Gzip => {
            let mut e = GzEncoder::new(out, Compression::default());
            e.write_all(data).and_then(|_| e.finish())
        }
        Encoding::Deflate => {
            let mut e = ZlibEncoder::new(out, Compression::default());
            e.write_all(data).and_then(|_| e.finish())
        }
    };
    res.ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(None), None);
        assert_eq!(negotiate(Some("")), None);
        assert_eq!(negotiate(Some("gzip, deflate, br")), Some(Encoding::Gzip));
        assert_eq!(negotiate(Some("deflate, gzip")), Some(Encoding::Deflate));
        assert_eq!(
            negotiate(Some("gzip;q=0.5, deflate")),
            Some(Encoding::Deflate)
        );
        assert_eq!(negotiate(Some("gzip;q=0")), None);
        assert_eq!(negotiate(Some("*")), Some(Encoding::Gzip));
        assert_eq!(negotiate(Some("identity")), None);
    }

    #[test]
    fn roundtrip() {
        use std::io::Read;
        let data = vec![b'a'; 5000];
        let z = compress(&data, Encoding::Gzip).unwrap();
        let mut d = flate2::read::GzDecoder::new(&z[..]);
        let mut back = Vec::new();
        d.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
    }
}
