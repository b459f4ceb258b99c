//! [`Str`]: a cheaply clonable UTF-8 string backed by [`Bytes`].
//!
//! Engine.IO text packets are sliced out of received payloads and shared between
//! many sockets on broadcast, so text is kept in reference-counted buffers rather
//! than `String`s: cloning and slicing never copy.

use bytes::Bytes;
use bytestring::ByteString;
use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

/// A cheaply clonable, immutable UTF-8 string backed by [`Bytes`].
///
/// ```
/// use engine_io::Str;
/// let s = Str::from(String::from("hello"));
/// let t = s.clone(); // no copy
/// assert_eq!(&*t, "hello");
/// assert_eq!(Str::from_utf8(bytes::Bytes::from_static(b"hi")).unwrap(), "hi");
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Str(ByteString);

impl Str {
    /// The empty string.
    pub const fn new() -> Self {
        Str(ByteString::from_static(""))
    }

    /// A `Str` pointing at static data (no allocation).
    pub const fn from_static(s: &'static str) -> Self {
        Str(ByteString::from_static(s))
    }

    /// Validates `bytes` as UTF-8 and wraps them without copying.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        ByteString::try_from(bytes).map(Str)
    }

    /// The string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The underlying bytes (a cheap clone of the shared buffer).
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    /// Converts into the underlying bytes without copying.
    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }

    /// Returns the sub-string `subset`, which must be a slice of `self`
    /// (as obtained by slicing `self.as_str()`), sharing the same buffer.
    ///
    /// # Panics
    /// Panics if `subset` is not contained in `self` (a programming error,
    /// never a consequence of network input).
    pub fn slice_ref(&self, subset: &str) -> Str {
        Str(self.0.slice_ref(subset))
    }

    /// Sub-string from byte offset `start` to the end; `start` must be on a
    /// char boundary (checked: returns `None` otherwise).
    pub fn slice_from(&self, start: usize) -> Option<Str> {
        let sub = self.as_str().get(start..)?;
        Some(self.slice_ref(sub))
    }
}

impl Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<[u8]> for Str {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        Str(ByteString::from(s))
    }
}

impl From<&'static str> for Str {
    fn from(s: &'static str) -> Self {
        Str(ByteString::from_static(s))
    }
}

impl From<Box<str>> for Str {
    fn from(s: Box<str>) -> Self {
        Str(ByteString::from(String::from(s)))
    }
}

impl From<Str> for Bytes {
    fn from(s: Str) -> Bytes {
        s.into_bytes()
    }
}

impl From<Str> for String {
    fn from(s: Str) -> String {
        s.as_str().to_owned()
    }
}

impl TryFrom<Bytes> for Str {
    type Error = std::str::Utf8Error;
    fn try_from(b: Bytes) -> Result<Self, Self::Error> {
        Str::from_utf8(b)
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Str {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Str> for str {
    fn eq(&self, other: &Str) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Str> for &str {
    fn eq(&self, other: &Str) -> bool {
        *self == other.as_str()
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl serde::Serialize for Str {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Str {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Str::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_copy_slicing() {
        let s = Str::from(String::from("4hello"));
        let tail = s.slice_from(1).unwrap();
        assert_eq!(tail, "hello");
        assert_eq!(tail.as_bytes().as_ptr(), s.as_bytes()[1..].as_ptr());
        assert!(Str::from("é").slice_from(1).is_none());
    }

    #[test]
    fn invalid_utf8_rejected() {
        assert!(Str::from_utf8(Bytes::from_static(&[0xff, 0xfe])).is_err());
    }
}
