// Runs the npm `engine.io-client` 6.6 (Node) against an Engine.IO server that echoes every message,
// and prints one JSON result line for the Rust test (protocol-tests/tests/engineio_interop.rs).
//
// Usage: node engineio-client-interop.js <url> <polling|websocket|upgrade>
//   polling    transports ["polling"], no upgrade
//   websocket  transports ["websocket"]
//   upgrade    transports ["polling", "websocket"]: opens over polling, sends a first batch,
//              upgrades, sends a second batch over the WebSocket
// Each batch is: a text, a non-ASCII text, a binary (bytes 0..255), a 100 000-character text.
// After every echo arrived the client closes. The result line:
//   {"mode", "openTransport", "upgraded", "finalTransport", "sid", "received": [{"type", "data"|"length"}],
//    "closeReason", "errors": [...], "ok"}
"use strict";

const { Socket } = require("engine.io-client");

const [url, mode] = process.argv.slice(2);
if (!url || !["polling", "websocket", "upgrade"].includes(mode)) {
  console.error("usage: node engineio-client-interop.js <url> <polling|websocket|upgrade>");
  process.exit(2);
}

const TIMEOUT_MS = 8000;
const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const batch = (tag) => [`hello ${tag}`, `€uro ✓ 😀 ${tag}`, bytes, `${tag}`.padEnd(100000, "x")];

const result = {
  mode,
  openTransport: null,
  upgraded: false,
  finalTransport: null,
  sid: null,
  received: [],
  closeReason: null,
  errors: [],
  ok: false,
};

const describe = (data) => {
  if (typeof data === "string") {
    return data.length > 1000 ? { type: "text", length: data.length, prefix: data.slice(0, 8) } : { type: "text", data };
  }
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data instanceof ArrayBuffer ? data : data.buffer);
  return { type: "binary", data: buf.toString("base64") };
};

let finished = false;
const finish = () => {
  if (finished) return;
  finished = true;
  console.log(JSON.stringify(result));
  process.exit(0);
};
setTimeout(() => {
  result.errors.push(`timeout after ${TIMEOUT_MS} ms`);
  finish();
}, TIMEOUT_MS);

const socket = new Socket(url, {
  transports: mode === "polling" ? ["polling"] : mode === "websocket" ? ["websocket"] : ["polling", "websocket"],
  upgrade: mode === "upgrade",
});

const expected = mode === "upgrade" ? 8 : 4;
const sendBatch = (tag) => batch(tag).forEach((m) => socket.send(m));

socket.on("open", () => {
  result.openTransport = socket.transport.name;
  result.sid = socket.id;
  sendBatch("first");
});
socket.on("upgrade", (transport) => {
  result.upgraded = true;
  // Let the first batch's echoes flush, then use the new transport.
  sendBatch("second");
});
socket.on("upgradeError", (err) => result.errors.push(`upgradeError: ${err.message}`));
socket.on("error", (err) => result.errors.push(`error: ${err && err.message ? err.message : err}`));
socket.on("message", (data) => {
  result.received.push(describe(data));
  if (result.received.length === expected) {
    result.finalTransport = socket.transport.name;
    socket.close();
  }
});
socket.on("close", (reason, description) => {
  result.closeReason = reason;
  if (description && reason !== "forced close") {
    result.errors.push(`close description: ${description.message || JSON.stringify(description)}`);
  }
  result.ok = result.errors.length === 0;
  // Give the close packet time to reach the server before exiting.
  setTimeout(finish, 100);
});
