//! Event arguments: what an emit sends ([`IntoArgs`], [`Args`]) and what an event or an ack
//! brings ([`Event`]).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Error, Value};

/// A list of event arguments built from serializable values.
///
/// Most emits send one argument: pass any `Serialize` value directly (see [`IntoArgs`]). Use
/// `Args` to send none or several:
///
/// ```
/// use socketio_client::{Args, Value};
/// use bytes::Bytes;
///
/// let args = Args::new().arg("hello").arg(42).arg(Bytes::from_static(b"\x00\x01"));
/// let values = args.into_values().unwrap();
/// assert_eq!(values.len(), 3);
/// assert_eq!(values[2], Value::Binary(Bytes::from_static(b"\x00\x01")));
/// assert!(Args::new().into_values().unwrap().is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args {
    values: Vec<Value>,
    /// The first conversion error, reported when the arguments are used, so building stays
    /// chainable.
    error: Option<String>,
}

impl Args {
    /// No arguments.
    pub fn new() -> Self {
        Args::default()
    }

    /// Appends one argument. Binary data (`bytes::Bytes`, `serde_bytes`) anywhere inside it
    /// travels as binary.
    #[must_use]
    pub fn arg<T: Serialize>(mut self, value: T) -> Self {
        if self.error.is_none() {
            match socketio_parser::to_value(&value) {
                Ok(v) => self.values.push(v),
                Err(e) => self.error = Some(e.to_string()),
            }
        }
        self
    }

    /// The argument values, or the first conversion error.
    pub fn into_values(self) -> Result<Vec<Value>, Error> {
        match self.error {
            Some(e) => Err(Error::Serde(e)),
            None => Ok(self.values),
        }
    }
}

impl From<Vec<Value>> for Args {
    fn from(values: Vec<Value>) -> Self {
        Args {
            values,
            error: None,
        }
    }
}

/// Anything that can be the argument list of an emit or the reply to an ack.
///
/// - any `T: Serialize` is **one** argument (a `Vec` or a JSON array is one array argument);
/// - `()` is no argument;
/// - [`Args`] is any number of arguments.
///
/// ```
/// use socketio_client::{Args, IntoArgs, Value};
/// use serde_json::json;
///
/// assert_eq!(json!({"a": 1}).into_args().unwrap().len(), 1);
/// assert_eq!(vec![1, 2, 3].into_args().unwrap().len(), 1);
/// assert_eq!(Args::new().arg(1).arg(2).into_args().unwrap().len(), 2);
/// assert!(().into_args().unwrap().is_empty());
/// assert_eq!(Value::Null.into_args().unwrap(), vec![Value::Null]);
/// ```
pub trait IntoArgs {
    /// The argument values.
    fn into_args(self) -> Result<Vec<Value>, Error>;
}

impl<T: Serialize> IntoArgs for T {
    fn into_args(self) -> Result<Vec<Value>, Error> {
        let value = socketio_parser::to_value(&self).map_err(|e| Error::Serde(e.to_string()))?;
        // `()` (or any unit struct) means "no arguments", like `socket.emit("ping")` in
        // JavaScript; send `Value::Null` explicitly for a `null` argument.
        if std::mem::size_of::<T>() == 0 && value.is_null() {
            return Ok(Vec::new());
        }
        Ok(vec![value])
    }
}

impl IntoArgs for Args {
    fn into_args(self) -> Result<Vec<Value>, Error> {
        self.into_values()
    }
}

/// An event received from the server: its name and arguments.
///
/// ```
/// use socketio_client::{Event, Value};
///
/// let event = Event::new("chat", vec![Value::from("hi"), Value::from(3.0)]);
/// assert_eq!(event.name(), "chat");
/// let text: String = event.arg(0).unwrap();
/// assert_eq!(text, "hi");
/// let (text, n): (String, f64) = event.parse().unwrap();
/// assert_eq!((text.as_str(), n), ("hi", 3.0));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    name: String,
    args: Vec<Value>,
}

impl Event {
    /// An event named `name` with `args`.
    pub fn new(name: impl Into<String>, args: Vec<Value>) -> Self {
        Event {
            name: name.into(),
            args,
        }
    }

    /// The event name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The arguments (binary values are [`Value::Binary`]).
    pub fn args(&self) -> &[Value] {
        &self.args
    }

    /// Takes the arguments.
    pub fn into_args(self) -> Vec<Value> {
        self.args
    }

    /// Argument `index` deserialized into `T`.
    pub fn arg<T: DeserializeOwned>(&self, index: usize) -> Result<T, Error> {
        let value = self.args.get(index).cloned().ok_or_else(|| {
            Error::Serde(format!("event {:?} has no argument {index}", self.name))
        })?;
        socketio_parser::from_value(value).map_err(|e| Error::Serde(e.to_string()))
    }

    /// All arguments deserialized into `T`, usually a tuple: `let (a, b): (A, B) = event.parse()?`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Error> {
        from_values(self.args.clone())
    }
}

/// Deserializes an argument list (as an array) into `T`, e.g. a tuple.
pub(crate) fn from_values<T: DeserializeOwned>(values: Vec<Value>) -> Result<T, Error> {
    socketio_parser::from_value(Value::Array(values)).map_err(|e| Error::Serde(e.to_string()))
}
