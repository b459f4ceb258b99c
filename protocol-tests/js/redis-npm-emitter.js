// The npm @socket.io/redis-emitter 5.1 driven by JSON-line commands on stdin.
//
//   node redis-npm-emitter.js <redis-url>
//
// Prints `listening 0` once connected; each command {"id","op",...} is answered {"reply":id}:
//   emit {nsp?, rooms?, except?, event, args, volatile?}   (args: Buffers as {"$bin": hex})
//   join/leave {nsp?, rooms?, except?, room}; disconnect {nsp?, rooms?, except?, close}
//   sse {nsp?, event, args}
"use strict";
const { Emitter } = require("@socket.io/redis-emitter");
const { createClient } = require("redis");
const readline = require("readline");

const { fromPlain } = require("./plain");
async function main() {
  const client = createClient({ url: process.argv[2] });
  client.on("error", () => {});
  await client.connect();
  const root = new Emitter(client);
  const target = (c) => {
    let op = c.nsp && c.nsp !== "/" ? root.of(c.nsp) : root;
    for (const r of c.rooms || []) op = op.to(r);
    for (const r of c.except || []) op = op.except(r);
    if (c.volatile) op = op.volatile;
    return op;
  };
  const ops = {
    emit: (c) => target(c).emit(c.event, ...fromPlain(c.args || [])),
    join: (c) => target(c).socketsJoin(c.room),
    leave: (c) => target(c).socketsLeave(c.room),
    disconnect: (c) => target(c).disconnectSockets(!!c.close),
    sse: (c) => (c.nsp && c.nsp !== "/" ? root.of(c.nsp) : root).serverSideEmit(c.event, ...fromPlain(c.args || [])),
  };
  readline.createInterface({ input: process.stdin }).on("line", async (line) => {
    if (!line.trim()) return;
    const c = JSON.parse(line);
    try {
      await ops[c.op](c);
      // The emitter does not wait for the PUBLISH reply; a PING on the same connection does.
      await client.ping();
      console.log(JSON.stringify({ reply: c.id }));
    } catch (e) {
      console.log(JSON.stringify({ reply: c.id, error: String(e) }));
    }
  });
  process.stdin.on("end", () => process.exit(0));
  console.log("listening 0");
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
