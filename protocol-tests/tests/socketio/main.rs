//! The Socket.IO suites in one test binary (one link of the workspace instead of one per suite,
//! and the suites' tests overlap): conformance and interop of our server against the npm
//! `socket.io` reference, our `socketio-client` and `siocat` against the npm server, the parser
//! cross-check, delivery under bursts, and the chat demo and the Admin UI in headless Chromium.
//!
//! One module per suite; `cargo test -p protocol-tests --test socketio sioclient_interop::` runs
//! one suite.

mod admin_ui_browser;
mod delivery;
mod parser_crosscheck;
mod sioclient_badinput;
mod sioclient_interop;
mod sioclient_loadbalancer;
mod sioclient_siocat;
mod socketio_chat_browser;
mod socketio_conformance;
mod socketio_interop;
