//! The cluster suites in one test binary (one link of the workspace instead of one per suite,
//! and the suites' tests overlap), each against a real `redis-server` of its own: the Redis
//! pub/sub and Streams adapters and emitters in mixed clusters with npm `socket.io` nodes, their
//! faults, broadcast acks, the Admin UI across nodes, HAProxy in front, the Redis wire, and the
//! cluster engine (`engine-io-cluster`) behind a round-robin HAProxy.
//!
//! One module per suite; `cargo test -p protocol-tests --test cluster redis_streams::` runs one
//! suite. The benchmarks are `#[ignore]`d: `redis_bench::` and `redis_streams_bench::` with
//! `--release … -- --ignored --nocapture`.

mod admin_ui_cluster;
mod cluster_engine;
mod redis_adapter;
mod redis_bench;
mod redis_broadcast_ack;
mod redis_cluster;
mod redis_emitter;
mod redis_faults;
mod redis_haproxy;
mod redis_streams;
mod redis_streams_bench;
mod redis_streams_faults;
mod redis_support;
mod redis_wire;
