// The reference Socket.IO server (npm socket.io 4.8) with the conformance setup of the
// Socket.IO v5 test suite, so the raw-frame tests in protocol-tests/tests/socketio/socketio_conformance.rs
// can be proven against it. socketio-server/examples/conformance_server.rs mirrors this file
// exactly (same flags, same handlers): keep the two in step.
//
// Usage: node socketio-reference.js [PORT] [--port PORT] [--interop] [--recovery] [--msgpack] [--eio3]
//        [--default-heartbeat]
//   PORT 0 picks a free port; prints `listening <port>` once ready.
//   --interop   extra handlers the interop tests use (rooms, broadcasts, server->client acks,
//               /restricted with a refusing middleware, dynamic namespaces /dyn-<name>)
//   --recovery  connection state recovery on (maxDisconnectionDuration 30000, skipMiddlewares)
//   --msgpack   the npm socket.io-msgpack-parser instead of the default JSON parser
//   --eio3      allowEIO3 (Socket.IO 2.x clients)
//   --default-heartbeat  the default pingInterval 25000 / pingTimeout 20000 (load tests whose
//               peers are busy for longer than 500 ms at a time)
// Exits when stdin closes, so a test process that dies never leaves it behind.
"use strict";
const { createServer } = require("http");
const { Server } = require("socket.io");

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
let port = 0;
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--port") port = Number(argv[++i]);
  else if (/^\d+$/.test(argv[i])) port = Number(argv[i]);
}

const opts = {
  pingInterval: 300,
  pingTimeout: 200,
  connectTimeout: 1000,
  maxHttpBufferSize: 1e6,
  cors: { origin: "*" },
};
if (flag("--recovery")) {
  opts.connectionStateRecovery = { maxDisconnectionDuration: 30000, skipMiddlewares: true };
}
if (flag("--msgpack")) opts.parser = require("socket.io-msgpack-parser");
if (flag("--eio3")) opts.allowEIO3 = true;
if (flag("--default-heartbeat")) Object.assign(opts, { pingInterval: 25000, pingTimeout: 20000 });

const httpServer = createServer();
const io = new Server(httpServer, opts);

io.of("/").on("connection", (socket) => {
  socket.emit("auth", socket.handshake.auth);
  socket.on("message", (...args) => socket.emit("message-back", ...args));
  socket.on("message-with-ack", (...args) => {
    const ack = args.pop();
    ack(...args);
  });
});
io.of("/custom").on("connection", (socket) => {
  socket.emit("auth", socket.handshake.auth);
});

let dynParent = null;
if (flag("--interop")) {
  // Handlers the interop tests call; every one answers through the client's ack.
  const interop = (socket) => {
    socket.on("join", (rooms, ack) => {
      socket.join(rooms);
      ack([...socket.rooms].filter((r) => r !== socket.id).sort());
    });
    socket.on("leave", (room, ack) => {
      socket.leave(room);
      ack([...socket.rooms].filter((r) => r !== socket.id).sort());
    });
    // A broadcast from this socket: reaches `rooms` (all when empty) minus `except`, never the sender.
    socket.on("socket-broadcast", ({ rooms, except, event, args }, ack) => {
      socket.to(rooms || []).except(except || []).emit(event, ...args);
      ack("done");
    });
    // A broadcast from the namespace (or the parent of a dynamic namespace when `parent` is set).
    socket.on("server-broadcast", ({ rooms, except, event, args, parent }, ack) => {
      const target = parent && dynParent ? dynParent : socket.nsp;
      target.to(rooms || []).except(except || []).emit(event, ...args);
      ack("done");
    });
    // The server emits `event` with `args` to this socket with an ack and a timeout, then reports
    // what came back: {err: null | message, resp: [...]}.
    socket.on("ask-client", (event, args, timeoutMs, ack) => {
      socket.timeout(timeoutMs).emit(event, ...args, (err, ...resp) => {
        ack({ err: err ? err.message : null, resp });
      });
    });
    // A broadcast with acks from the namespace: one answer (first argument) per recipient.
    socket.on("broadcast-with-ack", ({ rooms, event, args, timeout }, ack) => {
      socket.nsp
        .to(rooms || [])
        .timeout(timeout)
        .emit(event, ...args, (err, responses) => {
          ack(err ? { err: err.message, resp: [] } : { err: null, resp: responses });
        });
    });
    socket.on("whoami", (ack) => {
      ack({
        id: socket.id,
        nsp: socket.nsp.name,
        rooms: [...socket.rooms].filter((r) => r !== socket.id).sort(),
        recovered: socket.recovered,
        auth: socket.handshake.auth,
        query: { foo: socket.handshake.query.foo ?? null },
      });
    });
    socket.on("server-disconnect", () => socket.disconnect());
  };

  io.of("/").on("connection", interop);
  io.of("/custom").on("connection", interop);

  const restricted = io.of("/restricted");
  restricted.use((socket, next) => {
    if (socket.handshake.auth && socket.handshake.auth.token === "secret") return next();
    const err = new Error("not authorized");
    err.data = { reason: "bad token", code: 401 };
    next(err);
  });
  restricted.on("connection", (socket) => {
    socket.emit("auth", socket.handshake.auth);
    interop(socket);
  });

  // An async per-packet middleware (ours also emits `after` once `slow` is handled: the
  // reference's `next` has no "after").
  io.of("/packet-mw").on("connection", (socket) => {
    socket.use((packet, next) => {
      setTimeout(() => {
        if (packet[0] === "forbidden") {
          const err = new Error("forbidden event");
          err.data = { code: 403 };
          return next(err);
        }
        if (packet[0] === "old-name") packet[0] = "new-name";
        next();
      }, 10);
    });
    socket.on("error", (err) => socket.emit("mw-error", err.message));
    socket.on("echo", (v, ack) => ack(v));
    socket.on("new-name", (v, ack) => ack(`new-name:${v}`));
    socket.on("slow", () => setTimeout(() => socket.emit("handled"), 50));
  });

  dynParent = io.of(/^\/dyn-[a-z0-9]+$/);
  dynParent.on("connection", (socket) => {
    socket.emit("welcome", socket.nsp.name);
    interop(socket);
  });
}

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`listening ${httpServer.address().port}`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
