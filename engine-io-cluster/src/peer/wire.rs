//! The wire format of a link: the hello that opens it, and the frames
//! that follow (a big-endian `u32` length, then one message or batch of
//! [`crate::message`], at most [`MAX_FRAME`] bytes).

use crate::NodeId;
use bytes::{Buf, Bytes, BytesMut};

/// The largest frame a link takes (as a Redis bulk string).
pub(crate) const MAX_FRAME: usize = crate::resp::MAX_BULK;
/// A hello: magic, version, the sender's id, the id of the node it means.
pub(super) const HELLO_LEN: usize = 4 + 1 + 2 * crate::NODE_ID_LEN;
const MAGIC: &[u8; 4] = b"EIOC";
const VERSION: u8 = 1;

pub(super) fn hello(from: NodeId, to: NodeId) -> [u8; HELLO_LEN] {
    let mut h = [0u8; HELLO_LEN];
    h[..4].copy_from_slice(MAGIC);
    h[4] = VERSION;
    h[5..13].copy_from_slice(from.as_bytes());
    h[13..].copy_from_slice(to.as_bytes());
    h
}

/// The sender and the node meant of a hello; `None` if it is none.
pub(super) fn parse_hello(h: &[u8; HELLO_LEN]) -> Option<(NodeId, NodeId)> {
    if &h[..4] != MAGIC || h[4] != VERSION {
        return None;
    }
    Some((NodeId::from_wire(&h[5..13])?, NodeId::from_wire(&h[13..])?))
}

/// The next complete frame of `buf`: `Ok(None)` when it is incomplete,
/// `Err` when its length is beyond [`MAX_FRAME`].
pub(crate) fn next_frame(buf: &mut BytesMut) -> Result<Option<Bytes>, ()> {
    let Some(head) = buf.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if len > MAX_FRAME {
        return Err(());
    }
    if buf.len() < 4 + len {
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len).freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    #[test]
    fn frames_split_at_their_lengths_and_oversized_ones_are_refused() {
        let mut buf = BytesMut::new();
        buf.put_u32(3);
        buf.put_slice(b"abc");
        buf.put_u32(0);
        buf.put_u32(5);
        buf.put_slice(b"de");
        assert_eq!(next_frame(&mut buf), Ok(Some(Bytes::from_static(b"abc"))));
        assert_eq!(next_frame(&mut buf), Ok(Some(Bytes::new())));
        assert_eq!(next_frame(&mut buf), Ok(None), "incomplete");
        buf.put_slice(b"fgh");
        assert_eq!(next_frame(&mut buf), Ok(Some(Bytes::from_static(b"defgh"))));
        assert_eq!(next_frame(&mut buf), Ok(None));
        let mut short = BytesMut::from(&[0u8, 0][..]);
        assert_eq!(next_frame(&mut short), Ok(None));
        let mut huge = BytesMut::new();
        huge.put_u32(MAX_FRAME as u32 + 1);
        assert_eq!(next_frame(&mut huge), Err(()));
    }

    #[test]
    fn a_hello_names_both_nodes_and_garbage_is_none() {
        let a = NodeId::parse("node-_01").unwrap();
        let b = NodeId::parse("node-_02").unwrap();
        assert_eq!(parse_hello(&hello(a, b)), Some((a, b)));
        let mut bad = hello(a, b);
        bad[4] = 9;
        assert_eq!(parse_hello(&bad), None);
        let mut bad = hello(a, b);
        bad[6] = b' ';
        assert_eq!(parse_hello(&bad), None);
        assert_eq!(parse_hello(&[0xff; HELLO_LEN]), None);
    }
}
