//! Support code for the conformance and interoperability tests: starting servers, Node peers and
//! tools, and raw HTTP and WebSocket clients that give a test full control of the wire.
//!
//! - [`browser::one_at_a_time`]: headless Chromium sessions take turns.
//! - [`ensure_deps`]: install the npm peers and tools once (fails loudly, never skips).
//! - [`NodePeer`]: a Node fixture from `protocol-tests/js` that prints `listening <port>`.
//! - [`RustPeer`]: one of our example servers, built once per process and run.
//! - [`raw_http`]: HTTP/1.1 over a raw TCP stream (pending, aborted and malformed requests).
//! - [`ws`]: a WebSocket client that reports close codes and refused handshakes.
//! - [`socketio`]: the Socket.IO conformance targets and a raw Socket.IO-over-Engine.IO client.
//! - [`engineio`]: the Engine.IO conformance targets (npm reference and ours) and packet helpers.
//! - [`load`]: the load tool's clients (WebSocket and polling), `/proc` readings, compared servers.

pub mod browser;
pub mod deps;
pub mod engineio;
pub mod haproxy;
pub mod load;
pub mod node_peer;
pub mod process;
pub mod raw_http;
pub mod redis;
pub mod rust_peer;
pub mod socketio;
pub mod test_log;
pub mod ws;

pub use deps::{ensure_deps, js_dir, workspace_root};
pub use node_peer::{run_node, NodeOutput, NodePeer};
pub use process::ServerProcess;
pub use raw_http::{http, HttpConnection, HttpRequest, HttpResponse};
pub use redis::RedisServer;
pub use rust_peer::RustPeer;
pub use ws::{WsClient, WsConnectError, WsFrame};
