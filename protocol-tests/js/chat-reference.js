// The chat demo's server logic on the npm socket.io server: the twin of
// socketio-server/examples/chat.rs (same page, same events), so the headless browser test
// (chat-browser-test.js) can be proven against the reference too.
// Usage: node chat-reference.js [--port PORT]   (0 = a free port; prints `listening <port>`)
"use strict";
const fs = require("fs");
const path = require("path");
const { createServer } = require("http");
const { Server } = require("socket.io");

const argv = process.argv.slice(2);
const i = argv.indexOf("--port");
const port = i >= 0 ? Number(argv[i + 1]) : 3000;
const pageDir = path.join(__dirname, "../../socketio-server/examples/chat");
const files = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/index.html": ["index.html", "text/html; charset=utf-8"],
  "/chat.js": ["chat.js", "text/javascript; charset=utf-8"],
  "/chat.css": ["chat.css", "text/css; charset=utf-8"],
};
const http = createServer((req, res) => {
  const url = req.url.split("?")[0];
  let file;
  if (url === "/socket.io.min.js") {
    file = [path.join(__dirname, "node_modules/socket.io-client/dist/socket.io.min.js"), "text/javascript; charset=utf-8"];
  } else if (files[url]) {
    file = [path.join(pageDir, files[url][0]), files[url][1]];
  }
  if (!file) {
    res.writeHead(404).end("not found");
    return;
  }
  res.writeHead(200, { "content-type": file[1] }).end(fs.readFileSync(file[0]));
});
const io = new Server(http);
const valid = (s, max) => typeof s === "string" && s.trim().length > 0 && s.trim().length <= max;
const users = (room) =>
  [...(io.of("/").adapter.rooms.get(room) || [])]
    .map((id) => io.of("/").sockets.get(id))
    .filter((s) => s && s.data.name)
    .map((s) => s.data.name)
    .sort();
const roomList = () => {
  const out = new Map();
  for (const s of io.of("/").sockets.values()) {
    if (s.data.room) out.set(s.data.room, (out.get(s.data.room) || 0) + 1);
  }
  return [...out].map(([name, count]) => ({ name, count })).sort((a, b) => a.name.localeCompare(b.name));
};
function leave(socket) {
  const { name, room } = socket.data;
  if (!room) return;
  socket.leave(room);
  socket.data.room = null;
  socket.to(room).emit("system", `${name} left`);
  io.to(room).emit("users", users(room));
}
io.on("connection", (socket) => {
  socket.on("join", (msg, ack) => {
    if (typeof ack !== "function") return;
    const name = msg && msg.name;
    const room = msg && msg.room;
    if (!valid(name, 32) || !valid(room, 32)) return ack({ ok: false, error: "name and room: 1 to 32 characters" });
    leave(socket);
    socket.data.name = name.trim();
    socket.data.room = room.trim();
    socket.join(socket.data.room);
    socket.to(socket.data.room).emit("system", `${socket.data.name} joined`);
    socket.to(socket.data.room).emit("users", users(socket.data.room));
    ack({ ok: true, room: socket.data.room, users: users(socket.data.room), rooms: roomList() });
    socket.broadcast.emit("rooms", roomList());
  });
  socket.on("chat", (text, ack) => {
    if (typeof ack !== "function") return;
    if (!socket.data.room) return ack({ ok: false, error: "join a room first" });
    if (!valid(text, 500)) return ack({ ok: false, error: "a message is 1 to 500 characters" });
    io.to(socket.data.room).emit("chat", { name: socket.data.name, text: text.trim(), time: Date.now() });
    ack({ ok: true });
  });
  socket.on("disconnect", () => {
    leave(socket);
    io.emit("rooms", roomList());
  });
});
http.listen(port, "127.0.0.1", () => console.log(`listening ${http.address().port}`));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
