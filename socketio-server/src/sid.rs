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

/// The hasher of maps keyed by socket id (a namespace's sockets, looked up once per delivery of
/// every broadcast). Socket ids are chosen by the server ([`generate_id`]: 120 random bits; a
/// recovered socket keeps an id this server issued), never by a client, so the protection of
/// SipHash against chosen keys buys nothing here while costing a large share of a delivery. This
/// is a multiply-rotate over 8-byte words, seeded per map from std's random keys.
#[derive(Clone)]
pub(crate) struct SidHashBuilder(u64);

impl Default for SidHashBuilder {
    fn default() -> Self {
        use std::hash::BuildHasher;
        SidHashBuilder(std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64))
    }
}

impl std::hash::BuildHasher for SidHashBuilder {
    type Hasher = SidHasher;
    fn build_hasher(&self) -> SidHasher {
        SidHasher(self.0)
    }
}

/// See [`SidHashBuilder`].
pub(crate) struct SidHasher(u64);

const K: u64 = 0x9e37_79b9_7f4a_7c15;

impl SidHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(K).rotate_left(29);
    }
}

impl std::hash::Hasher for SidHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.mix(u64::from_le_bytes(b));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }

    fn finish(&self) -> u64 {
        // murmur3's finalizer: every input bit reaches the top bits hashbrown's control bytes use.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
