//! Typed per-socket storage.

use parking_lot::RwLock;
use std::any::{Any, TypeId};
use std::collections::HashMap;

/// A map from type to value, to attach typed data to a socket (e.g. the user found by an
/// authentication middleware). Values stay on this node; use
/// [`Socket::set_data`](crate::Socket::set_data) for data that must travel with
/// `fetch_sockets` and connection state recovery.
///
/// ```
/// use socketio_server::Extensions;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct User(String);
/// let ext = Extensions::default();
/// ext.insert(User("ann".into()));
/// assert_eq!(ext.get::<User>(), Some(User("ann".into())));
/// assert_eq!(ext.remove::<User>(), Some(User("ann".into())));
/// assert!(ext.get::<User>().is_none());
/// ```
#[derive(Default)]
pub struct Extensions {
    /// Boxed and created on the first insert: every socket has extensions and most never use
    /// them (an empty `HashMap` takes 48 bytes in the socket; this takes 8).
    map: RwLock<Option<Box<AnyMap>>>,
}

type AnyMap = HashMap<TypeId, Box<dyn Any + Send + Sync>>;

impl Extensions {
    /// Inserts a value, returning the previous value of that type.
    pub fn insert<T: Send + Sync + 'static>(&self, value: T) -> Option<T> {
        self.map
            .write()
            .get_or_insert_with(Box::default)
            .insert(TypeId::of::<T>(), Box::new(value))
            .and_then(|old| old.downcast().ok().map(|b| *b))
    }

    /// A clone of the value of type `T`.
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.with(|v: Option<&T>| v.cloned())
    }

    /// Runs `f` with a reference to the value of type `T` (no clone; no lock is held after).
    pub fn with<T: Send + Sync + 'static, R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        let map = self.map.read();
        f(map
            .as_ref()
            .and_then(|m| m.get(&TypeId::of::<T>()))
            .and_then(|v| v.downcast_ref::<T>()))
    }

    /// Removes and returns the value of type `T`.
    pub fn remove<T: Send + Sync + 'static>(&self) -> Option<T> {
        self.map
            .write()
            .as_mut()?
            .remove(&TypeId::of::<T>())
            .and_then(|old| old.downcast().ok().map(|b| *b))
    }

    /// Whether a value of type `T` is present.
    pub fn contains<T: Send + Sync + 'static>(&self) -> bool {
        self.map
            .read()
            .as_ref()
            .is_some_and(|m| m.contains_key(&TypeId::of::<T>()))
    }
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extensions").finish_non_exhaustive()
    }
}
