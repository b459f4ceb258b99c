//! Engine.IO server and the Engine.IO packet and payload codec.
