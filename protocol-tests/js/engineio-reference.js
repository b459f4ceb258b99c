// The npm `engine.io` 6.6 server with the settings of our `engine-io/examples/conformance_server.rs`,
// so the same conformance tests run against both (proving the tests describe the reference).
//
// Usage: node engineio-reference.js [--port N] [--allow-eio3] [--cookie] [--refuse-header NAME]
//   --port N              port on 127.0.0.1 (default: $PORT or 0 = a free port)
//   --allow-eio3          accept Engine.IO v3 clients (allowEIO3)
//   --cookie              set the `io` cookie on the handshake (cookie: true)
//   --refuse-header NAME  allowRequest refuses (403, code 4) requests carrying header NAME, with the
//                         message "refused by allowRequest"
// Prints `listening <port>` once ready; echoes every message (text and binary) back; prints
// `close <sid> <reason>` when a socket closes. Exits when stdin ends (the test process went away).
"use strict";

const http = require("http");
const { Server } = require("engine.io");

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const value = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

const port = Number(value("--port") ?? process.env.PORT ?? 0);
const refuseHeader = value("--refuse-header");

const options = {
  pingInterval: 300,
  pingTimeout: 200,
  maxHttpBufferSize: 1e6,
  cors: { origin: "*" },
  allowEIO3: flag("--allow-eio3"),
  cookie: flag("--cookie"),
};
if (refuseHeader) {
  const name = refuseHeader.toLowerCase();
  options.allowRequest = (req, callback) => {
    if (req.headers[name] !== undefined) {
      callback("refused by allowRequest", false);
    } else {
      callback(null, true);
    }
  };
}

const httpServer = http.createServer();
const engine = new Server(options);
engine.attach(httpServer, { path: "/engine.io" });

engine.on("connection", (socket) => {
  socket.on("message", (data) => socket.send(data));
  socket.on("close", (reason) => console.log(`close ${socket.id} ${reason}`));
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`listening ${httpServer.address().port}`);
});

process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
