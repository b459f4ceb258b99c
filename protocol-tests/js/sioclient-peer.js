// The npm socket.io 4.8 server the Rust socketio-client is tested against.
//
// usage: node sioclient-peer.js [--port N] [--msgpack] [--recovery] [--ping-interval MS] [--ping-timeout MS]
//
// Prints `listening <port>` once ready, then one JSON line per notable server-side happening
// ({"connection": nsp, ...}, {"disconnect": nsp, "reason": ...}) so tests can observe the server.
//
// Namespaces: "/", "/admin", "/chat" accept everyone; "/refused" refuses every connection in a
// middleware (message "not authorized", data {"code": 42}); any other namespace is unknown.
// Events every joined socket understands:
//   echo ...args            → emits "echo" with the same args back (binary preserved)
//   ack ...args, cb         → acks with the same args
//   whoami cb               → acks {id, nsp, auth, recovered, transport, clientsCount, query, headers}
//   stats cb                → acks {clientsCount, sockets: {nsp: count}}
//   ask [payload, timeoutMs] → server emits "question" payload to this socket with an ack, then
//                              emits "answer" with the reply args (or "answer-error" with the message)
//   count cb                → acks the number of events this socket received so far
//   server-disconnect       → the server disconnects this socket (client sees "io server disconnect")
//   close-transport         → the server closes the whole Engine.IO connection
//   drop-and-emit [n]       → closes the Engine.IO connection, then emits n "missed" events to all
//                             (with --recovery the client must get them replayed after reconnecting)
//   tick [n]                → emits n "tick" events (with --recovery they carry offsets)
//   big n                   → emits "big" with a string of n bytes
//   send-binary             → emits "bin" {data: <Buffer 01 02 03>}
//   flaky ...args, cb       → acks ("ok", n) only on every third delivery n
"use strict";

const http = require("http");
const { Server } = require("socket.io");

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};

const options = {
  pingInterval: Number(opt("--ping-interval", 25000)),
  pingTimeout: Number(opt("--ping-timeout", 20000)),
  maxHttpBufferSize: 1e6,
};
if (flag("--msgpack")) {
  options.parser = require("socket.io-msgpack-parser");
}
if (flag("--recovery")) {
  options.connectionStateRecovery = { maxDisconnectionDuration: 60000, skipMiddlewares: true };
}

const httpServer = http.createServer();
const io = new Server(httpServer, options);

function report(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function setup(nsp) {
  nsp.on("connection", (socket) => {
    let received = 0;
    report({
      connection: nsp.name,
      id: socket.id,
      auth: socket.handshake.auth,
      recovered: socket.recovered,
      transport: socket.conn.transport.name,
    });
    socket.onAny(() => {
      received++;
    });
    socket.on("disconnect", (reason) => report({ disconnect: nsp.name, reason }));
    socket.on("echo", (...a) => socket.emit("echo", ...a));
    socket.on("ack", (...a) => {
      const cb = a.pop();
      if (typeof cb === "function") cb(...a);
    });
    socket.on("whoami", (cb) =>
      cb({
        id: socket.id,
        nsp: nsp.name,
        auth: socket.handshake.auth,
        recovered: socket.recovered,
        transport: socket.conn.transport.name,
        clientsCount: io.engine.clientsCount,
        query: socket.handshake.query,
        headers: socket.handshake.headers,
      }),
    );
    socket.on("stats", (cb) => {
      const sockets = {};
      for (const [name, n] of io._nsps) sockets[name] = n.sockets.size;
      cb({ clientsCount: io.engine.clientsCount, sockets });
    });
    socket.on("count", (cb) => cb(received));
    socket.on("ask", (payload, timeoutMs) => {
      socket.timeout(timeoutMs || 5000).emit("question", payload, (err, ...reply) => {
        if (err) socket.emit("answer-error", err.message);
        else socket.emit("answer", ...reply);
      });
    });
    socket.on("server-disconnect", () => socket.disconnect());
    // Acks only every third delivery, to exercise the client's retries.
    let flaky = 0;
    socket.on("flaky", (...a) => {
      const cb = a.pop();
      flaky++;
      report({ flaky, args: a });
      if (flaky % 3 === 0 && typeof cb === "function") cb("ok", flaky);
    });
    socket.on("close-transport", () => socket.conn.close());
    socket.on("drop-and-emit", (n) => {
      socket.conn.close();
      for (let i = 1; i <= (n || 1); i++) io.emit("missed", i);
    });
    socket.on("big", (n) => socket.emit("big", "x".repeat(n)));
    socket.on("send-binary", () => socket.emit("bin", { data: Buffer.from([1, 2, 3]) }));
    socket.on("tick", (n) => {
      for (let i = 1; i <= (n || 1); i++) socket.emit("tick", i);
    });
  });
}

setup(io.of("/"));
setup(io.of("/admin"));
setup(io.of("/chat"));
const refused = io.of("/refused");
refused.use((socket, next) => {
  const err = new Error("not authorized");
  err.data = { code: 42 };
  next(err);
});
setup(refused);

httpServer.listen(Number(opt("--port", 0)), "127.0.0.1", () => {
  report_listening();
});

function report_listening() {
  process.stdout.write(`listening ${httpServer.address().port}\n`);
}

// Exit when the test harness goes away (stdin closes), so no orphan servers linger.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
