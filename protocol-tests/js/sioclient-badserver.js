// A misbehaving Socket.IO server for the Rust client's bad-input tests: a plain npm engine.io
// server at /socket.io/ that answers the client's CONNECT wrongly.
//
// usage: node sioclient-badserver.js MODE
//   garbage           answers CONNECT properly, then sends "2garbage" (invalid packet)
//   bad-binary        answers CONNECT, then sends a binary message nobody announced
//   no-sid            answers CONNECT with "40" (no sid: a Socket.IO v2-style answer)
//   silent            never answers CONNECT
//   huge-attachments  answers CONNECT, then announces 1000 attachments
// Prints `listening <port>`, then {"connection": n} for each Engine.IO connection.
"use strict";

const http = require("http");
const engine = require("engine.io");

const mode = process.argv[2] || "garbage";
const httpServer = http.createServer();
const server = engine.attach(httpServer, { path: "/socket.io/" });
let connections = 0;

server.on("connection", (socket) => {
  connections++;
  process.stdout.write(JSON.stringify({ connection: connections }) + "\n");
  socket.on("message", (data) => {
    if (typeof data !== "string" || !data.startsWith("0")) return;
    switch (mode) {
      case "garbage":
        socket.send('0{"sid":"bad1"}');
        setTimeout(() => socket.send("2garbage"), 100);
        break;
      case "bad-binary":
        socket.send('0{"sid":"bad2"}');
        setTimeout(() => socket.send(Buffer.from([1, 2, 3])), 100);
        break;
      case "no-sid":
        socket.send("0");
        break;
      case "huge-attachments":
        socket.send('0{"sid":"bad3"}');
        setTimeout(() => socket.send('51000-["x",{"_placeholder":true,"num":0}]'), 100);
        break;
      case "silent":
      default:
        break;
    }
  });
});

httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(`listening ${httpServer.address().port}\n`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
