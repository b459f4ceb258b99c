//! [`SidHashBuilder`]: the hasher of maps keyed by session or socket ids.

/// The hasher of maps keyed by ids the servers choose: Engine.IO session ids and Socket.IO
/// socket ids (120 random bits each; a recovered socket keeps an id a server issued),
/// never by a client. A client may look a key up, but cannot choose what is inserted, so the
/// protection of SipHash against chosen keys buys nothing here while costing a large share of
/// a lookup (one per delivery of every broadcast, several per connection). This is a
/// multiply-rotate over 8-byte words, seeded per map from std's random keys. Never use it for
/// keys a client chooses (room names, event names).
///
/// ```
/// use std::collections::HashMap;
/// use engine_io::SidHashBuilder;
///
/// let mut sessions: HashMap<Box<str>, u32, SidHashBuilder> = HashMap::default();
/// sessions.insert("Cx5s2fFkq3Y8Ab0zQwEr".into(), 1);
/// assert_eq!(sessions.get("Cx5s2fFkq3Y8Ab0zQwEr"), Some(&1));
/// ```
#[derive(Clone, Debug)]
pub struct SidHashBuilder(u64);

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

/// The hasher [`SidHashBuilder`] builds.
#[derive(Debug)]
pub struct SidHasher(u64);

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
