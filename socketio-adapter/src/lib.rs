//! Rooms and broadcasting: the adapter trait, the in-memory adapter, and cluster adapters.
