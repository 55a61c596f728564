// Node.js entry of libneedle (wasm-bindgen `nodejs` target, SIMD128 build: every Node.js
// release that runs this package supports WebAssembly SIMD).
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { defineEngine } from "./core.js";

/** The engine's limits, stop reasons and result fields (needle::MAX_QUERY_BYTES, …; see index.d.ts). */
export { DEFAULT_MAX_NEW_TOKENS, MAX_QUERY_BYTES, MAX_TOOLS_BYTES, RESULT_FIELDS, STOP_REASONS } from "./core.js";

const require = createRequire(import.meta.url);
const raw = require("./gen/node/libneedle_wasm.js");

/** The libneedle engine (see index.d.ts). */
export const Engine = defineEngine(
  async () => raw,
  async () => {
    const [weights, vocab] = await Promise.all([
      readFile(new URL("./gen/demo/needle.safetensors", import.meta.url)),
      readFile(new URL("./gen/demo/vocab.txt", import.meta.url), "utf8"),
    ]);
    return { weights, vocab };
  },
);

/** Present for symmetry with the browser entry: the Node.js build is ready at import. */
export async function init() {
  return { simd: true };
}

/** Always true in Node.js (the SIMD build is used). */
export function simdSupported() {
  return true;
}

/** The version of the libneedle engine inside the wasm module. */
export async function version() {
  return raw.version();
}
