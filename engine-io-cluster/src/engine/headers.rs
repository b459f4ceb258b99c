//! The HTTP parts a foreign request carries between nodes: which headers
//! travel, and the sid a request names.

use crate::message::{HeaderBlock, RawHeaders, MAX_HEADERS};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue};

/// Request headers that describe the client's connection to this node, not
/// the request: they are not carried to the owner.
fn hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::UPGRADE
        || name == header::CONTENT_LENGTH
        || name == header::TRANSFER_ENCODING
        || name == header::TE
        || name == header::TRAILER
        || name.as_str() == "keep-alive"
}

/// The headers that travel, borrowed (for `Message::encode_request` and
/// `Message::encode_response`: no copy before the message's own).
pub(super) fn wire_pairs(headers: &HeaderMap) -> impl Iterator<Item = (&[u8], &[u8])> {
    headers
        .iter()
        .filter(|(n, _)| !hop_by_hop(n))
        .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
}

pub(super) fn raw_headers(headers: &HeaderMap) -> RawHeaders {
    headers
        .iter()
        .filter(|(n, _)| !hop_by_hop(n))
        .take(MAX_HEADERS)
        .map(|(n, v)| {
            (
                Bytes::copy_from_slice(n.as_str().as_bytes()),
                Bytes::copy_from_slice(v.as_bytes()),
            )
        })
        .collect()
}

/// Hostile header lists: invalid names or values are skipped.
pub(super) fn header_map(raw: RawHeaders) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(raw.len());
    for (n, v) in raw {
        append_valid(
            &mut map,
            HeaderName::from_bytes(&n),
            HeaderValue::from_maybe_shared(v),
        );
    }
    map
}

/// [`header_map`] of a block's pairs (the values share its bytes).
pub(super) fn block_map(block: &HeaderBlock) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (n, v) in block.shared_pairs() {
        append_valid(
            &mut map,
            HeaderName::from_bytes(n),
            HeaderValue::from_maybe_shared(v),
        );
    }
    map
}

/// Appends a header that is valid and not hop-by-hop.
fn append_valid<E, F>(
    map: &mut HeaderMap,
    name: Result<HeaderName, E>,
    value: Result<HeaderValue, F>,
) {
    if let (Ok(n), Ok(v)) = (name, value) {
        if !hop_by_hop(&n) {
            map.append(n, v);
        }
    }
}

/// The last few header blocks [`LastHeaders::header_map`] validated, and
/// what they gave: the owner's answers to one node's polls carry few
/// distinct lists (a POST's, a GET's), and a clone costs a fraction of
/// validating one again.
#[derive(Default)]
pub(super) struct LastHeaders(parking_lot::Mutex<Seen>);

/// How many header blocks [`LastHeaders`] keeps.
const SEEN: usize = 4;
/// The largest block it keeps.
const SEEN_BYTES: usize = 4096;

#[derive(Default)]
pub(super) struct Seen {
    lists: [Option<(Bytes, HeaderMap)>; SEEN],
    /// The place the next new block takes.
    next: usize,
}

impl LastHeaders {
    /// The valid, not hop-by-hop headers of `block`, remembered for the
    /// next block with the same bytes (one comparison of the whole block).
    pub(super) fn header_map(&self, block: &HeaderBlock) -> HeaderMap {
        let bytes = block.as_bytes();
        let mut seen = self.0.lock();
        let hit = seen.lists.iter().flatten().find(|(b, _)| b[..] == *bytes);
        if let Some((_, map)) = hit {
            return map.clone();
        }
        if bytes.len() > SEEN_BYTES {
            drop(seen);
            return block_map(block);
        }
        let own = block.copied();
        let map = block_map(&own);
        let at = seen.next;
        seen.lists[at] = Some((Bytes::copy_from_slice(own.as_bytes()), map.clone()));
        seen.next = (at + 1) % SEEN;
        map
    }
}

/// A request URI's path and query, as carried to another node.
pub(super) fn wire_uri(uri: &http::Uri) -> &[u8] {
    uri.path_and_query()
        .map_or(b"/", |pq| pq.as_str().as_bytes())
}

/// The `sid` parameter of a request URI (sids are URL-safe: no decoding).
pub(super) fn sid_of(uri: &http::Uri) -> Option<&str> {
    uri.query()?
        .split('&')
        .filter_map(|kv| kv.strip_prefix("sid="))
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sid_parameter() {
        let uri: http::Uri = "/socket.io/?EIO=4&transport=polling&sid=abc&t=1"
            .parse()
            .unwrap();
        assert_eq!(sid_of(&uri), Some("abc"));
        let uri: http::Uri = "/x?sid=a&sid=b".parse().unwrap();
        assert_eq!(
            sid_of(&uri),
            Some("b"),
            "the last value wins, as the server's"
        );
        let uri: http::Uri = "/x?t=1".parse().unwrap();
        assert_eq!(sid_of(&uri), None);
    }

    #[test]
    fn borrowed_headers_encode_as_copied_ones() {
        use crate::message::{Body, Message, Method};
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("example.com"));
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        h.append("x-multi", HeaderValue::from_static("1"));
        h.append("x-multi", HeaderValue::from_static("2"));
        let node = crate::NodeId::parse("nodeAAAA").unwrap();
        let uri: http::Uri = "/engine.io/?EIO=4&sid=abc".parse().unwrap();
        let direct = Message::encode_request(
            node,
            7,
            Method::Post,
            wire_uri(&uri),
            || wire_pairs(&h),
            b"4hi",
        );
        let copied = Message {
            from: node,
            id: 7,
            body: Body::Request {
                method: Method::Post,
                uri: Bytes::copy_from_slice(wire_uri(&uri)),
                headers: HeaderBlock::from_pairs(
                    raw_headers(&h).iter().map(|(n, v)| (&n[..], &v[..])),
                ),
                body: Bytes::from_static(b"4hi"),
            },
        };
        assert_eq!(direct, copied.encode());
        assert_eq!(Message::decode(direct).unwrap(), copied);
        let direct = Message::encode_response(node, 8, 200, || wire_pairs(&h), b"ok");
        let Body::Response { headers, .. } = Message::decode(direct).unwrap().body else {
            panic!("a response");
        };
        assert_eq!(headers.to_raw(), raw_headers(&h));
        assert_eq!(headers.iter().count(), 3, "no hop-by-hop header travels");
    }

    #[test]
    fn remembered_header_lists_give_what_validating_gives() {
        let list = |i: usize| -> RawHeaders {
            vec![
                (
                    Bytes::from_static(b"content-type"),
                    Bytes::from(format!("t/{i}")),
                ),
                (
                    Bytes::from_static(b"connection"),
                    Bytes::from_static(b"close"),
                ),
                (Bytes::from_static(b"bad name"), Bytes::from_static(b"v")),
            ]
        };
        let block =
            |raw: RawHeaders| HeaderBlock::from_pairs(raw.iter().map(|(n, v)| (&n[..], &v[..])));
        let seen = LastHeaders::default();
        // More distinct lists than are kept, in turns, each twice.
        for i in (0..3 * SEEN).chain(0..3 * SEEN).map(|i| i % (SEEN + 1)) {
            let map = seen.header_map(&block(list(i)));
            assert_eq!(map, header_map(list(i)), "list {i}");
            assert_eq!(map.len(), 1, "hostile and hop-by-hop headers stay out");
        }
        let big = || {
            vec![(
                Bytes::from_static(b"x-big"),
                Bytes::from(vec![b'a'; SEEN_BYTES]),
            )]
        };
        assert_eq!(
            seen.header_map(&block(big())),
            header_map(big()),
            "too big to keep, still valid"
        );
    }

    #[test]
    fn headers_cross_nodes_without_hop_by_hop_ones() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
        h.append("x-multi", HeaderValue::from_static("1"));
        h.append("x-multi", HeaderValue::from_static("2"));
        let back = header_map(raw_headers(&h));
        assert_eq!(back.len(), 3);
        assert_eq!(back.get_all("x-multi").iter().count(), 2);
        assert!(back.get(header::CONNECTION).is_none());
        // Hostile names and values are skipped.
        let raw = vec![
            (Bytes::from_static(b"bad name"), Bytes::from_static(b"v")),
            (Bytes::from_static(b"ok"), Bytes::from_static(b"bad\nvalue")),
            (Bytes::from_static(b"ok"), Bytes::from_static(b"fine")),
        ];
        let m = header_map(raw);
        assert_eq!(m.len(), 1);
        assert_eq!(m.get("ok").map(|v| v.as_bytes()), Some(&b"fine"[..]));
    }
}
