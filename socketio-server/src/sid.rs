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
