//! [`NodeId`]: who owns a session, read from the first characters of its sid.

use crate::ClusterError;
use base64::Engine as _;
use std::fmt;

/// Characters in a node id (6 random bytes in URL-safe base64: 48 bits).
pub const NODE_ID_LEN: usize = 8;

/// The id of one node of the cluster: 8 URL-safe base64 characters, the
/// first 8 characters of every sid the node creates (20 random characters,
/// 120 bits, follow them).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId([u8; NODE_ID_LEN]);

fn is_id_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

impl NodeId {
    /// A fresh random node id.
    pub fn random() -> NodeId {
        let mut raw = [0u8; 6];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut raw);
        let mut out = [0u8; NODE_ID_LEN];
        // 6 bytes are exactly 8 base64 characters: the buffer always fits.
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode_slice(raw, &mut out)
            .unwrap_or(0);
        debug_assert_eq!(n, NODE_ID_LEN);
        NodeId(out)
    }

    /// Parses a node id: exactly 8 characters of `A-Z a-z 0-9 - _`.
    pub fn parse(s: &str) -> Result<NodeId, ClusterError> {
        Self::from_bytes(s.as_bytes()).ok_or_else(|| ClusterError::InvalidNodeId(s.to_owned()))
    }

    fn from_bytes(b: &[u8]) -> Option<NodeId> {
        let id: [u8; NODE_ID_LEN] = b.try_into().ok()?;
        id.iter().all(|&c| is_id_char(c)).then_some(NodeId(id))
    }

    /// The node that owns session `sid`, if `sid` has the cluster's shape
    /// (node id, then 20 random characters). Anything else (a hostile or
    /// foreign sid) is `None`.
    pub fn of_sid(sid: &str) -> Option<NodeId> {
        let b = sid.as_bytes();
        if b.len() != NODE_ID_LEN + 20 || !b.iter().all(|&c| is_id_char(c)) {
            return None;
        }
        Self::from_bytes(&b[..NODE_ID_LEN])
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII characters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    pub(crate) fn as_bytes(&self) -> &[u8; NODE_ID_LEN] {
        &self.0
    }

    pub(crate) fn from_wire(b: &[u8]) -> Option<NodeId> {
        Self::from_bytes(b)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_parse_back() {
        for _ in 0..100 {
            let id = NodeId::random();
            assert_eq!(id.as_str().len(), NODE_ID_LEN);
            assert_eq!(NodeId::parse(id.as_str()).ok(), Some(id));
        }
        assert_ne!(NodeId::random(), NodeId::random());
    }

    #[test]
    fn owner_of_a_sid() {
        let id = NodeId::parse("abcd-_09").unwrap();
        assert_eq!(NodeId::of_sid("abcd-_09ABCDEFGHIJKLMNOPQRST"), Some(id));
        // A standalone server's sid (20 chars), too long, bad characters, non-ASCII.
        assert_eq!(NodeId::of_sid("ABCDEFGHIJKLMNOPQRST"), None);
        assert_eq!(NodeId::of_sid("abcd-_09ABCDEFGHIJKLMNOPQRSTU"), None);
        assert_eq!(NodeId::of_sid("abcd-_09ABCDEFGHIJKLMNOPQRS="), None);
        assert_eq!(NodeId::of_sid("abcd-_0éABCDEFGHIJKLMNOPQRS"), None);
        assert_eq!(NodeId::of_sid(""), None);
        assert!(NodeId::parse("short").is_err());
        assert!(NodeId::parse("has space").is_err());
    }
}
