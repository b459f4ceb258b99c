//! The auth payload of each `CONNECT`: none, a value, or an async callback evaluated at every
//! (re)connection.

use std::sync::Arc;

use crate::handler::BoxFuture;
use crate::Value;

/// The auth payload sent with each `CONNECT`: a value, or an async callback evaluated at every
/// (re)connection (e.g. to fetch a fresh token).
#[derive(Clone, Default)]
pub(crate) enum Auth {
    #[default]
    None,
    Value(Value),
    Callback(Arc<dyn Fn() -> BoxFuture<Option<Value>> + Send + Sync>),
}

impl Auth {
    pub(crate) async fn evaluate(&self) -> Option<Value> {
        match self {
            Auth::None => None,
            Auth::Value(v) => Some(v.clone()),
            Auth::Callback(f) => f().await,
        }
    }
}
