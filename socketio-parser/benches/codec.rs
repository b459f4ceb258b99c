//! Encode/decode baselines: a small event, a ~10 KB event, and an event with 3 binary
//! attachments, for both parsers.
//!
//! `cargo bench -p socketio-parser --bench codec -- --quick`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use socketio_parser::{Decoder, Encoded, Frame, Map, Packet, Parser, Value};

fn small_event() -> Packet {
    Packet::event("/", "message", vec![Value::from("hello"), Value::from(42)])
}

/// About 10 KB of JSON: 80 chat-message-like objects.
fn large_event() -> Packet {
    let items = (0..80)
        .map(|i| {
            let mut m = Map::new();
            m.insert("id".into(), Value::from(i));
            m.insert("user".into(), Value::from(format!("user-{i}")));
            m.insert(
                "text".into(),
                Value::from(
                    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.",
                ),
            );
            m.insert("score".into(), Value::from(i as f64 * 1.25));
            m.insert("read".into(), Value::from(i % 2 == 0));
            Value::Object(m)
        })
        .collect();
    Packet::event("/chat", "history", vec![Value::Array(items)]).with_id(7)
}

fn binary_event() -> Packet {
    let mut meta = Map::new();
    meta.insert("name".into(), Value::from("photo.jpg"));
    meta.insert("thumb".into(), Value::Binary(Bytes::from(vec![7u8; 512])));
    Packet::event(
        "/files",
        "upload",
        vec![
            Value::Binary(Bytes::from(vec![1u8; 1024])),
            Value::Object(meta),
            Value::Array(vec![Value::Binary(Bytes::from(vec![2u8; 4096]))]),
        ],
    )
}

fn decode(parser: Parser, encoded: &Encoded) -> Packet {
    let mut decoder = Decoder::new(parser);
    let mut out = None;
    for frame in encoded.iter() {
        out = match frame {
            Frame::Text(bytes) => {
                // The transport hands us `&str`; take the view outside the measured work
                // as far as possible (this is a cheap UTF-8 check on the bytes).
                let text = std::str::from_utf8(bytes).unwrap();
                decoder.decode_text(text).unwrap()
            }
            Frame::Binary(bytes) => decoder.decode_binary(bytes.clone()).unwrap(),
        };
    }
    out.expect("complete")
}

fn bench(c: &mut Criterion) {
    let cases = [
        ("small_event", small_event()),
        ("event_10kb", large_event()),
        ("event_3_binary", binary_event()),
    ];
    for (parser_name, parser) in [("json", Parser::Json), ("msgpack", Parser::MsgPack)] {
        let mut group = c.benchmark_group(parser_name);
        for (name, packet) in &cases {
            let encoded = parser.encode(packet).unwrap();
            group.throughput(Throughput::Bytes(encoded.byte_len() as u64));
            group.bench_with_input(BenchmarkId::new("encode", name), packet, |b, p| {
                b.iter(|| parser.encode(black_box(p)).unwrap())
            });
            group.bench_with_input(BenchmarkId::new("decode", name), &encoded, |b, e| {
                b.iter(|| decode(parser, black_box(e)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
