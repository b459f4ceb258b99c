// Runs a real npm Engine.IO client (Node) against an Engine.IO server that echoes every message,
// and prints one JSON result line for the Rust test (protocol-tests/tests/engineio/engineio_interop.rs).
//
// Usage: node engineio-client-interop.js <url> <polling|websocket|upgrade> [--eio3] [--server-close TEXT]
//   polling    transports ["polling"], no upgrade
//   websocket  transports ["websocket"]
//   upgrade    transports ["polling", "websocket"]: opens over polling, sends a first batch,
//              upgrades, sends a second batch over the WebSocket
//   --eio3     use engine.io-client 3.5 (protocol v3, as bundled with socket.io-client 2.x)
//              instead of engine.io-client 6.6 (the server must allow EIO3)
//   --server-close TEXT
//              after every echo arrived, send TEXT and expect the server to close the socket
//              (the conformance servers' `--close-on TEXT`); otherwise the client closes
// Each batch is: a text, a non-ASCII text, a binary (bytes 0..255), a 100 000-character text.
// The result line:
//   {"mode", "protocol", "openTransport", "upgraded", "finalTransport", "sid",
//    "received": [{"type", "data"} | {"type", "length", "prefix"}], "closeReason", "errors": [...], "ok"}
"use strict";

const args = process.argv.slice(2);
const [url, mode] = args;
const eio3 = args.includes("--eio3");
const serverCloseIndex = args.indexOf("--server-close");
const serverClose = serverCloseIndex >= 0 ? args[serverCloseIndex + 1] : undefined;
if (!url || !["polling", "websocket", "upgrade"].includes(mode)) {
  console.error("usage: node engineio-client-interop.js <url> <polling|websocket|upgrade> [--eio3] [--server-close TEXT]");
  process.exit(2);
}

const TIMEOUT_MS = 8000;
const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const batch = (tag) => [`hello ${tag}`, `€uro ✓ 😀 ${tag}`, bytes, `${tag}`.padEnd(100000, "x")];

const result = {
  mode,
  protocol: eio3 ? 3 : 4,
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
    return data.length > 1000
      ? { type: "text", length: data.length, prefix: data.slice(0, 8) }
      : { type: "text", data };
  }
  const buf = Buffer.isBuffer(data)
    ? data
    : data instanceof ArrayBuffer
      ? Buffer.from(data)
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
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

const opts = {
  transports: mode === "polling" ? ["polling"] : mode === "websocket" ? ["websocket"] : ["polling", "websocket"],
  upgrade: mode === "upgrade",
};
let socket;
if (eio3) {
  const eio = require("socket.io-client-v2/node_modules/engine.io-client");
  socket = eio(url, opts);
} else {
  const { Socket } = require("engine.io-client");
  socket = new Socket(url, opts);
}

const expected = mode === "upgrade" ? 8 : 4;
const sendBatch = (tag) => batch(tag).forEach((m) => socket.send(m));
let closing = false;

socket.on("open", () => {
  result.openTransport = socket.transport.name;
  result.sid = socket.id;
  sendBatch("first");
});
socket.on("upgrade", () => {
  result.upgraded = true;
  sendBatch("second");
});
socket.on("upgradeError", (err) => result.errors.push(`upgradeError: ${err.message}`));
socket.on("error", (err) => result.errors.push(`error: ${err && err.message ? err.message : err}`));
socket.on("message", (data) => {
  if (closing) {
    result.errors.push(`message after the close request: ${JSON.stringify(describe(data))}`);
    return;
  }
  result.received.push(describe(data));
  if (result.received.length === expected) {
    result.finalTransport = socket.transport.name;
    closing = true;
    if (serverClose !== undefined) socket.send(serverClose);
    else socket.close();
  }
});
socket.on("close", (reason, description) => {
  result.closeReason = reason;
  if (!closing) result.errors.push(`closed before every echo arrived (${reason})`);
  result.ok = result.errors.length === 0;
  // Give the close packet time to reach the server before exiting.
  setTimeout(finish, 100);
});
