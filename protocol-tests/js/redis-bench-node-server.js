// The bench server of ../shared/bench/node-peer (events echo, join, bcast) with
// @socket.io/redis-adapter 8.3: a cluster node for the Redis broadcast benchmark.
//
//   node redis-bench-node-server.js <redis-url> [streams] [recovery]   prints `listening <port>`
//
// "streams": @socket.io/redis-streams-adapter 0.3.1 instead; "recovery": connection state
// recovery on (maxDisconnectionDuration 2 minutes).
"use strict";
const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createAdapter: createStreamsAdapter } = require("@socket.io/redis-streams-adapter");
const { createClient } = require("redis");

async function main() {
  const pub = createClient({ url: process.argv[2] });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const httpServer = http.createServer();
  const [, , , mode, recovery] = process.argv;
  const adapter = mode === "streams" ? createStreamsAdapter(pub) : createAdapter(pub, sub);
  const options = { cors: { origin: "*" }, adapter };
  if (recovery === "recovery") {
    options.connectionStateRecovery = { maxDisconnectionDuration: 120000, skipMiddlewares: true };
  }
  const io = new Server(httpServer, options);
  io.on("connection", (socket) => {
    socket.on("echo", (v) => socket.emit("echo", v));
    socket.on("join", (r) => socket.join(r));
    socket.on("bcast", (v) => io.to("bench").emit("bcast", v));
  });
  process.stdin.resume();
  process.stdin.on("end", () => process.exit(0));
  httpServer.listen(0, "127.0.0.1", () => console.log(`listening ${httpServer.address().port}`));
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
