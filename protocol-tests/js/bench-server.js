// The npm reference (socket.io 4.8) with the three events the load tool measures, mirroring
// socketio-server/examples/bench_server.rs: on namespace "/",
//   "echo"  emits "echo" back to the sender with the same argument;
//   "join"  joins the room named by the argument;
//   "bcast" emits "bcast" with the same argument to every socket in room "bench".
// Default settings (like bench_server) except CORS, and --ping-interval MS for the scale figure.
//
// Usage: node bench-server.js [--port PORT] [--ping-interval MS]
//   PORT 0 picks a free port; prints `listening <port>` once ready. Exits when stdin closes.
"use strict";
const { createServer } = require("http");
const { Server } = require("socket.io");

const argv = process.argv.slice(2);
let port = 3100;
const opts = { cors: { origin: "*" } };
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--port") port = Number(argv[++i]);
  else if (argv[i] === "--ping-interval") opts.pingInterval = Number(argv[++i]);
  else if (/^\d+$/.test(argv[i])) port = Number(argv[i]);
}

const httpServer = createServer();
const io = new Server(httpServer, opts);
io.on("connection", (socket) => {
  socket.on("echo", (v) => socket.emit("echo", v));
  socket.on("join", (room) => socket.join(room));
  socket.on("bcast", (v) => io.to("bench").emit("bcast", v));
});
httpServer.listen(port, "127.0.0.1", () => {
  console.log(`listening ${httpServer.address().port}`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
