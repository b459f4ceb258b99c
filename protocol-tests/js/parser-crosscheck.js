// Cross-check of the Rust socketio-parser against npm socket.io-parser 4.2 and
// socket.io-msgpack-parser 3.0.
//
//   node parser-crosscheck.js table
//     Encodes a fixed table of packets with the reference encoders and prints, as one JSON
//     line, [{name, parser, packet, frames}] where `packet` is the packet as the reference
//     decoder yields it and `frames` are the encoder's output ({text} or {binary: base64}).
//
//   Parsers: "json" (socket.io-parser 4.2, protocol v5), "json-v4" (socket.io-parser 3.3
//   from socket.io-client 2.x, protocol v4), "msgpack" (socket.io-msgpack-parser 3.0).
//
//   node parser-crosscheck.js decode < cases.json
//     Reads [{name, parser, frames}] (frames produced by the Rust encoder, or hostile inputs)
//     and decodes each with the reference decoder; prints [{name, packets} | {name, error}].
//
// Values are described in JSON with binary as {"$bin": "<base64>"}; an absent `data` or `id`
// is an absent key. Numbers are JSON numbers; -0 is printed as 0, like JSON.stringify.
"use strict";

const sioParser = require("socket.io-parser");
const msgpackParser = require("socket.io-msgpack-parser");
// Protocol v4 (Socket.IO 2.x): the parser bundled with socket.io-client 2.x.
const v4Parser = require("./node_modules/socket.io-client-v2/node_modules/socket.io-parser");

function describe(value) {
  if (Buffer.isBuffer(value)) return { $bin: value.toString("base64") };
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("base64") };
  if (ArrayBuffer.isView(value)) {
    return { $bin: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64") };
  }
  if (Array.isArray(value)) return value.map(describe);
  if (value && typeof value === "object") {
    const out = {};
    for (const k of Object.keys(value)) out[k] = describe(value[k]);
    return out;
  }
  if (value === undefined) return null;
  return value;
}

function revive(value) {
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$bin") return Buffer.from(value.$bin, "base64");
    const out = {};
    for (const k of keys) out[k] = revive(value[k]);
    return out;
  }
  return value;
}

function describePacket(p) {
  // Protocol v4 decoders keep BINARY_EVENT/BINARY_ACK; v5 ones report EVENT/ACK.
  const type = p.type === 5 ? 2 : p.type === 6 ? 3 : p.type;
  const out = { type, nsp: p.nsp };
  if (p.id !== undefined) out.id = p.id;
  if (p.data !== undefined) out.data = describe(p.data);
  return out;
}

function describeFrames(frames) {
  return frames.map((f) =>
    typeof f === "string" ? { text: f } : { binary: Buffer.from(f).toString("base64") },
  );
}

const bin = (...bytes) => Buffer.from(bytes);
const seq = (n) => Buffer.from(Array.from({ length: n }, (_, i) => i % 256));
const str = (n) => "x".repeat(n);
const objN = (n) => Object.fromEntries(Array.from({ length: n }, (_, i) => ["k" + i, i]));

// Packets for both formats (msgpack only takes types 0-4 and writes binary natively).
const common = [
  ["connect main, no data", { type: 0, nsp: "/" }],
  ["connect with auth", { type: 0, data: { token: "abc", n: 1 }, nsp: "/admin" }],
  ["connect reply sid", { type: 0, data: { sid: "lv_VI97HAXpY6yYWAAAC" }, nsp: "/" }],
  ["disconnect", { type: 1, nsp: "/admin" }],
  ["event simple", { type: 2, data: ["foo"], nsp: "/" }],
  [
    "event with id and mixed args",
    { type: 2, data: ["foo", 1, 2.5, true, false, null, { a: [1, 2], b: "c" }], nsp: "/", id: 12 },
  ],
  ["ack with namespace", { type: 3, data: ["bar"], nsp: "/admin", id: 13 }],
  ["ack empty", { type: 3, data: [], nsp: "/", id: 0 }],
  ["connect_error object", { type: 4, data: { message: "Not authorized" }, nsp: "/" }],
  [
    "connect_error with data",
    { type: 4, data: { message: "Invalid namespace", data: { code: 3 } }, nsp: "/x" },
  ],
  ["connect_error string (v4)", { type: 4, data: "Not authorized", nsp: "/admin" }],
  [
    "strings and escapes",
    {
      type: 2,
      data: ["s", "héllo ✓ 😀", 'quote" back\\ \n\t\r\b\f \u0001\u001f \u007f \u2028 </script>', ""],
      nsp: "/",
    },
  ],
  ["numeric event name", { type: 2, data: [42, "x"], nsp: "/" }],
  ["key order kept", { type: 2, data: ["o", { b: 1, a: 2, zz: { y: 1, x: 2 } }], nsp: "/" }],
  ["large ack id", { type: 2, data: ["big"], nsp: "/", id: 4294967297 }],
  ["unicode namespace", { type: 2, data: ["u"], nsp: "/ñ-ü" }],
  ["nested deep", { type: 2, data: ["d", [[[[{ a: [[{}]] }]]]]], nsp: "/" }],
];

const jsonOnly = [
  // notepack writes integral numbers >= 2^63 as garbage uint64, so huge values are JSON-only.
  [
    "numbers",
    {
      type: 2,
      data: ["n", 0, -0, -1, 1e21, 1e20, 1e-7, 1e-6, 0.1, 123456789012, 1.5e300, -2.5e-300,
        Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 3.141592653589793, 1 / 3, 100, 4294967296],
      nsp: "/",
    },
  ],
  ["binary event", { type: 2, data: ["baz", bin(1, 2, 3)], nsp: "/" }],
  [
    "binary nested with nsp and id",
    {
      type: 2,
      data: ["upload", { file: bin(0xde, 0xad), meta: { parts: [bin(1), bin(2, 2)], name: "f" } }, seq(300)],
      nsp: "/files",
      id: 7,
    },
  ],
  ["binary ack", { type: 3, data: [bin(0xff)], nsp: "/admin", id: 5 }],
  ["empty buffer", { type: 2, data: ["empty", Buffer.alloc(0)], nsp: "/" }],
  ["ten attachments", { type: 2, data: ["ten", ...Array.from({ length: 10 }, (_, i) => bin(i))], nsp: "/" }],
  [
    "same buffer twice",
    (() => {
      const b = bin(9, 9);
      return { type: 2, data: ["twice", b, { again: b }], nsp: "/" };
    })(),
  ],
];

const msgpackOnly = [
  [
    "msgpack integers",
    {
      type: 2,
      data: ["ints", 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -1, -32, -33, -128, -129,
        -32768, -32769, -2147483648, -2147483649, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1.5, -1.5],
      nsp: "/",
    },
  ],
  [
    "msgpack floats",
    { type: 2, data: ["f", 0.1, -0.5, 1e-7, -2.5e-300, 1 / 3, 3.141592653589793, -0], nsp: "/" },
  ],
  ["msgpack strings", { type: 2, data: ["strs", str(31), str(32), str(255), str(256), str(65536)], nsp: "/" }],
  [
    "msgpack containers",
    { type: 2, data: ["c", Array(15).fill(1), Array(16).fill(2), objN(15), objN(16), Array(65536).fill(0)], nsp: "/" },
  ],
  [
    "msgpack binary",
    { type: 2, data: ["bin", bin(1, 2, 3), Buffer.alloc(0), seq(255), seq(256), seq(65536), { nested: [bin(7)] }], nsp: "/" },
  ],
  ["msgpack binary ack", { type: 3, data: [bin(0xff)], nsp: "/admin", id: 5 }],
];

// Protocol v4 packets: the 2.x client and server set BINARY_EVENT/BINARY_ACK themselves and
// put the handshake query in the CONNECT namespace.
const v4Packets = [
  ["v4 connect main", { type: 0, nsp: "/" }],
  ["v4 connect with query", { type: 0, nsp: "/admin?token=abc&x=1" }],
  ["v4 connect reply", { type: 0, nsp: "/admin" }],
  ["v4 disconnect", { type: 1, nsp: "/admin" }],
  ["v4 error string", { type: 4, data: "Not authorized", nsp: "/admin" }],
  ["v4 error main", { type: 4, data: "Invalid namespace", nsp: "/" }],
  ["v4 event", { type: 2, data: ["foo", { a: 1 }, 2.5], nsp: "/" }],
  ["v4 event id nsp", { type: 2, data: ["foo"], nsp: "/chat", id: 4 }],
  ["v4 ack", { type: 3, data: [null, "ok"], nsp: "/chat", id: 4 }],
  ["v4 binary event", { type: 5, data: ["bin", bin(1, 2), { deep: [bin(3)] }], nsp: "/", id: 9 }],
  ["v4 binary ack", { type: 6, data: [bin(255)], nsp: "/chat", id: 2 }],
];

function encodeJson(packet) {
  return new sioParser.Encoder().encode(packet);
}

function encodeV4(packet) {
  let out;
  // Synchronous in Node (no Blobs to read).
  new v4Parser.Encoder().encode(packet, (frames) => (out = frames));
  if (!out) throw new Error("v4 encoder did not answer synchronously");
  return out;
}

function newDecoder(parser) {
  if (parser === "json") return new sioParser.Decoder();
  if (parser === "json-v4") return new v4Parser.Decoder();
  if (parser === "msgpack") return new msgpackParser.Decoder();
  throw new Error("unknown parser " + parser);
}

function decodeAll(parser, frames) {
  const decoder = newDecoder(parser);
  const packets = [];
  decoder.on("decoded", (p) => packets.push(describePacket(p)));
  for (const f of frames) {
    if (f.text !== undefined) decoder.add(f.text);
    else decoder.add(Buffer.from(f.binary, "base64"));
  }
  return packets;
}

function table() {
  const out = [];
  const add = (parser, name, packet) => {
    // Encode a copy: the reference encoder mutates binary packets.
    const copy = revive(describe(packet));
    const frames =
      parser === "json"
        ? encodeJson(copy)
        : parser === "json-v4"
          ? encodeV4(copy)
          : new msgpackParser.Encoder().encode(copy);
    const described = describeFrames(frames);
    const decoded = decodeAll(parser, described);
    if (decoded.length !== 1) throw new Error(`${name}: reference decoded ${decoded.length} packets`);
    out.push({ name, parser, packet: decoded[0], frames: described });
  };
  for (const [name, p] of common) add("json", name, p);
  for (const [name, p] of jsonOnly) add("json", name, p);
  for (const [name, p] of common) add("msgpack", name, p);
  for (const [name, p] of msgpackOnly) add("msgpack", name, p);
  for (const [name, p] of v4Packets) add("json-v4", name, p);
  return out;
}

function decodeCases(cases) {
  return cases.map(({ name, parser, frames }) => {
    try {
      return { name, packets: decodeAll(parser, frames) };
    } catch (e) {
      return { name, error: String(e && e.message ? e.message : e) };
    }
  });
}

const mode = process.argv[2];
if (mode === "table") {
  process.stdout.write(JSON.stringify(table()) + "\n");
} else if (mode === "decode") {
  const chunks = [];
  process.stdin.on("data", (c) => chunks.push(c));
  process.stdin.on("end", () => {
    const cases = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    process.stdout.write(JSON.stringify(decodeCases(cases)) + "\n");
  });
} else {
  process.stderr.write("usage: node parser-crosscheck.js table | decode < cases.json\n");
  process.exit(2);
}
