// Interop scenarios of the npm socket.io-client 4.8 (and 2.x for `eio3`) against a Socket.IO
// server started with `--interop` (js/socketio-reference.js or our conformance_server example).
//
// Usage: node socketio-client-interop.js SCENARIO URL
// Prints one JSON line: {"ok": true, ...observations} or {"ok": false, "error": "..."}; the Rust
// test (protocol-tests/tests/socketio/socketio_interop.rs) asserts on the observations.
// Every wait is bounded; the whole script gives up after 15 s.
"use strict";

const [scenario, url] = process.argv.slice(2);
const TIMEOUT = 15000;
const sockets = [];

function done(result) {
  console.log(JSON.stringify({ ok: true, ...result }));
  for (const s of sockets) s.disconnect && s.disconnect();
  process.exit(0);
}
function fail(err) {
  console.log(JSON.stringify({ ok: false, error: String(err && err.stack ? err.stack : err) }));
  process.exit(1);
}
setTimeout(() => fail(`scenario ${scenario} timed out`), TIMEOUT).unref();

function connect(nsp, opts = {}) {
  const { io } = require("socket.io-client");
  const s = io(url + nsp, { reconnection: false, ...opts });
  sockets.push(s);
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
// Emits with an ack and resolves with every argument of the answer (emitWithAck keeps only the first).
const ackAll = (s, ...args) =>
  new Promise((resolve, reject) =>
    s.timeout(3000).emit(...args, (err, ...resp) => (err ? reject(err) : resolve(resp))),
  );
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const hex = (b) => Buffer.from(b).toString("hex");

// Collects every event a socket receives (catch-all), for broadcast checks.
function recorder(s) {
  const got = [];
  s.onAny((event, ...args) => got.push([event, ...args]));
  return got;
}

const scenarios = {
  // One client per transport setting: events, acks, final transport.
  async basic(transports) {
    const s = connect("/", transports ? { transports } : {});
    const [auth] = await once(s, "auth");
    if (!transports) {
      // Default settings: starts with polling, then upgrades.
      await new Promise((resolve) => {
        if (s.io.engine.transport.name === "websocket") return resolve();
        s.io.engine.once("upgrade", resolve);
      });
    }
    s.emit("message", 1, "two", { three: [true] });
    const back = await once(s, "message-back");
    const ack = await ackAll(s, "message-with-ack", "a", { b: 2 });
    // Several events in a row arrive in order.
    const order = [];
    s.on("message-back", (n) => order.push(n));
    for (let i = 0; i < 50; i++) s.emit("message", i);
    while (order.length < 50) await sleep(10);
    return {
      auth,
      back,
      ack,
      transport: s.io.engine.transport.name,
      inOrder: order.every((n, i) => n === i),
      id: typeof s.id,
    };
  },

  async "basic-polling"() {
    return scenarios.basic(["polling"]);
  },
  async "basic-websocket"() {
    return scenarios.basic(["websocket"]);
  },
  async "basic-upgrade"() {
    return scenarios.basic(undefined);
  },

  // Several namespaces over one Engine.IO connection.
  async multiplex() {
    const main = connect("/", { auth: { who: "main" } });
    const custom = connect("/custom", { auth: { who: "custom" } });
    // Both listeners first: the two namespaces' "auth" events may arrive in either order.
    const [[mainAuth], [customAuth]] = await Promise.all([once(main, "auth"), once(custom, "auth")]);
    const mainRooms = await main.timeout(2000).emitWithAck("join", "m");
    const customRooms = await custom.timeout(2000).emitWithAck("join", "c");
    const mainWho = await main.timeout(2000).emitWithAck("whoami");
    const customWho = await custom.timeout(2000).emitWithAck("whoami");
    return {
      sameManager: main.io === custom.io,
      sameEngine: main.io.engine === custom.io.engine,
      mainAuth,
      customAuth,
      mainRooms,
      customRooms,
      mainNsp: mainWho.nsp,
      customNsp: customWho.nsp,
      distinctIds: main.id !== custom.id,
    };
  },

  // Binary in both directions, nested, in events and acks.
  async binary() {
    const s = connect("/", { transports: ["websocket"] });
    await once(s, "auth");
    s.emit("message", Buffer.from([1, 2, 3]), { nested: [Buffer.from([4, 5])], n: 1 });
    const [b1, obj] = await once(s, "message-back");
    const ack = await s.timeout(2000).emitWithAck("message-with-ack", Buffer.alloc(1000, 7));
    // The server asks us with binary arguments and we answer with binary.
    s.on("question", (buf, cb) => cb(Buffer.concat([Buffer.from(buf), Buffer.from([0xff])])));
    const asked = await s
      .timeout(3000)
      .emitWithAck("ask-client", "question", [Buffer.from([10, 11])], 2000);
    // Over polling too (base64 in the payload).
    const p = connect("/", { transports: ["polling"], forceNew: true });
    await once(p, "auth");
    p.emit("message", Buffer.from([0, 255]));
    const [pb] = await once(p, "message-back");
    return {
      b1: hex(b1),
      nested: hex(obj.nested[0]),
      n: obj.n,
      ackLen: ack.length,
      ackOk: Buffer.from(ack).equals(Buffer.alloc(1000, 7)),
      askedErr: asked.err,
      asked: hex(asked.resp[0]),
      polling: hex(pb),
    };
  },

  // Acks both ways, with timeouts.
  async acks() {
    const s = connect("/");
    await once(s, "auth");
    const answered = await s.timeout(2000).emitWithAck("message-with-ack", 1, "x");
    let clientTimeout = null;
    const t0 = Date.now();
    try {
      // Nobody acks "nobody-listens": the client's timeout fires.
      await s.timeout(300).emitWithAck("nobody-listens", 1);
    } catch (e) {
      clientTimeout = e.message;
    }
    const clientTimeoutMs = Date.now() - t0;
    s.on("question", (a, b, cb) => cb(a + b));
    const serverAsk = await s.timeout(3000).emitWithAck("ask-client", "question", [2, 3], 2000);
    s.on("silent", () => {});
    const serverTimeout = await s.timeout(3000).emitWithAck("ask-client", "silent", [], 300);
    // Callback style.
    const cbStyle = await new Promise((resolve) =>
      s.emit("message-with-ack", "cb", (...args) => resolve(args)),
    );
    return { answered, clientTimeout, clientTimeoutMs, serverAsk, serverTimeout, cbStyle };
  },

  // Rooms and broadcasts with except.
  async rooms() {
    const opts = { forceNew: true, transports: ["websocket"] };
    const a = connect("/", opts);
    const b = connect("/", opts);
    const c = connect("/", opts);
    await Promise.all([once(a, "auth"), once(b, "auth"), once(c, "auth")]);
    const got = { a: recorder(a), b: recorder(b), c: recorder(c) };
    const joins = {
      a: await a.timeout(2000).emitWithAck("join", ["r1"]),
      b: await b.timeout(2000).emitWithAck("join", ["r1", "r2"]),
      c: await c.timeout(2000).emitWithAck("join", "r2"),
    };
    const cast = (s, ev, body) => s.timeout(2000).emitWithAck(ev, body);
    await cast(a, "server-broadcast", { rooms: ["r1"], event: "e1", args: [1] });
    await cast(a, "socket-broadcast", { rooms: ["r1"], event: "e2", args: [2] });
    await cast(a, "server-broadcast", { rooms: ["r1", "r2"], except: ["r2"], event: "e3", args: [3] });
    await cast(a, "server-broadcast", { except: ["r1"], event: "e4", args: [4] });
    await cast(c, "socket-broadcast", { event: "e5", args: [5, { x: Buffer.from([5]) }] });
    const bLeft = await b.timeout(2000).emitWithAck("leave", "r1");
    await cast(a, "server-broadcast", { rooms: ["r1"], event: "e6", args: [6] });
    // A broadcast to a socket's own id reaches only it.
    await cast(a, "server-broadcast", { rooms: [b.id], event: "e7", args: [7] });
    // Marker to everyone, then wait until all three saw it: everything before it has arrived.
    await cast(a, "server-broadcast", { event: "end", args: [] });
    const seen = (g) => g.some((e) => e[0] === "end");
    for (let i = 0; i < 200 && !(seen(got.a) && seen(got.b) && seen(got.c)); i++) await sleep(10);
    const names = (g) => g.map((e) => e[0]).filter((n) => n !== "auth");
    const e5 = got.a.find((e) => e[0] === "e5");
    return {
      joins,
      bLeft,
      a: names(got.a),
      b: names(got.b),
      c: names(got.c),
      e5Binary: e5 ? hex(e5[2].x) : null,
    };
  },

  // A broadcast with acks: one answer per recipient; a silent recipient makes it time out.
  async "broadcast-ack"() {
    const opts = { forceNew: true, transports: ["websocket"] };
    const a = connect("/", opts);
    const b = connect("/", opts);
    const c = connect("/", opts);
    await Promise.all([once(a, "auth"), once(b, "auth"), once(c, "auth")]);
    a.on("poll", (n, cb) => cb(n + 1));
    b.on("poll", (n, cb) => cb(n + 2));
    c.on("poll", () => {}); // never answers
    await a.timeout(2000).emitWithAck("join", "q");
    await b.timeout(2000).emitWithAck("join", "q");
    const ask = (rooms, timeout) =>
      a.timeout(5000).emitWithAck("broadcast-with-ack", { rooms, event: "poll", args: [10], timeout });
    const answered = await ask(["q"], 2000);
    answered.resp.sort((x, y) => x - y);
    const t0 = Date.now();
    const empty = await ask(["nobody-here"], 2000);
    const emptyMs = Date.now() - t0;
    await c.timeout(2000).emitWithAck("join", "q");
    const timedOut = await ask(["q"], 300);
    return { answered, empty, emptyFast: emptyMs < 1000, timedOut: timedOut.err };
  },

  // Handshake data seen by the server, and a disconnection decided by the server.
  async lifecycle() {
    const s = connect("/", { query: { foo: "bar" }, auth: { token: 7 }, reconnection: true });
    await once(s, "auth");
    const who = await s.timeout(2000).emitWithAck("whoami");
    const idMatches = who.id === s.id;
    const disconnected = once(s, "disconnect");
    s.emit("server-disconnect");
    const [reason] = await disconnected;
    // After "io server disconnect" the client does not reconnect by itself.
    await sleep(300);
    return {
      query: who.query,
      auth: who.auth,
      idMatches,
      recovered: who.recovered,
      reason,
      active: s.active,
    };
  },

  // A namespace middleware refusing with data.
  async middleware() {
    const bad = connect("/restricted", { auth: { token: "wrong" } });
    const [err] = await once(bad, "connect_error");
    const good = connect("/restricted", { auth: { token: "secret" }, forceNew: true });
    const [auth] = await once(good, "auth");
    const badActive = bad.active;
    return { message: err.message, data: err.data, auth, goodConnected: good.connected, badActive };
  },

  // An async per-packet middleware: passes, renames, refuses (with and without an ack), and
  // wraps a slow handler.
  async "packet-middleware"() {
    const s = connect("/packet-mw");
    await once(s, "connect");
    const got = recorder(s);
    const echo = await s.timeout(2000).emitWithAck("echo", 1);
    const renamed = await s.timeout(2000).emitWithAck("old-name", 2);
    let refusedAck;
    try {
      refusedAck = { answer: await s.timeout(1000).emitWithAck("forbidden", 3) };
    } catch (e) {
      refusedAck = { error: e.message };
    }
    s.emit("forbidden", 4);
    s.emit("slow");
    for (let i = 0; i < 100 && !got.some(([e]) => e === "handled"); i++) await sleep(10);
    await sleep(200);
    const errors = got.filter(([e]) => e === "mw-error").map(([, m]) => m);
    const order = got.filter(([e]) => e === "handled" || e === "after").map(([e]) => e);
    return { echo, renamed, refusedAck, errors, order, connected: s.connected };
  },

  // Dynamic namespaces by pattern; a parent broadcast reaches every child.
  async dynamic() {
    const x = connect("/dyn-abc");
    const y = connect("/dyn-xyz");
    // Both listeners before the first await: x and y share one Manager, so both welcomes can
    // arrive in one polling payload and be emitted in the same tick, before `once(y)` would run.
    const [[wx], [wy]] = await Promise.all([once(x, "welcome"), once(y, "welcome")]);
    const bad = connect("/dyn-NOPE!");
    const [err] = await once(bad, "connect_error");
    const gotY = [];
    y.on("from-parent", (v) => gotY.push(v));
    const gotX = [];
    x.on("from-parent", (v) => gotX.push(v));
    await x.timeout(2000).emitWithAck("server-broadcast", { parent: true, event: "from-parent", args: ["hi"] });
    for (let i = 0; i < 200 && (gotX.length < 1 || gotY.length < 1); i++) await sleep(10);
    const who = await y.timeout(2000).emitWithAck("whoami");
    return { wx, wy, invalid: err.message, gotX, gotY, nsp: who.nsp };
  },

  // Connection state recovery (server started with --recovery): a forced transport close, missed
  // broadcasts replayed on reconnection.
  async recovery() {
    const opts = {
      forceNew: true,
      transports: ["websocket"],
      reconnection: true,
      reconnectionDelay: 400,
      reconnectionDelayMax: 400,
      randomizationFactor: 0,
    };
    const a = connect("/", opts);
    const b = connect("/", { forceNew: true, transports: ["websocket"] });
    await Promise.all([once(a, "auth"), once(b, "auth")]);
    const firstId = a.id;
    const got = [];
    a.on("news", (n) => got.push(n));
    await a.timeout(2000).emitWithAck("join", "news-room");
    await b.timeout(2000).emitWithAck("server-broadcast", { rooms: ["news-room"], event: "news", args: [1] });
    for (let i = 0; i < 200 && got.length < 1; i++) await sleep(10);
    const disconnected = once(a, "disconnect");
    a.io.engine.close(); // what the npm client's own tests do to simulate a lost connection
    const [reason] = await disconnected;
    await sleep(50);
    await b.timeout(2000).emitWithAck("server-broadcast", { rooms: ["news-room"], event: "news", args: [2] });
    await b.timeout(2000).emitWithAck("server-broadcast", { rooms: ["news-room"], event: "news", args: [3] });
    await once(a, "connect", 5000);
    for (let i = 0; i < 200 && got.length < 3; i++) await sleep(10);
    const who = await a.timeout(2000).emitWithAck("whoami");
    a.io.opts.reconnection = false;
    return {
      reason,
      recovered: a.recovered,
      sameId: a.id === firstId,
      got,
      rooms: who.rooms,
      serverRecovered: who.recovered,
    };
  },

  // The msgpack parser (server started with --msgpack).
  async msgpack() {
    const parser = require("socket.io-msgpack-parser");
    const s = connect("/", { parser, auth: { token: "mp" } });
    const [auth] = await once(s, "auth");
    s.emit("message", 1, "two", { b: Buffer.from([1, 2, 3]) });
    const back = await once(s, "message-back");
    const ack = await ackAll(s, "message-with-ack", [1, 2], Buffer.from([9]));
    const custom = connect("/custom", { parser });
    const [customAuth] = await once(custom, "auth");
    const bad = connect("/nope", { parser, forceNew: true });
    const [err] = await once(bad, "connect_error");
    return {
      auth,
      back: [back[0], back[1], hex(back[2].b)],
      ack: [ack[0], hex(ack[1])],
      customAuth,
      invalid: err.message,
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
