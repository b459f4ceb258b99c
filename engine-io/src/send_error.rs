//! The errors of sending on an Engine.IO connection: [`TrySendError`],
//! [`SendError`] and [`Closed`], shared by the server and the client.

/// Error of a non-waiting send (`try_send`, `try_send_many`): the message(s)
/// are given back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrySendError<T> {
    /// The outgoing queue is full (the peer reads slower than the application writes).
    #[error("the outgoing queue is full")]
    Full(T),
    /// The connection is closed or closing.
    #[error("the connection is closed")]
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The message(s) that were not sent.
    ///
    /// ```
    /// let e = engine_io::TrySendError::Full("hi");
    /// assert_eq!(e.into_inner(), "hi");
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(t) | TrySendError::Closed(t) => t,
        }
    }
}

/// Error of a waiting send (`send`, `send_many`): the connection is closed;
/// the message(s) are given back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the connection is closed")]
pub struct SendError<T>(pub T);

/// The connection closed before the operation completed (`flush`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the connection is closed")]
pub struct Closed;
