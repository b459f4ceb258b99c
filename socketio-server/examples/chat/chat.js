// Chat page logic. Talks to the Rust server (socketio-server/examples/chat.rs) with the npm
// socket.io-client browser bundle. Events (namespace "/"):
//   emit "join" {name, room}, ack -> {ok, room, users, rooms} | {ok: false, error}
//   emit "chat" text, ack -> {ok} | {ok: false, error}
//   on "chat" {name, text, time}, on "system" text, on "users" [names], on "rooms" [{name, count}]
// ?name=…&room=… in the URL joins right away (the headless browser test uses it).
"use strict";
const $ = (id) => document.getElementById(id);
// Default options: HTTP long-polling first, then the upgrade to WebSocket.
const socket = io();
let joined = null;

function add(li) {
  $("messages").appendChild(li);
  li.scrollIntoView({ block: "end" });
}
function system(text) {
  const li = document.createElement("li");
  li.className = "system";
  li.textContent = text;
  add(li);
}
function setList(id, items, render) {
  const ul = $(id);
  ul.replaceChildren(...items.map((item) => {
    const li = document.createElement("li");
    render(li, item);
    return li;
  }));
}
function showUsers(users) {
  setList("users", users, (li, name) => { li.textContent = name; });
}
function showRooms(rooms) {
  setList("rooms", rooms, (li, r) => {
    li.textContent = `${r.name} (${r.count})`;
    li.dataset.room = r.name;
    if (joined && r.name === joined.room) li.className = "current";
    li.onclick = () => join($("name").value, r.name);
  });
}

function join(name, room) {
  if (!name || !room) return;
  socket.emit("join", { name, room }, (res) => {
    if (!res || !res.ok) return system(`could not join: ${res ? res.error : "no answer"}`);
    joined = { name, room: res.room };
    $("current-room").textContent = res.room;
    $("messages").replaceChildren();
    system(`you joined ${res.room} as ${name}`);
    showUsers(res.users);
    showRooms(res.rooms);
    $("message").disabled = false;
    $("send").querySelector("button").disabled = false;
    $("message").focus();
  });
}

socket.on("connect", () => {
  $("status").textContent = "connected";
  $("status").className = "status connected";
  // After a reconnection the server has forgotten us: join again.
  if (joined) join(joined.name, joined.room);
});
socket.on("disconnect", () => {
  $("status").textContent = "disconnected";
  $("status").className = "status";
});
socket.on("chat", ({ name, text }) => {
  const li = document.createElement("li");
  const from = document.createElement("span");
  from.className = "from";
  from.textContent = name;
  li.append(from, document.createTextNode(text));
  add(li);
});
socket.on("system", system);
socket.on("users", showUsers);
socket.on("rooms", showRooms);

$("join").addEventListener("submit", (e) => {
  e.preventDefault();
  join($("name").value.trim(), $("room").value.trim());
});
$("send").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("message").value.trim();
  if (!text) return;
  socket.emit("chat", text, (res) => {
    if (res && res.ok) $("message").value = "";
    else system(`not sent: ${res ? res.error : "no answer"}`);
  });
});

const params = new URLSearchParams(location.search);
if (params.get("name")) $("name").value = params.get("name");
if (params.get("room")) $("room").value = params.get("room");
if (params.get("name") && params.get("room")) {
  if (socket.connected) join(params.get("name"), params.get("room"));
  else socket.once("connect", () => join(params.get("name"), params.get("room")));
}
