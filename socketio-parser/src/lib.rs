//! Socket.IO packet encoder and decoder (JSON with binary attachments; msgpack variant). No I/O.
