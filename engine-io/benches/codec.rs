//! Codec benchmarks: packets and payloads, encode and decode, v3 and v4.
#![allow(missing_docs, clippy::unwrap_used)]

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use engine_io::packet::{Packet, ProtocolVersion};
use engine_io::{payload, Str};

fn packets() -> Vec<Packet> {
    let mut v = Vec::new();
    for i in 0..16 {
        v.push(Packet::message(format!(
            "[\"chat\",{{\"user\":\"u{i}\",\"text\":\"hello world, this is message {i}\"}}]"
        )));
        v.push(Packet::message(Bytes::from(vec![i as u8; 64])));
    }
    v
}

fn bench_packets(c: &mut Criterion) {
    let text = Packet::message("[\"event\",{\"a\":1,\"b\":\"some text payload here\"}]");
    let bin = Packet::message(Bytes::from(vec![7u8; 1024]));
    let mut g = c.benchmark_group("packet");
    g.bench_function("encode_text_v4", |b| {
        b.iter(|| black_box(&text).encode(ProtocolVersion::V4))
    });
    g.bench_function("encode_binary_v4", |b| {
        b.iter(|| black_box(&bin).encode(ProtocolVersion::V4))
    });
    g.bench_function("encode_binary_v3", |b| {
        b.iter(|| black_box(&bin).encode(ProtocolVersion::V3))
    });
    let encoded = Str::from(text.encode_text(ProtocolVersion::V4));
    g.bench_function("decode_text_v4", |b| {
        b.iter(|| Packet::decode_text(black_box(&encoded), ProtocolVersion::V4).unwrap())
    });
    let b64 = Str::from(bin.encode_text(ProtocolVersion::V4));
    g.bench_function("decode_base64_1k_v4", |b| {
        b.iter(|| Packet::decode_text(black_box(&b64), ProtocolVersion::V4).unwrap())
    });
    g.finish();
}

fn bench_payloads(c: &mut Criterion) {
    let ps = packets();
    let v4 = payload::encode_v4(&ps);
    let v3 = payload::encode_v3_string(&ps);
    let v3b = payload::encode_v3_binary(&ps);
    let mut g = c.benchmark_group("payload");
    g.throughput(Throughput::Bytes(v4.len() as u64));
    g.bench_function("encode_v4_32", |b| {
        b.iter(|| payload::encode_v4(black_box(&ps)))
    });
    let v4s = Str::from(v4.clone());
    g.bench_function("decode_v4_32", |b| {
        b.iter(|| {
            payload::decode_v4(black_box(v4s.clone()))
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
        })
    });
    g.bench_function("encode_v3_string_32", |b| {
        b.iter(|| payload::encode_v3_string(black_box(&ps)))
    });
    let v3s = Str::from(v3);
    g.bench_function("decode_v3_string_32", |b| {
        b.iter(|| {
            payload::decode_v3_string(black_box(v3s.clone()))
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
        })
    });
    g.bench_function("encode_v3_binary_32", |b| {
        b.iter(|| payload::encode_v3_binary(black_box(&ps)))
    });
    g.bench_function("decode_v3_binary_32", |b| {
        b.iter(|| {
            payload::decode_v3_binary(black_box(v3b.clone()))
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
        })
    });
    g.bench_function("encode_jsonp_32", |b| {
        b.iter(|| payload::encode_jsonp("3", black_box(&v4)))
    });
    g.finish();
}

criterion_group!(benches, bench_packets, bench_payloads);
criterion_main!(benches);
