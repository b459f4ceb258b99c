//! serde bridges between user types and [`Value`]: [`to_value`] and [`from_value`].
//!
//! Anything serde serializes as *bytes* (`bytes::Bytes`, `serde_bytes::ByteBuf`, fields
//! with `#[serde(with = "serde_bytes")]`) becomes [`Value::Binary`] and so travels as a
//! binary attachment, not as base64 or an array of numbers. A plain `Vec<u8>` field
//! serializes as a sequence of numbers (that is how serde's `Vec<u8>` impl works), so
//! mark it `#[serde(with = "serde_bytes")]` or use `Bytes`; on the way in, a `Vec<u8>`
//! field accepts binary data either way.

mod de;
mod error;
mod ser;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use error::ValueError;

use crate::value::Value;

/// Converts any `Serialize` type into a [`Value`]; bytes become [`Value::Binary`].
///
/// ```
/// use bytes::Bytes;
/// use serde::{Deserialize, Serialize};
/// use socketio_parser::{from_value, to_value, Value};
///
/// #[derive(Serialize, Deserialize, PartialEq, Debug)]
/// struct Upload {
///     name: String,
///     content: Bytes,
///     #[serde(with = "serde_bytes")]
///     thumbnail: Vec<u8>,
/// }
///
/// let upload = Upload { name: "a.png".into(), content: Bytes::from_static(b"\x89PNG"), thumbnail: vec![1, 2] };
/// let value = to_value(&upload).unwrap();
/// assert_eq!(value.get("content"), Some(&Value::Binary(Bytes::from_static(b"\x89PNG"))));
/// assert_eq!(value.get("thumbnail"), Some(&Value::Binary(Bytes::from_static(&[1, 2]))));
/// let back: Upload = from_value(value).unwrap();
/// assert_eq!(back, upload);
/// ```
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, ValueError> {
    value.serialize(ser::ValueSerializer)
}

/// Converts a [`Value`] into any `DeserializeOwned` type; binary data feeds byte fields
/// (`Bytes`, `serde_bytes`, and also plain `Vec<u8>`).
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ValueError> {
    T::deserialize(value)
}
