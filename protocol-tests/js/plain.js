// Binary-safe JSON for the fixtures' stdin/stdout lines: Buffers (and ArrayBuffers) travel as
// {"$bin": hex}, as the Rust side of the tests writes and reads them.
"use strict";

/** A value with every Buffer / ArrayBuffer replaced by {"$bin": hex}. */
function toPlain(v) {
  if (Buffer.isBuffer(v)) return { $bin: v.toString("hex") };
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString("hex") };
  if (Array.isArray(v)) return v.map(toPlain);
  if (v && typeof v === "object") {
    const out = {};
    for (const k of Object.keys(v)) out[k] = toPlain(v[k]);
    return out;
  }
  return v;
}

/** The inverse of toPlain: every {"$bin": hex} becomes a Buffer. */
function fromPlain(v) {
  if (Array.isArray(v)) return v.map(fromPlain);
  if (v && typeof v === "object") {
    if (typeof v.$bin === "string") return Buffer.from(v.$bin, "hex");
    const out = {};
    for (const k of Object.keys(v)) out[k] = fromPlain(v[k]);
    return out;
  }
  return v;
}

module.exports = { toPlain, fromPlain };
