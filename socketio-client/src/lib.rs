//! Socket.IO client: manager, sockets, reconnection, acks, buffering.
