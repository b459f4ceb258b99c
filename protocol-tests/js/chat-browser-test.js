// Drives the chat demo in headless Chromium through the DevTools protocol (see `cdp-browser.js`):
// two pages join room "lobby" as alice and bob, see each other in the user list and exchange
// messages; then bob moves to room "other" and alice's next message stays in "lobby".
//
// Usage: node chat-browser-test.js URL
// Prints one JSON line {"ok": true, ...observations} or {"ok": false, "error": "..."}.
"use strict";
const browserTest = require("./cdp-browser");

const url = process.argv[2];

const CHAT_STATE = `{status: document.getElementById("status") && document.getElementById("status").textContent,
        users: [...document.querySelectorAll("#users li")].map(l => l.textContent),
        messages: [...document.querySelectorAll("#messages li")].map(l => l.textContent)}`;

async function openPage(client, pageUrl) {
  const { evaluate, waitFor } = await browserTest.openPage(client, pageUrl, CHAT_STATE);
  const say = (text) =>
    evaluate(`(() => {
      document.getElementById("message").value = ${JSON.stringify(text)};
      document.getElementById("send").requestSubmit();
      return true;
    })()`);
  const lines = () => evaluate(`[...document.querySelectorAll("#messages li")].map(l => l.textContent)`);
  const users = () => evaluate(`[...document.querySelectorAll("#users li")].map(l => l.textContent)`);
  return { evaluate, waitFor, say, lines, users };
}

const usersAre = (names) =>
  `JSON.stringify([...document.querySelectorAll("#users li")].map(l => l.textContent)) === ${JSON.stringify(JSON.stringify(names))}`;
const hasLine = (text) =>
  `[...document.querySelectorAll("#messages li")].some(l => l.textContent === ${JSON.stringify(text)})`;

(async () => {
  const endpoint = await browserTest.launch();
  const client = await browserTest.cdp(endpoint);
  const alice = await openPage(client, `${url}/?name=alice&room=lobby`);
  await alice.waitFor(`document.getElementById("status").textContent === "connected"`, "alice connected");
  await alice.waitFor(usersAre(["alice"]), "alice alone in lobby");
  const bob = await openPage(client, `${url}/?name=bob&room=lobby`);
  await bob.waitFor(usersAre(["alice", "bob"]), "bob sees both users");
  await alice.waitFor(usersAre(["alice", "bob"]), "alice sees bob join");
  await alice.waitFor(hasLine("bob joined"), "alice sees 'bob joined'");

  await alice.say("hello bob");
  await bob.waitFor(hasLine("alicehello bob"), "bob receives alice's message");
  await alice.waitFor(hasLine("alicehello bob"), "alice sees her own message");
  await bob.say("hi alice <b>not bold</b>");
  await alice.waitFor(hasLine("bobhi alice <b>not bold</b>"), "alice receives bob's reply");
  const escaped = await alice.evaluate(`document.querySelectorAll("#messages b").length === 0`);

  // Bob moves to another room: the lists update and lobby messages no longer reach him.
  await bob.evaluate(`(() => {
    document.getElementById("room").value = "other";
    document.getElementById("join").requestSubmit();
    return true;
  })()`);
  await bob.waitFor(usersAre(["bob"]), "bob alone in 'other'");
  await alice.waitFor(usersAre(["alice"]), "alice sees bob leave");
  await alice.waitFor(hasLine("bob left"), "alice sees 'bob left'");
  await alice.waitFor(
    `[...document.querySelectorAll("#rooms li")].map(l => l.textContent).join(",") === "lobby (1),other (1)"`,
    "room list with both rooms",
  );
  await alice.say("only lobby");
  await alice.waitFor(hasLine("aliceonly lobby"), "alice sees her lobby message");
  await bob.say("only other");
  await bob.waitFor(hasLine("bobonly other"), "bob sees his own message");
  // Everything that was sent has been delivered by now (each sender saw its own message).
  await new Promise((r) => setTimeout(r, 200));
  // The page uses the client's defaults: polling first, then the upgrade to WebSocket.
  const transport = await alice.waitFor(
    `socket.io.engine.transport.name === "websocket" && socket.io.engine.transport.name`,
    "alice's connection upgraded to websocket",
  );
  const aliceLines = await alice.lines();
  const bobLines = await bob.lines();
  browserTest.finish({
    ok: true,
    aliceLines,
    bobLines,
    aliceUsers: await alice.users(),
    bobUsers: await bob.users(),
    escaped,
    transport,
  });
})().catch((e) => browserTest.finish({ ok: false, error: String(e && e.stack ? e.stack : e) }));
