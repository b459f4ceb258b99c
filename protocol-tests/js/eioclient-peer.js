// The npm `engine.io` 6.6 server as the peer of our `engine-io-client` tests.
//
// Usage: node eioclient-peer.js [options]
//   --port N               port on 127.0.0.1 (default 0 = a free port)
//   --name NAME            this node's name, reported by `cmd:info` (for the load-balancer test)
//   --ping-interval MS     default 25000
//   --ping-timeout MS      default 20000
//   --max-buffer BYTES     maxHttpBufferSize (default 1e6)
//   --transports LIST      comma-separated (default polling,websocket)
//   --no-upgrades          allowUpgrades: false
//   --cookie               cookie: true (the `io` cookie on the handshake)
//   --path PATH            default /engine.io
//   --tls CERT KEY         serve HTTPS/WSS with this PEM certificate chain and key
//
// Prints `listening <port>`. Every message is echoed back as is (text as text, binary as binary),
// except these text commands:
//   cmd:info      -> JSON {"node", "sid", "transport"}
//   cmd:requests  -> JSON list of {"method","url","transport","cookie","headers"} for every
//                    HTTP request of this session seen so far (the handshake included)
//   cmd:close     -> the server closes the session
//   cmd:burst N   -> sends N text messages "burst <i>" at once
// Prints `close <sid> <reason>` when a session closes and `post-bytes <n>` for every POST body.
// Exits when stdin ends (the test process went away).
"use strict";

const fs = require("fs");
const http = require("http");
const https = require("https");
const { Server } = require("engine.io");

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const value = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

const node = value("--name") ?? "node";
const options = {
  pingInterval: Number(value("--ping-interval") ?? 25000),
  pingTimeout: Number(value("--ping-timeout") ?? 20000),
  maxHttpBufferSize: Number(value("--max-buffer") ?? 1e6),
  transports: (value("--transports") ?? "polling,websocket").split(","),
  allowUpgrades: !flag("--no-upgrades"),
  cookie: flag("--cookie"),
};

// Every HTTP request, by session id (the handshake is filed once the sid is known).
const requests = new Map();
const record = (sid, req) => {
  if (!requests.has(sid)) requests.set(sid, []);
  const url = new URL(req.url, "http://x");
  requests.get(sid).push({
    method: req.method,
    url: req.url,
    transport: url.searchParams.get("transport"),
    cookie: req.headers.cookie ?? null,
    headers: req.headers,
  });
};

const tls = args.indexOf("--tls");
const httpServer =
  tls >= 0
    ? https.createServer({ cert: fs.readFileSync(args[tls + 1]), key: fs.readFileSync(args[tls + 2]) })
    : http.createServer();
const engine = new Server(options);
engine.attach(httpServer, { path: value("--path") ?? "/engine.io" });

httpServer.prependListener("request", (req) => {
  if (req.method === "POST") {
    let n = 0;
    req.on("data", (chunk) => (n += chunk.length));
    req.on("end", () => console.log(`post-bytes ${n}`));
  }
  const sid = new URL(req.url, "http://x").searchParams.get("sid");
  if (sid) record(sid, req);
});
// Only with WebSocket enabled: an `upgrade` listener makes Node hand upgrade requests to it
// (without one, Node refuses them), so this one must not exist when engine.io does not listen.
if (options.transports.includes("websocket")) {
  httpServer.prependListener("upgrade", (req) => {
    const sid = new URL(req.url, "http://x").searchParams.get("sid");
    if (sid) record(sid, req);
  });
}

engine.on("connection", (socket) => {
  // The handshake request (no sid yet when it arrived).
  const list = requests.get(socket.id) ?? [];
  record(socket.id, socket.request);
  const handshake = requests.get(socket.id).pop();
  requests.set(socket.id, [handshake, ...list]);

  socket.on("message", (data) => {
    if (typeof data === "string" && data.startsWith("cmd:")) {
      const [cmd, arg] = data.slice(4).split(" ");
      switch (cmd) {
        case "info":
          socket.send(JSON.stringify({ node, sid: socket.id, transport: socket.transport.name }));
          return;
        case "requests":
          socket.send(JSON.stringify(requests.get(socket.id) ?? []));
          return;
        case "close":
          socket.close();
          return;
        case "burst":
          for (let i = 0; i < Number(arg); i++) socket.send(`burst ${i}`);
          return;
      }
    }
    socket.send(data);
  });
  socket.on("close", (reason) => {
    console.log(`close ${socket.id} ${reason}`);
    requests.delete(socket.id);
  });
});

httpServer.listen(Number(value("--port") ?? 0), "127.0.0.1", () => {
  console.log(`listening ${httpServer.address().port}`);
});

process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
