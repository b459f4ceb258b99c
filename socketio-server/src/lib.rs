//! Socket.IO server: namespaces, middlewares, rooms, acks, broadcasting, connection state recovery.
