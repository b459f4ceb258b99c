// The Admin UI (the built page of the npm `@socket.io/admin-ui` 0.5.1, served by the chat demo
// at /admin/) in headless Chromium, pointed at the chat server: alice joins room "lobby" on the
// chat page; the Admin UI must list her socket, the room and the server, then disconnect her
// socket with its own button (see `cdp-browser.js` for the driver).
//
// Usage: node admin-ui-browser-test.js URL [SCREENSHOT.png]
// Prints one JSON line {"ok": true, ...observations} or {"ok": false, "error": "..."}.
"use strict";
const fs = require("fs");
const os = require("os");
const browserTest = require("./cdp-browser");

const url = process.argv[2];
const screenshot = process.argv[3];

const ADMIN_STATE = `{hash: location.hash, text: document.body && document.body.innerText.slice(0, 3000)}`;
const textIncludes = (s) => `document.body && document.body.innerText.includes(${JSON.stringify(s)})`;

(async () => {
  const endpoint = await browserTest.launch();
  const client = await browserTest.cdp(endpoint);

  const alice = await browserTest.openPage(client, `${url}/?name=alice&room=lobby`);
  await alice.waitFor(`document.getElementById("status").textContent === "connected"`, "alice connected");
  await alice.waitFor(`document.querySelectorAll("#users li").length === 1`, "alice in lobby");
  const aliceId = await alice.evaluate(`socket.id`);

  // The UI connects at load to the server saved in its local storage (its own connection form
  // writes the same keys).
  const admin = await browserTest.openPage(client, `${url}/admin/`, ADMIN_STATE);
  await admin.evaluate(`(() => {
    localStorage.setItem("server_url", ${JSON.stringify(url)});
    localStorage.setItem("namespace", "/admin");
    localStorage.setItem("path", "/socket.io");
    localStorage.setItem("ws_only", "false");
    localStorage.setItem("parser", "default");
    location.hash = "#/sockets/";
    // After this evaluation has answered: a reload under it would lose the answer.
    setTimeout(() => location.reload(), 0);
    return true;
  })()`);

  // Sockets page: alice's socket, on namespace "/".
  await admin.waitFor(textIncludes(aliceId), "alice's socket in the sockets list", 15000);
  const socketRow = await admin.evaluate(
    `[...document.querySelectorAll("tr")].map(tr => tr.innerText).find(t => t.includes(${JSON.stringify(aliceId)}))`,
  );

  // Rooms page: "lobby".
  await admin.evaluate(`(() => { location.hash = "#/rooms/"; return true; })()`);
  await admin.waitFor(
    `[...document.querySelectorAll("tr")].some(tr => tr.innerText.includes("lobby"))`,
    "room lobby in the rooms list",
  );
  const roomRow = await admin.evaluate(
    `[...document.querySelectorAll("tr")].map(tr => tr.innerText).find(t => t.includes("lobby"))`,
  );

  // Servers page: this host, from server_stats.
  await admin.evaluate(`(() => { location.hash = "#/servers/"; return true; })()`);
  await admin.waitFor(textIncludes(os.hostname()), "this server in the servers list");

  // Back to the sockets: the row's disconnect button.
  await admin.evaluate(`(() => { location.hash = "#/sockets/"; return true; })()`);
  await admin.waitFor(textIncludes(aliceId), "alice's socket listed again");
  if (screenshot) {
    const { data } = await client.send("Page.captureScreenshot", { format: "png" }, admin.sessionId);
    fs.writeFileSync(screenshot, Buffer.from(data, "base64"));
  }
  const clicked = await admin.evaluate(`(() => {
    const row = [...document.querySelectorAll("tr")].find(tr => tr.innerText.includes(${JSON.stringify(aliceId)}));
    const button = row && row.querySelector("button");
    if (!button || button.disabled) return false;
    button.click();
    return true;
  })()`);
  if (!clicked) throw new Error("no enabled disconnect button in alice's row");
  await alice.waitFor(`document.getElementById("status").textContent === "disconnected"`, "alice disconnected by the Admin UI");
  // The click also opens the row's details page (which shows the socket as disconnected): the
  // list itself must no longer have it.
  await admin.waitFor(textIncludes("DISCONNECTED") + " || location.hash === '#/sockets/'", "the UI saw the disconnection");
  await admin.evaluate(`(() => { location.hash = "#/sockets/"; return true; })()`);
  await admin.waitFor(
    `location.hash === "#/sockets/" && document.querySelectorAll("tr").length > 0 && !(${textIncludes(aliceId)})`,
    "alice's socket gone from the sockets list",
  );

  browserTest.finish({ ok: true, aliceId, socketRow, roomRow, hostname: os.hostname() });
})().catch((e) => browserTest.finish({ ok: false, error: String(e && e.stack ? e.stack : e) }));
