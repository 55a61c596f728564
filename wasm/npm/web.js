// Browser / web worker / edge-worker entry of libneedle (ES module, wasm-bindgen `web` target).
// Picks the SIMD128 build when the runtime supports it, else the scalar build.
import { defineEngine } from "./core.js";

/** The engine's limits, stop reasons and result fields (needle::MAX_QUERY_BYTES, …; see index.d.ts). */
export { DEFAULT_MAX_NEW_TOKENS, MAX_QUERY_BYTES, MAX_TOOLS_BYTES, RESULT_FIELDS, STOP_REASONS } from "./core.js";

// A minimal module whose single function returns a v128 constant: it validates only
// where WebAssembly SIMD (simd128) is supported.
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, //       type: () -> v128
  0x03, 0x02, 0x01, 0x00, //                         function 0 has type 0
  0x0a, 0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, //       code: v128.const
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0x0b, //                                           end
]);

/** Whether this runtime supports WebAssembly SIMD (simd128). */
export function simdSupported() {
  try {
    return WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

let pending = null; // Promise<{ raw, simd }>

/**
 * Initialises the wasm module (called by `Engine.load` on first use). Call it yourself to
 * choose the build (`simd: false` forces the scalar one) or to pass the `.wasm` yourself
 * (`module`: a `WebAssembly.Module`, `Response`, `URL`, path or bytes — e.g. in Cloudflare
 * Workers, `import wasm from "libneedle/simd.wasm"`). Later calls return the first result.
 */
export async function init(options = {}) {
  const { simd } = await start(options);
  return { simd };
}

function start(options = {}) {
  if (!pending) {
    const simd = options.simd ?? simdSupported();
    pending = (async () => {
      const m = simd
        ? await import("./gen/web-simd/libneedle_wasm.js")
        : await import("./gen/web-scalar/libneedle_wasm.js");
      await m.default(options.module === undefined ? undefined : { module_or_path: options.module });
      return { raw: m, simd };
    })();
    pending.catch(() => {
      pending = null;
    });
  }
  return pending;
}

/** The libneedle engine (see index.d.ts). */
export const Engine = defineEngine(
  async () => (await start()).raw,
  async () => {
    // Fetched from next to this module, like the .wasm files.
    const get = async (name) => {
      const url = new URL(`./gen/demo/${name}`, import.meta.url);
      const r = await fetch(url);
      if (!r.ok) throw new Error(`cannot fetch the demo model file ${url}: HTTP ${r.status}`);
      return r;
    };
    const [w, v] = await Promise.all([get("needle.safetensors"), get("vocab.txt")]);
    return { weights: new Uint8Array(await w.arrayBuffer()), vocab: await v.text() };
  },
);

/** The version of the libneedle engine inside the wasm module. */
export async function version() {
  return (await start()).raw.version();
}
