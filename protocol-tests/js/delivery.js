// Delivery scenarios of the npm socket.io-client 4.8 over HTTP long-polling only, against a
// Socket.IO server started with `--interop` (js/socketio-reference.js or our conformance_server
// example, both with `--default-heartbeat`): nothing lost, no healthy client dropped, under bursts.
//
// Usage: node delivery.js SCENARIO COUNT URL
//   burst     a polling receiver in room "r" gets COUNT broadcasts of a 32-byte string that a
//             second client sends as fast as it can (one `socket-broadcast` each)
//   answered  a polling client emits COUNT acked events at once (the client buffers them into
//             one POST payload while its first POST is in flight); every ack must come back
// Prints one JSON line: {"ok": true, ...observations} or {"ok": false, "error": "..."}; the Rust
// test (protocol-tests/tests/socketio/delivery.rs) asserts on the observations. Every wait is bounded.
"use strict";

const [scenario, countArg, url] = process.argv.slice(2);
const count = Number(countArg);
const TIMEOUT = 40000;
const sockets = [];

function done(result) {
  console.log(JSON.stringify({ ok: true, ...result }));
  for (const s of sockets) s.disconnect();
  process.exit(0);
}
function fail(err) {
  console.log(JSON.stringify({ ok: false, error: String(err && err.stack ? err.stack : err) }));
  process.exit(1);
}
setTimeout(() => fail(`scenario ${scenario} timed out`), TIMEOUT).unref();

function connect() {
  const { io } = require("socket.io-client");
  const s = io(url, { reconnection: false, forceNew: true, transports: ["polling"] });
  sockets.push(s);
  // A drop is what these scenarios are about: record why.
  s.disconnects = [];
  s.on("disconnect", (reason, details) =>
    s.disconnects.push(`${reason}${details && details.description ? `: ${details.description}` : ""}`),
  );
  return s;
}
const once = (s, ev, ms = 5000) =>
  new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${ev} within ${ms} ms`)), ms);
    s.once(ev, (...args) => {
      clearTimeout(t);
      resolve(args);
    });
  });
// Resolves when `test()` holds, or after `ms` (the caller reports what it got).
const until = (test, ms) =>
  new Promise((resolve) => {
    const start = Date.now();
    const tick = () => (test() || Date.now() - start > ms ? resolve() : setTimeout(tick, 20));
    tick();
  });

const PAYLOAD = "0123456789abcdef0123456789abcdef"; // 32 bytes

const scenarios = {
  async burst() {
    const receiver = connect();
    await once(receiver, "auth");
    await receiver.timeout(3000).emitWithAck("join", "r");
    const got = [];
    receiver.on("b", (i, s) => got.push([i, s]));
    const sender = connect();
    await once(sender, "auth");
    const start = Date.now();
    for (let i = 0; i < count; i++) {
      sender.emit("socket-broadcast", { rooms: ["r"], event: "b", args: [i, PAYLOAD] }, () => {});
    }
    await until(() => got.length >= count || receiver.disconnects.length > 0, 30000);
    const ms = Date.now() - start;
    return {
      received: got.length,
      inOrder: got.every(([i, s], k) => i === k && s === PAYLOAD),
      receiverConnected: receiver.connected,
      receiverTransport: receiver.io.engine.transport.name,
      receiverDisconnects: receiver.disconnects,
      senderDisconnects: sender.disconnects,
      ms,
    };
  },

  async answered() {
    const s = connect();
    await once(s, "auth");
    const answers = [];
    for (let i = 0; i < count; i++) {
      s.emit("message-with-ack", i, (back) => answers.push(back));
    }
    await until(() => answers.length >= count || s.disconnects.length > 0, 30000);
    return {
      answered: answers.length,
      inOrder: answers.every((v, k) => v === k),
      connected: s.connected,
      transport: s.io.engine.transport.name,
      disconnects: s.disconnects,
    };
  },
};

(async () => {
  const run = scenarios[scenario];
  if (!run) fail(`unknown scenario ${scenario}`);
  try {
    done(await run());
  } catch (e) {
    fail(e);
  }
})();
