// Socket.IO clients (npm socket.io-client 4.8) for the cluster tests.
//
//   node redis-clients.js '<json>'   with [{"name", "url", "nsp"?, "rooms"?: [...],
//                                            "transports"?: [...], "withCredentials"?: bool}, ...]
//
// Each client connects with auth {name, rooms} (the test servers join those rooms), then every
// event it receives is printed as {"client","event","args"} (Buffers as {"$bin": hex}); an event
// with an ack callback is answered with "<client>-answer". Disconnections print
// {"client","disconnect":reason}. Prints `listening 0` once every client is connected.
// Options per client: "reconnection" (default off), "silent" (never answers an ack).
"use strict";
const { io } = require("socket.io-client");

const { toPlain } = require("./plain");
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

const specs = JSON.parse(process.argv[2]);
const clients = {};
let pending = specs.length;
for (const spec of specs) {
  const socket = io(spec.url + (spec.nsp || "/"), {
    transports: spec.transports || ["websocket"],
    // The cookie jar (needed behind a cookie-sticky load balancer with polling).
    withCredentials: !!spec.withCredentials,
    reconnection: !!spec.reconnection,
    forceNew: true,
    // "auth" entries are merged in (they win over the recovery pid/offset of the client).
    auth: Object.assign({ name: spec.name, rooms: spec.rooms || [] }, spec.auth || {}),
  });
  socket.onAny((event, ...args) => {
    const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
    out({ client: spec.name, event, args: toPlain(args) });
    if (cb && !spec.silent) cb(`${spec.name}-answer`);
  });
  // Registered when the Engine.IO connection opens, before any upgrade can complete.
  socket.io.on("open", () =>
    socket.io.engine.on("upgrade", (t) => out({ client: spec.name, upgraded: t.name }))
  );
  clients[spec.name] = socket;
  socket.on("connect", () => {
    out({ client: spec.name, connected: socket.id, recovered: socket.recovered });
    if (--pending === 0) console.log("listening 0");
  });
  socket.on("connect_error", (e) => {
    console.error(`${spec.name}: connect_error ${e.message}`);
    if (!spec.reconnection) process.exit(1);
  });
  socket.on("disconnect", (reason) => out({ client: spec.name, disconnect: reason }));
}
// Commands on stdin (JSON lines): {"op": "drop", "client": name} closes that client's
// Engine.IO connection abruptly (the client then reconnects, if enabled, and may recover);
// {"op": "move", "client", "url"} does the same and reconnects to another node at `url`;
// {"op": "emit", "client", "event", "args"} emits an event from that client.
require("readline")
  .createInterface({ input: process.stdin })
  .on("line", (line) => {
    if (!line.trim()) return;
    const c = JSON.parse(line);
    if (c.op === "emit" && clients[c.client]) clients[c.client].emit(c.event, ...(c.args || []));
    if (c.op === "move" && clients[c.client]) clients[c.client].io.uri = c.url;
    if ((c.op === "drop" || c.op === "move") && clients[c.client]) clients[c.client].io.engine.close();
    out({ reply: c.id });
  });
process.stdin.on("end", () => process.exit(0));
