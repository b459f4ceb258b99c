//! The Engine.IO suites in one test binary (one link of the workspace instead of one per suite,
//! and the suites' tests overlap): conformance and interop of our server against the npm
//! `engine.io` reference, our `engine-io-client` against the npm server, hostile servers, a load
//! balancer, TLS, and WebTransport (our client, and the npm client in headless Chromium).
//!
//! One module per suite; `cargo test -p protocol-tests --test engineio eioclient_interop::` runs
//! one suite.

mod eioclient_badserver;
mod eioclient_interop;
mod eioclient_loadbalancer;
mod eioclient_tls;
mod engineio_conformance;
mod engineio_interop;
mod webtransport_browser;
mod webtransport_client;
