// npm socket.io-client 4.8 (Node.js: no cookie jar) against a cluster of our servers behind a
// round-robin balancer with no stickiness (protocol-tests/tests/cluster/cluster_engine.rs).
//
// Usage: node cluster-client.js URL TRANSPORTS_JSON
// Opens clients until one session is owned by each of 3 nodes (the owner's id is the first 8
// characters of the Engine.IO sid), then: 200 events echoed in order, acks both ways, binary,
// and a broadcast to a room from every node, received by every client.
// Prints one JSON line: {"ok": true, ...observations} or {"ok": false, "error": "..."}.
"use strict";

const { io } = require("socket.io-client");
const [url, transportsJson] = process.argv.slice(2);
const transports = JSON.parse(transportsJson || '["polling"]');
const TIMEOUT = 30000;
const sockets = [];
const disconnects = [];

function finish(result) {
  console.log(JSON.stringify(result));
  for (const s of sockets) s.disconnect();
  process.exit(result.ok ? 0 : 1);
}
setTimeout(() => finish({ ok: false, error: "timed out" }), TIMEOUT).unref();

function connect() {
  return new Promise((resolve, reject) => {
    const s = io(url, { transports, forceNew: true, reconnection: false });
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => reject(e));
    // The script's own disconnects (extra clients) do not count.
    s.on("disconnect", (reason) => reason !== "io client disconnect" && disconnects.push(reason));
  });
}

const owner = (s) => s.io.engine.id.slice(0, 8);

const t0 = Date.now();
const phases = {};
const mark = (name) => (phases[name] = Date.now() - t0);

async function main() {
  // One client per node.
  const byOwner = new Map();
  for (let i = 0; i < 30 && byOwner.size < 3; i++) {
    const s = await connect();
    if (byOwner.has(owner(s))) {
      s.disconnect();
    } else {
      byOwner.set(owner(s), s);
      sockets.push(s);
    }
  }
  if (byOwner.size < 3) throw new Error(`only ${byOwner.size} owners`);
  const [a] = sockets;
  mark("connected");

  // 200 events echoed in order.
  const echoed = [];
  const allEchoed = new Promise((resolve) => {
    a.on("message-back", (n) => {
      echoed.push(n);
      if (echoed.length === 200) resolve();
    });
  });
  for (let i = 0; i < 200; i++) a.emit("message", i);
  await allEchoed;
  a.off("message-back");
  mark("echoed");

  // Acks both ways.
  const ack = await new Promise((resolve, reject) =>
    a.timeout(5000).emit("message-with-ack", "hello", 42, (err, ...args) =>
      err ? reject(err) : resolve(args)
    )
  );
  a.on("question", (x, cb) => cb({ answer: x * 2 }));
  const asked = await a.timeout(5000).emitWithAck("ask-client", ["question", [21], 3000]);

  mark("acks");
  // Binary.
  const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
  const binary = await new Promise((resolve) => {
    a.once("message-back", (b) => resolve(Buffer.from(b).toString("hex")));
    a.emit("message", bytes);
  });

  // Rooms: every client joins, each asks its own node for a broadcast to the room.
  for (const s of sockets) await s.timeout(5000).emitWithAck("join", "cluster-room");
  const received = sockets.map(() => []);
  const allReceived = new Promise((resolve) => {
    sockets.forEach((s, i) =>
      s.on("news", (from) => {
        received[i].push(from);
        if (received.every((r) => r.length === sockets.length)) resolve();
      })
    );
  });
  for (let i = 0; i < sockets.length; i++) {
    await sockets[i].timeout(5000).emitWithAck("server-broadcast", {
      event: "news",
      args: [owner(sockets[i])],
      rooms: ["cluster-room"],
    });
  }
  await allReceived;
  mark("broadcasts");
  // Nothing more arrives (no duplicate).
  await new Promise((r) => setTimeout(r, 300));

  finish({
    ok: true,
    owners: [...byOwner.keys()],
    transports: sockets.map((s) => s.io.engine.transport.name),
    echoed,
    ack,
    asked,
    binary,
    received: received.map((r) => [...r].sort()),
    disconnects,
    phases,
  });
}

main().catch((e) => finish({ ok: false, error: String(e && e.stack ? e.stack : e), disconnects }));
