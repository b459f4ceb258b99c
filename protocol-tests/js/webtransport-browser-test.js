// The npm `socket.io-client` 4.8 in headless Chromium over WebTransport (see `cdp-browser.js` for
// the driver), against a server started with `--interop --webtransport` whose self-signed
// certificate is accepted through `serverCertificateHashes`.
//
// Usage: node webtransport-browser-test.js URL CERT_HASH_BASE64 (webtransport|upgrade)
//   webtransport: `transports: ["webtransport"]` (a session opened over WebTransport);
//   upgrade:      `transports: ["polling", "webtransport"]` (polling, then the upgrade).
// The page (served here, on another port: the server's CORS is `*`) checks binary, acks, the
// heartbeat, a 1 MB (1e6-byte) message, the limit (1e6 + 1 bytes closes the session) and a
// server-side close. Prints one JSON line {"ok": true, ...observations} or {"ok": false, "error"}.
"use strict";
const http = require("http");
const fs = require("fs");
const path = require("path");
const browserTest = require("./cdp-browser");

const [url, certHash, mode] = process.argv.slice(2);
const clientJs = fs.readFileSync(path.join(__dirname, "node_modules/socket.io-client/dist/socket.io.js"));

// A secure context (WebTransport needs one): http://127.0.0.1 is one.
const page = http.createServer((req, res) => {
  if (req.url === "/socket.io.js") {
    res.writeHead(200, { "content-type": "application/javascript" });
    return res.end(clientJs);
  }
  res.writeHead(200, { "content-type": "text/html" });
  res.end(`<!doctype html><title>wt</title><script src="/socket.io.js"></script>`);
});

// Runs in the page: connect, then every check; resolves with the observations.
const scenario = (url, certHash, mode) => `(async () => {
  const hash = Uint8Array.from(atob(${JSON.stringify(certHash)}), (c) => c.charCodeAt(0));
  const log = [];
  const transports = ${JSON.stringify(mode)} === "webtransport" ? ["webtransport"] : ["polling", "webtransport"];
  const connect = () => io(${JSON.stringify(url)}, {
    transports,
    forceNew: true,
    reconnection: false,
    transportOptions: { webtransport: { serverCertificateHashes: [{ algorithm: "sha-256", value: hash }] } },
  });
  const within = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(what + " timed out; log: " + log.join(" | "))), ms))]);
  const once = (s, ev) => new Promise((res) => s.once(ev, (...a) => res(a)));

  const socket = connect();
  socket.on("connect_error", (e) => log.push("connect_error " + e.message + " " + (e.description && e.description.message)));
  socket.io.on("error", (e) => log.push("manager error " + e));
  await within(once(socket, "connect"), 8000, "connect");
  const first = socket.io.engine.transport.name;
  if (${JSON.stringify(mode)} === "upgrade") {
    await within(once(socket.io.engine, "upgrade"), 8000, "upgrade");
  }
  const transport = socket.io.engine.transport.name;

  // Binary both ways, inside nested arguments.
  const bin = new Uint8Array([0, 1, 2, 253, 254, 255]);
  socket.emit("message", "text", { nested: bin }, 42);
  const back = await within(once(socket, "message-back"), 4000, "message-back");
  const binaryBack = back[0] === "text" && back[2] === 42 && Array.from(new Uint8Array(back[1].nested)).join(",") === "0,1,2,253,254,255";

  // An ack.
  const ack = await within(new Promise((res, rej) => socket.timeout(4000).emit("message-with-ack", "a", 1, bin, (err, ...args) => (err ? rej(err) : res(args)))), 5000, "ack");
  const ackOk = ack[0] === "a" && ack[1] === 1 && Array.from(new Uint8Array(ack[2])).join(",") === "0,1,2,253,254,255";

  // Heartbeat: pingInterval 300 ms; the session must live through several pings.
  let pings = 0;
  socket.io.engine.on("ping", () => pings++);
  await new Promise((r) => setTimeout(r, 1500));
  const aliveAfterHeartbeat = socket.connected && socket.io.engine.transport.name === transport;

  // 1 MB: a 1e6-byte buffer (the server's maxHttpBufferSize) is one frame, echoed back.
  const big = new Uint8Array(1000000);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  socket.emit("message", big);
  const bigBack = new Uint8Array((await within(once(socket, "message-back"), 10000, "1 MB echo"))[0]);
  let bigOk = bigBack.length === big.length;
  for (let i = 0; bigOk && i < big.length; i += 997) bigOk = bigBack[i] === i % 251;

  // The server closes: "server-disconnect".
  const closed = once(socket, "disconnect");
  socket.emit("server-disconnect");
  const [serverCloseReason] = await within(closed, 4000, "server close");

  // Over the limit (1e6 + 1 bytes in one frame): the server closes the session.
  const s2 = connect();
  await within(once(s2, "connect"), 8000, "second connect");
  if (${JSON.stringify(mode)} === "upgrade") await within(once(s2.io.engine, "upgrade"), 8000, "second upgrade");
  const closed2 = once(s2, "disconnect");
  s2.emit("message", new Uint8Array(1000001));
  const [overLimitReason, overLimitDetails] = await within(closed2, 4000, "close over the limit");
  // What the transport reported (a WebTransportError's message on "transport error").
  const d = overLimitDetails && overLimitDetails.description;
  const overLimitDetail = String(d ? (d.message || d) : overLimitDetails);

  // The client closes.
  const s3 = connect();
  await within(once(s3, "connect"), 8000, "third connect");
  const s3Transport = s3.io.engine.transport.name;
  const closed3 = once(s3, "disconnect");
  s3.disconnect();
  const [clientCloseReason] = await within(closed3, 2000, "client close");

  return { first, transport, binaryBack, ackOk, pings, aliveAfterHeartbeat, bigOk, serverCloseReason, overLimitReason, overLimitDetail, s3Transport, clientCloseReason, log };
})()`;

(async () => {
  await new Promise((r) => page.listen(0, "127.0.0.1", r));
  const pageUrl = `http://127.0.0.1:${page.address().port}/`;
  const endpoint = await browserTest.launch();
  const client = await browserTest.cdp(endpoint);
  const p = await browserTest.openPage(client, pageUrl);
  await p.waitFor(`typeof io === "function"`, "socket.io client loaded");
  const result = await p.evaluate(scenario(url, certHash, mode));
  page.close();
  browserTest.finish({ ok: true, ...result });
})().catch((e) => {
  page.close();
  browserTest.finish({ ok: false, error: String(e && e.stack ? e.stack : e) });
});
