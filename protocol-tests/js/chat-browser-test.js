// Drives the chat demo in headless Chromium through the DevTools protocol (CDP over the `ws`
// package): two pages join room "lobby" as alice and bob, see each other in the user list and
// exchange messages; then bob moves to room "other" and alice's next message stays in "lobby".
//
// Usage: node chat-browser-test.js URL
// Prints one JSON line {"ok": true, ...observations} or {"ok": false, "error": "..."}.
// Chromium (Debian package `chromium`, or $CHROMIUM) runs in its own process group with a
// throw-away profile and is killed at the end, whatever happens.
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const WebSocket = require("ws");

const url = process.argv[2];
const profile = fs.mkdtempSync(path.join(os.tmpdir(), "chat-browser-test-"));
let browser = null;

function cleanup() {
  if (browser && browser.exitCode === null) {
    try {
      process.kill(-browser.pid, "SIGKILL");
    } catch (_) {
      /* already gone */
    }
  }
  fs.rmSync(profile, { recursive: true, force: true });
}
function finish(result) {
  console.log(JSON.stringify(result));
  cleanup();
  process.exit(result.ok ? 0 : 1);
}
setTimeout(() => finish({ ok: false, error: "timed out after 40 s" }), 40000).unref();

function launch() {
  const exe = process.env.CHROMIUM || "chromium";
  browser = spawn(
    exe,
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-extensions",
      "--no-first-run",
      "--no-default-browser-check",
      `--user-data-dir=${profile}`,
      "--remote-debugging-port=0",
      "about:blank",
    ],
    { detached: true, stdio: ["ignore", "ignore", "pipe"] },
  );
  return new Promise((resolve, reject) => {
    let err = "";
    browser.on("error", (e) => reject(new Error(`cannot start ${exe}: ${e.message}`)));
    browser.on("exit", (code) => reject(new Error(`${exe} exited (${code}): ${err.slice(-2000)}`)));
    browser.stderr.on("data", (chunk) => {
      err += chunk;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]);
    });
  });
}

// A minimal CDP client: one WebSocket to the browser, flattened sessions for the pages.
function cdp(endpoint) {
  const ws = new WebSocket(endpoint, { perMessageDeflate: false });
  let next = 1;
  const pending = new Map();
  ws.on("message", (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.id && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) reject(new Error(JSON.stringify(msg.error)));
      else resolve(msg.result);
    }
  });
  const send = (method, params = {}, sessionId) =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params, sessionId }));
    });
  return new Promise((resolve, reject) => {
    ws.on("open", () => resolve({ send, ws }));
    ws.on("error", reject);
  });
}

async function openPage(client, pageUrl) {
  const { targetId } = await client.send("Target.createTarget", { url: pageUrl });
  const { sessionId } = await client.send("Target.attachToTarget", { targetId, flatten: true });
  const evaluate = async (expression) => {
    let r;
    // Right after createTarget the page may still be navigating: retry while its context is replaced.
    for (let attempt = 0; ; attempt++) {
      try {
        r = await client.send(
          "Runtime.evaluate",
          { expression, awaitPromise: true, returnByValue: true },
          sessionId,
        );
        break;
      } catch (e) {
        if (attempt > 50 || !/context/i.test(e.message)) throw e;
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    if (r.exceptionDetails) throw new Error(`${expression}: ${JSON.stringify(r.exceptionDetails)}`);
    return r.result.value;
  };
  // Waits (in the page) until `expr` is truthy; returns its value or throws after `ms`.
  const waitFor = async (expr, what, ms = 8000) => {
    const v = await evaluate(`new Promise((resolve) => {
      const t0 = Date.now();
      const check = () => {
        let v = null;
        try { v = (${expr}); } catch (_) {}
        if (v) resolve(v); else if (Date.now() - t0 > ${ms}) resolve(null); else setTimeout(check, 25);
      };
      check();
    })`);
    if (!v) {
      const state = await evaluate(`JSON.stringify({status: document.getElementById("status") && document.getElementById("status").textContent,
        users: [...document.querySelectorAll("#users li")].map(l => l.textContent),
        messages: [...document.querySelectorAll("#messages li")].map(l => l.textContent)})`).catch((e) => e.message);
      throw new Error(`${pageUrl}: ${what} not seen within ${ms} ms; page: ${state}`);
    }
    return v;
  };
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
  const endpoint = await launch();
  const client = await cdp(endpoint);
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
  finish({
    ok: true,
    aliceLines,
    bobLines,
    aliceUsers: await alice.users(),
    bobUsers: await bob.users(),
    escaped,
    transport,
  });
})().catch((e) => finish({ ok: false, error: String(e && e.stack ? e.stack : e) }));
