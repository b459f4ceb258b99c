// Wire-format oracle for the Redis adapter tests, using the real npm packages.
//
//   node redis-wire.js emitter    -> one JSON line per operation of a fixed script run through
//                                    the real @socket.io/redis-emitter (with a recording client):
//                                    {"op", "channel", "hex"}
//   node redis-wire.js reencode   -> reads JSON lines {"hex"} on stdin; each message is decoded
//                                    the way @socket.io/redis-adapter does (JSON when it starts
//                                    with "{", notepack otherwise) and encoded again the same way;
//                                    prints {"hex", "value"} (Buffers as {"$bin": hex}).
"use strict";
const { Emitter } = require("@socket.io/redis-emitter");
const msgpack = require("notepack.io");
const readline = require("readline");

const { toPlain } = require("./plain");
const mode = process.argv[2];
if (mode === "emitter") {
  const published = [];
  const client = { publish: (channel, msg) => published.push({ channel, msg }) };
  const emitter = new Emitter(client);
  const ops = [
    ["emit_all", () => emitter.emit("ev", 1, "two", { a: [1.5, null, true] })],
    ["emit_room_binary", () => emitter.to("room1").emit("ev", Buffer.from([1, 2, 3]))],
    ["emit_rooms_except", () => emitter.to("r1").to("r2").except("x").emit("ev")],
    ["emit_flags_numbers", () => emitter.volatile.compress(false).emit("ev", -5, 300, 70000, 2 ** 40, -40000)],
    ["emit_nsp", () => emitter.of("/admin").emit("ev", "x")],
    ["emit_long_string", () => emitter.emit("ev", "é".repeat(40), "x".repeat(300))],
    ["sockets_join", () => emitter.socketsJoin("room")],
    ["sockets_leave", () => emitter.to("a").socketsLeave(["b", "c"])],
    ["disconnect", () => emitter.except("a").disconnectSockets(true)],
    ["server_side_emit", () => emitter.serverSideEmit("hello", "world", 1)],
  ];
  for (const [op, run] of ops) {
    published.length = 0;
    run();
    for (const { channel, msg } of published) {
      const buf = Buffer.isBuffer(msg) ? msg : Buffer.from(msg);
      console.log(JSON.stringify({ op, channel, hex: buf.toString("hex") }));
    }
  }
} else if (mode === "reencode") {
  const rl = readline.createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    if (!line.trim()) return;
    const buf = Buffer.from(JSON.parse(line).hex, "hex");
    let out;
    try {
      if (buf[0] === 0x7b) {
        const value = JSON.parse(buf.toString());
        out = { hex: Buffer.from(JSON.stringify(value)).toString("hex"), value: toPlain(value) };
      } else {
        const value = msgpack.decode(buf);
        out = { hex: msgpack.encode(value).toString("hex"), value: toPlain(value) };
      }
    } catch (e) {
      out = { error: String(e) };
    }
    console.log(JSON.stringify(out));
  });
} else {
  console.error("usage: node redis-wire.js emitter|reencode");
  process.exit(2);
}
