// Headless Chromium driven through the DevTools protocol (CDP over the `ws` package), shared by
// the browser tests (`chat-browser-test.js`, `admin-ui-browser-test.js`).
//
// Chromium (Debian package `chromium`, or $CHROMIUM) runs in its own process group with a
// throw-away profile and is killed at the end, whatever happens. A test prints one JSON line
// through `finish`: {"ok": true, ...observations} or {"ok": false, "error": "..."}.
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const WebSocket = require("ws");

const profile = fs.mkdtempSync(path.join(os.tmpdir(), "browser-test-"));
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

async function openPage(client, pageUrl, debugState = "document.body && document.body.innerText.slice(0, 2000)") {
  const { targetId } = await client.send("Target.createTarget", { url: pageUrl });
  const { sessionId } = await client.send("Target.attachToTarget", { targetId, flatten: true });
  const evaluate = async (expression) => {
    let r;
    // Right after createTarget, or across a reload, the page may still be navigating: retry
    // while its context is replaced (an evaluation in flight then fails with "Inspected target
    // navigated or closed" or "Execution context was destroyed").
    for (let attempt = 0; ; attempt++) {
      try {
        r = await client.send(
          "Runtime.evaluate",
          { expression, awaitPromise: true, returnByValue: true },
          sessionId,
        );
        break;
      } catch (e) {
        if (attempt > 50 || !/context|navigated/i.test(e.message)) throw e;
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
      const state = await evaluate(`JSON.stringify(${debugState})`).catch((e) => e.message);
      throw new Error(`${pageUrl}: ${what} not seen within ${ms} ms; page: ${state}`);
    }
    return v;
  };
  // Until the navigation commits, the target shows its initial about:blank document, where
  // scripts run with an opaque origin (no localStorage): wait for the page asked for.
  await waitFor(`location.href !== "about:blank" && document.readyState === "complete"`, "the page loaded", 15000);
  return { evaluate, waitFor, client, sessionId };
}


module.exports = { launch, cdp, openPage, finish };
