// A Node.js Socket.IO 4.8 cluster node with @socket.io/redis-adapter 8.3 (redis 4 client), or
// with @socket.io/redis-streams-adapter 0.3.1 (mode "streams").
//
//   node redis-node-server.js <redis-url> [classic|sharded|streams] [node-name] [recovery]
//
// "recovery" turns connection state recovery on (maxDisconnectionDuration 2 minutes); a
// recovered socket keeps its restored data and rooms.
//
// Prints `listening <port>`, then JSON lines:
//   {"type":"server-side","node","nsp","event","args"}   a serverSideEmit from another node
//                                                         (acked with "<node>-ack" when asked)
//   {"reply":<id>,"result"|"error"}                       the answer to a command
// Commands are JSON lines on stdin: {"id", "op", "nsp"?, ...}:
//   broadcast {rooms, except, event, args, flags?}   io.of(nsp).to(rooms).except(except).emit(...)
//   broadcastAck {rooms, except, event, args, timeout}
//   fetch {rooms, except}       -> [{id, rooms, data, handshake}]
//   join/leave {rooms, except, room}; disconnect {rooms, except, close}
//   sse {event, args}; sseAck {event, args, timeout} -> responses
//   serverCount -> n; allRooms -> [rooms]; sockets {rooms} -> [ids]
// Clients joining: auth {name, rooms: [...]} -> socket.data.name and socket.join(rooms).
"use strict";
const http = require("http");
const { Server } = require("socket.io");
const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
const { createAdapter: createStreamsAdapter } = require("@socket.io/redis-streams-adapter");
const { createClient } = require("redis");
const readline = require("readline");

const [redisUrl, mode = "classic", name = "node", recovery] = process.argv.slice(2);

const { toPlain, fromPlain } = require("./plain");
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

async function main() {
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  pub.on("error", () => {});
  sub.on("error", () => {});
  await Promise.all([pub.connect(), sub.connect()]);
  const adapter =
    mode === "sharded"
      ? createShardedAdapter(pub, sub)
      : mode === "streams"
        ? createStreamsAdapter(pub)
        : createAdapter(pub, sub);
  const httpServer = http.createServer();
  const options = { adapter, pingInterval: 2000, pingTimeout: 2000 };
  if (recovery === "recovery") {
    options.connectionStateRecovery = { maxDisconnectionDuration: 120000, skipMiddlewares: true };
  }
  const io = new Server(httpServer, options);
  for (const nspName of ["/", "/admin"]) {
    const nsp = io.of(nspName);
    nsp.on("connection", (socket) => {
      if (socket.recovered) return;
      const auth = socket.handshake.auth || {};
      socket.data = { name: auth.name || null, node: name };
      if (Array.isArray(auth.rooms)) socket.join(auth.rooms);
    });
    for (const event of ["hello", "ping"]) {
      nsp.on(event, (...args) => {
        const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
        out({ type: "server-side", node: name, nsp: nspName, event, args: toPlain(args) });
        if (cb) cb(`${name}-ack`);
      });
    }
  }
  const target = (nsp, c) => {
    let op = io.of(nsp || "/");
    if (c.rooms && c.rooms.length) op = op.to(c.rooms);
    if (c.except && c.except.length) op = op.except(c.except);
    return op;
  };
  const commands = {
    broadcast: (c) => {
      let op = target(c.nsp, c);
      if (c.flags && c.flags.volatile) op = op.volatile;
      if (c.flags && c.flags.local) op = op.local;
      op.emit(c.event, ...fromPlain(c.args || []));
      return true;
    },
    broadcastAck: (c) =>
      new Promise((resolve) => {
        target(c.nsp, c)
          .timeout(c.timeout || 2000)
          .emit(c.event, ...fromPlain(c.args || []), (err, responses) =>
            resolve({ err: err ? err.message : null, responses: toPlain(responses) })
          );
      }),
    fetch: async (c) =>
      (await target(c.nsp, c).fetchSockets()).map((s) => ({
        id: s.id,
        rooms: [...s.rooms].sort(),
        data: s.data,
        handshake: { auth: s.handshake.auth, address: s.handshake.address },
      })),
    join: (c) => target(c.nsp, c).socketsJoin(c.room),
    leave: (c) => target(c.nsp, c).socketsLeave(c.room),
    disconnect: (c) => target(c.nsp, c).disconnectSockets(!!c.close),
    sse: (c) => io.of(c.nsp || "/").serverSideEmit(c.event, ...fromPlain(c.args || [])),
    sseAck: (c) =>
      io.of(c.nsp || "/").serverSideEmitWithAck(c.event, ...fromPlain(c.args || [])),
    serverCount: (c) => io.of(c.nsp || "/").adapter.serverCount(),
    allRooms: async (c) => [...(await io.of(c.nsp || "/").adapter.allRooms())].sort(),
    sockets: async (c) => [...(await io.of(c.nsp || "/").adapter.sockets(new Set(c.rooms || [])))].sort(),
  };
  readline.createInterface({ input: process.stdin }).on("line", async (line) => {
    if (!line.trim()) return;
    let c;
    try {
      c = JSON.parse(line);
      const result = await commands[c.op](c);
      out({ reply: c.id, result: result === undefined ? null : result });
    } catch (e) {
      out({ reply: c && c.id, error: String(e && e.message ? e.message : e) });
    }
  });
  // The test's stdin closing means the test is gone.
  process.stdin.on("end", () => process.exit(0));
  httpServer.listen(0, "127.0.0.1", () => console.log(`listening ${httpServer.address().port}`));
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
