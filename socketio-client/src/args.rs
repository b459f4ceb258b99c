//! Event arguments: what an event or an ack brings ([`Event`]). What an emit sends
//! ([`IntoArgs`](crate::IntoArgs), [`Args`](crate::Args)) is `socketio_parser`'s, shared with
//! the server.

use serde::de::DeserializeOwned;

use crate::{Error, Value};

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
        socketio_parser::from_value(Value::Array(self.args.clone()))
            .map_err(|e| Error::Serde(e.to_string()))
    }
}
