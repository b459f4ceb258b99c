//! What an emit sends ([`IntoArgs`], and [`Args`] for none or several arguments) and what an
//! acknowledgement's answer is read as ([`FromAck`]).
//!
//! One owner for the server and the client, which both re-export these under the same names,
//! so an emit has the same shape on both sides.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{from_value, to_value, Value, ValueError};

/// A list of event arguments, as sent or as received.
///
/// Most emits send one argument: pass any `Serialize` value directly (see [`IntoArgs`]). Use
/// `Args` to send none or several; on the receiving side it is the untouched argument list
/// (`Args(args)`).
///
/// ```
/// use socketio_parser::{Args, Bytes, Value};
///
/// let Args(values) = Args::new().arg("hello").arg(42).arg(Bytes::from_static(b"\x00\x01"));
/// assert_eq!(values.len(), 3);
/// assert_eq!(values[2], Value::Binary(Bytes::from_static(b"\x00\x01")));
/// assert!(Args::new().0.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Args(pub Vec<Value>);

impl Args {
    /// No arguments.
    pub fn new() -> Self {
        Args::default()
    }

    /// Appends one argument. Binary data (`bytes::Bytes`, `serde_bytes`) anywhere inside it
    /// travels as binary.
    ///
    /// # Panics
    ///
    /// If `value` cannot become a [`Value`] (its `Serialize` impl fails, or a map key is not a
    /// string or a number), as `serde_json::json!` does; [`try_arg`](Self::try_arg) returns
    /// the error instead.
    #[must_use]
    pub fn arg<T: Serialize>(self, value: T) -> Self {
        match self.try_arg(value) {
            Ok(args) => args,
            Err(e) => panic!("Args::arg: the value cannot be serialized: {e}"),
        }
    }

    /// Appends one argument, or gives the serialization error.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use socketio_parser::Args;
    ///
    /// let args = Args::new().try_arg(1)?.try_arg("two")?;
    /// assert_eq!(args.0.len(), 2);
    /// let bad: HashMap<(u8, u8), u8> = HashMap::from([((1, 2), 3)]);
    /// assert!(Args::new().try_arg(bad).is_err());
    /// # Ok::<(), socketio_parser::ValueError>(())
    /// ```
    pub fn try_arg<T: Serialize>(mut self, value: T) -> Result<Self, ValueError> {
        self.0.push(to_value(&value)?);
        Ok(self)
    }

    /// The argument values.
    pub fn into_values(self) -> Vec<Value> {
        self.0
    }
}

impl From<Vec<Value>> for Args {
    fn from(values: Vec<Value>) -> Self {
        Args(values)
    }
}

/// Anything that can be the argument list of an emit or the reply to an acknowledgement.
///
/// - any `T: Serialize` is **one** argument (a `Vec`, a tuple or a JSON array is one array
///   argument), and so is a reference to one (`&v`, `"text"`);
/// - `()` is no argument (but `&()` is one `null`, as the server's `emit(event, &())` always
///   sent);
/// - [`Args`] is any number of arguments.
///
/// ```
/// use socketio_parser::{Args, IntoArgs, Value};
/// use serde_json::json;
///
/// assert_eq!(json!({"a": 1}).into_args().unwrap().len(), 1);
/// assert_eq!(vec![1, 2, 3].into_args().unwrap().len(), 1);
/// assert_eq!("text".into_args().unwrap(), vec![Value::from("text")]);
/// assert_eq!(Args::new().arg(1).arg(2).into_args().unwrap().len(), 2);
/// assert!(().into_args().unwrap().is_empty());
/// assert_eq!((&()).into_args().unwrap(), vec![Value::Null]);
/// assert_eq!(Value::Null.into_args().unwrap(), vec![Value::Null]);
/// ```
pub trait IntoArgs {
    /// The argument values.
    fn into_args(self) -> Result<Vec<Value>, ValueError>;
}

impl<T: Serialize> IntoArgs for T {
    fn into_args(self) -> Result<Vec<Value>, ValueError> {
        let value = to_value(&self)?;
        // `()` (or any unit struct) means "no arguments", like `socket.emit("ping")` in
        // JavaScript; send `Value::Null` explicitly for a `null` argument.
        if std::mem::size_of::<T>() == 0 && value.is_null() {
            return Ok(Vec::new());
        }
        Ok(vec![value])
    }
}

impl IntoArgs for Args {
    fn into_args(self) -> Result<Vec<Value>, ValueError> {
        Ok(self.0)
    }
}

/// What the arguments of an acknowledgement's answer can be read as: the `R` of
/// `emit_with_ack::<_, R>` on the server's sockets and broadcasts and on the client's sockets
/// (async and blocking), so an answer reads the same on both sides.
///
/// * Any `serde` type, as the server's `Data` extractor reads event arguments: a single
///   argument is deserialized directly (`cb(7)` reads as `u64`), several as a sequence
///   (`cb("a", 2)` reads as `(String, u32)`). A one-element tuple or a `Vec` also takes a
///   single argument; `()` and `Option<_>` (as `None`) also take no argument. Convenient, but a single array argument then looks like several
///   arguments: `Vec<Value>` reads `cb([1, 2])` and `cb(1, 2)` alike.
/// * [`Args`]: exactly the argument list of the answer, untouched (zero, one or many; binary
///   stays [`Value::Binary`]) — the unambiguous raw form, like the reference's
///   `(...args) => {}` callback.
///
/// An answer that does not read as `R` is an error ([`ValueError`]), never a panic.
///
/// ```
/// use socketio_parser::{Args, FromAck, Value};
///
/// let answer = vec![Value::from("a"), Value::from(2)];
/// let (text, n): (String, u32) = FromAck::from_ack(answer.clone())?;
/// assert_eq!((text.as_str(), n), ("a", 2));
/// assert_eq!(Args::from_ack(answer.clone())?, Args(answer));
/// let one: u32 = FromAck::from_ack(vec![Value::from(7)])?;
/// assert_eq!(one, 7);
/// # Ok::<(), socketio_parser::ValueError>(())
/// ```
pub trait FromAck: Sized {
    /// Reads the acknowledgement's arguments.
    fn from_ack(args: Vec<Value>) -> Result<Self, ValueError>;
}

impl<T: DeserializeOwned> FromAck for T {
    fn from_ack(mut args: Vec<Value>) -> Result<Self, ValueError> {
        if args.len() == 1 {
            let single = args.pop().unwrap_or_default();
            match from_value::<T>(single.clone()) {
                Ok(v) => Ok(v),
                // A one-element tuple or a `Vec<_>` also accepts a single argument.
                Err(e) => from_value::<T>(Value::Array(vec![single])).map_err(|_| e),
            }
        } else if args.is_empty() {
            match from_value::<T>(Value::Array(args)) {
                Ok(v) => Ok(v),
                // No argument is `undefined` in JavaScript: `()` and `None` also accept it.
                Err(e) => from_value::<T>(Value::Null).map_err(|_| e),
            }
        } else {
            from_value::<T>(Value::Array(args))
        }
    }
}

/// The argument list as it arrived.
impl FromAck for Args {
    fn from_ack(args: Vec<Value>) -> Result<Self, ValueError> {
        Ok(Args(args))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack<T: FromAck>(args: Vec<Value>) -> Result<T, ValueError> {
        T::from_ack(args)
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Point {
        x: i32,
        y: i32,
    }

    #[test]
    fn one_argument_reads_directly_several_as_a_sequence() {
        assert_eq!(ack::<u64>(vec![Value::from(7)]).unwrap(), 7);
        assert_eq!(ack::<(u64,)>(vec![Value::from(7)]).unwrap(), (7,));
        assert_eq!(ack::<Vec<u64>>(vec![Value::from(7)]).unwrap(), vec![7]);
        let point = Value::from(serde_json::json!({"x": 1, "y": -2}));
        assert_eq!(ack::<Point>(vec![point]).unwrap(), Point { x: 1, y: -2 });
        let two = vec![Value::from("a"), Value::from(2)];
        assert_eq!(ack::<(String, u8)>(two).unwrap(), ("a".to_owned(), 2));
        ack::<()>(vec![]).unwrap();
        assert_eq!(ack::<Option<u8>>(vec![]).unwrap(), None);
        assert_eq!(ack::<Vec<u8>>(vec![]).unwrap(), Vec::<u8>::new());
        assert_eq!(ack::<Option<u8>>(vec![Value::Null]).unwrap(), None);
    }

    #[test]
    fn args_is_the_raw_list_where_vec_of_values_is_ambiguous() {
        let one_array = vec![Value::Array(vec![Value::from(1), Value::from(2)])];
        let two = vec![Value::from(1), Value::from(2)];
        assert_eq!(
            ack::<Args>(one_array.clone()).unwrap(),
            Args(one_array.clone())
        );
        assert_eq!(ack::<Args>(two.clone()).unwrap(), Args(two.clone()));
        assert_eq!(ack::<Args>(vec![]).unwrap(), Args(vec![]));
        assert_eq!(ack::<Vec<Value>>(one_array).unwrap(), two);
        assert_eq!(ack::<Vec<Value>>(two.clone()).unwrap(), two);
        let bin = vec![Value::Binary(bytes::Bytes::from_static(b"\x00"))];
        assert_eq!(ack::<Args>(bin.clone()).unwrap(), Args(bin));
    }

    #[test]
    fn a_mismatch_is_an_error() {
        assert!(ack::<u64>(vec![Value::from("seven")]).is_err());
        assert!(ack::<u64>(vec![]).is_err());
        assert!(ack::<(String, u8)>(vec![Value::from("a")]).is_err());
        assert!(ack::<Point>(vec![Value::from("x"), Value::from("y")]).is_err());
        // Extra arguments are ignored, as a JavaScript callback ignores them.
        let three = vec![Value::from(1), Value::from(2), Value::from(3)];
        assert_eq!(ack::<(u8, u8)>(three).unwrap(), (1, 2));
    }
}
