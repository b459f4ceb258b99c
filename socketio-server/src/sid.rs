//! Socket ids.

/// A random socket id: 15 bytes from the OS CSPRNG, URL-safe base64 (20 characters), like the
/// reference's `base64id`.
pub(crate) fn generate_id() -> String {
    use rand::RngCore;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut raw = [0u8; 15];
    rand::rng().fill_bytes(&mut raw);
    let mut out = String::with_capacity(20);
    for chunk in raw.chunks(3) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
        for shift in [18, 12, 6, 0] {
            out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_io::SidHashBuilder;
    use std::hash::BuildHasher;

    #[test]
    fn sid_hash_spreads_ids_and_tells_them_apart() {
        let b = SidHashBuilder::default();
        let ids: Vec<String> = (0..10_000).map(|_| generate_id()).collect();
        let hashes: std::collections::HashSet<u64> =
            ids.iter().map(|id| b.hash_one(id.as_str())).collect();
        assert_eq!(hashes.len(), ids.len());
        // The top 7 bits (hashbrown's control byte) take all 128 values.
        let tops: std::collections::HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert_eq!(tops.len(), 128);
        // Prefixes and lengths count: "ab" and "ab\0" differ.
        assert_ne!(b.hash_one("ab"), b.hash_one("ab\0"));
        let mut map: std::collections::HashMap<socketio_adapter::Sid, usize, SidHashBuilder> =
            std::collections::HashMap::default();
        for (i, id) in ids.iter().enumerate() {
            map.insert(id.as_str().into(), i);
        }
        assert!(ids
            .iter()
            .enumerate()
            .all(|(i, id)| map.get(id.as_str()) == Some(&i)));
    }
}
