// The npm `engine.io` 6.6 server with the settings and flags of our
// `engine-io/examples/conformance_server.rs`, so the same conformance tests run against both
// (which proves the tests describe the reference).
//
// Settings: 127.0.0.1, path /engine.io, pingInterval 300 ms, pingTimeout 200 ms,
// maxHttpBufferSize 1e6, CORS origin *; echoes every message (text and binary) back.
// Flags (the same as the Rust example):
//   --port N                     port (default: $PORT or 0 = a free port)
//   --allow-eio3                 allowEIO3: true
//   --cookie                     cookie: true (io=<sid>; Path=/; HttpOnly; SameSite=Lax)
//   --deny-header NAME           allowRequest refuses handshakes carrying header NAME with "denied"
//   --ping-interval MS, --ping-timeout MS, --upgrade-timeout MS, --max-http-buffer-size BYTES
//   --transports polling,websocket
//   --initial-packet TEXT        initialPacket
//   --no-upgrades                allowUpgrades: false
//   --no-compression             httpCompression: false
//   --cors-credentials           CORS reflecting the request origin, with credentials
//   --close-on TEXT              a text message equal to TEXT is not echoed: the server closes
//                                that socket (socket.close()), to test server-initiated closes
// Prints `listening <port>` once ready and `close <sid> <reason>` when a socket closes.
// Exits when stdin ends (the test process went away).
"use strict";

const http = require("http");
const { Server } = require("engine.io");

const options = {
  pingInterval: 300,
  pingTimeout: 200,
  maxHttpBufferSize: 1e6,
  cors: { origin: "*" },
};
let port = Number(process.env.PORT ?? 0);
let closeOn;

const usage = (msg) => {
  console.error(`engineio-reference: ${msg}`);
  process.exit(2);
};
const args = process.argv.slice(2);
const next = (name) => {
  if (args.length === 0) usage(`${name} needs a value`);
  return args.shift();
};
const num = (name) => {
  const n = Number(next(name));
  if (!Number.isFinite(n)) usage(`${name} needs a number`);
  return n;
};
while (args.length > 0) {
  const arg = args.shift();
  switch (arg) {
    case "--port": port = num(arg); break;
    case "--allow-eio3": options.allowEIO3 = true; break;
    case "--cookie": options.cookie = true; break;
    case "--deny-header": {
      const name = next(arg).toLowerCase();
      options.allowRequest = (req, callback) => {
        if (req.headers[name] !== undefined) callback("denied", false);
        else callback(null, true);
      };
      break;
    }
    case "--ping-interval": options.pingInterval = num(arg); break;
    case "--ping-timeout": options.pingTimeout = num(arg); break;
    case "--upgrade-timeout": options.upgradeTimeout = num(arg); break;
    case "--max-http-buffer-size": options.maxHttpBufferSize = num(arg); break;
    case "--transports": options.transports = next(arg).split(",").map((t) => t.trim()); break;
    case "--initial-packet": options.initialPacket = next(arg); break;
    case "--no-upgrades": options.allowUpgrades = false; break;
    case "--no-compression": options.httpCompression = false; break;
    case "--cors-credentials": options.cors = { origin: true, credentials: true }; break;
    case "--close-on": closeOn = next(arg); break;
    default: usage(`unknown argument ${arg}`);
  }
}

const httpServer = http.createServer();
const engine = new Server(options);
engine.attach(httpServer, { path: "/engine.io" });

engine.on("connection", (socket) => {
  socket.on("message", (data) => {
    if (closeOn !== undefined && data === closeOn) socket.close();
    else socket.send(data);
  });
  socket.on("close", (reason) => console.log(`close ${socket.id} ${reason}`));
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`listening ${httpServer.address().port}`);
});

process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
